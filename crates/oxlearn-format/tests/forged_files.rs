//! Fuzzing past the checksum: valid files of every kind (the golden files)
//! are changed structurally, re-sealed as a forger would and opened, eagerly
//! and as a memory-mapped load does (layout and header first, the digests
//! and element-wise checks after). Nothing may panic, and no file may make
//! the reader allocate more than a bound proportional to its size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oxlearn_format::forge::{mutate, seal, split, Parts, Rng};
use oxlearn_format::{open_checked, parse_file, schema, Runtime};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Counts the bytes live on the heap and their peak (this test binary runs
/// one test, so the count is the reader's).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The newest golden files: a valid model of every kind.
fn golden() -> &'static [(String, Parts)] {
    static FILES: OnceLock<Vec<(String, Parts)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/oxlearn/tests/golden");
        let newest = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .max()
            .unwrap();
        let mut files: Vec<(String, Parts)> = std::fs::read_dir(newest)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "oxl"))
            .map(|p| {
                let parts = split(&std::fs::read(&p).unwrap()).expect("golden files are valid");
                (p.file_name().unwrap().to_string_lossy().into_owned(), parts)
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    })
}

/// Opens `file` every way a reader does; returns whether it was accepted.
fn open_every_way(file: &[u8]) -> bool {
    let rt = Runtime::native();
    let Ok(f) = parse_file(file) else {
        return false;
    };
    let views = f.arrays();
    let eager = open_checked(f.header_json, &views, &rt, false);
    let lazy = open_checked(f.header_json, &views, &rt, true).and_then(|(h, _)| {
        h.verify_digests(&views)?;
        h.verify_structure(&views)?;
        Ok(())
    });
    // The lazy path defers checks; together they refuse exactly the same.
    assert_eq!(eager.is_ok(), lazy.is_ok(), "{eager:?} vs {lazy:?}");
    eager.is_ok()
}

/// One test in this binary, so that the heap count is the reader's alone:
/// every kind has a golden file, then forged variants of them are opened.
#[test]
fn forged_files_of_every_kind_never_panic_nor_balloon() {
    let files = golden();
    // Kinds of the models and of their components (pipeline steps).
    type Object = serde_json::Map<String, serde_json::Value>;
    fn collect<'a>(v: &'a Object, out: &mut std::collections::BTreeSet<&'a str>) {
        out.insert(v["kind"].as_str().unwrap());
        let parts = v.get("parts").and_then(|p| p.as_array());
        for part in parts.into_iter().flatten() {
            collect(part.as_object().unwrap(), out);
        }
    }
    let mut kinds = std::collections::BTreeSet::new();
    for (_, p) in files {
        collect(&p.header, &mut kinds);
    }
    for k in schema::known_kinds() {
        assert!(kinds.contains(k), "no golden file of kind {k}");
    }
    let config = ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (0usize..1000, any::<u64>(), 1usize..4);
    let accepted = AtomicUsize::new(0);
    runner
        .run(&strategy, |(which, seed, n)| {
            let (_, original) = &files[which % files.len()];
            let mut parts = original.clone();
            let mut rng = Rng::new(seed);
            for _ in 0..n {
                mutate(&mut parts, &mut rng);
            }
            let file = seal(&parts);
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            if open_every_way(&file) {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            let peak = PEAK.load(Ordering::Relaxed) - base;
            // The header is parsed a few times over (serde values,
            // re-serialised sections): a small multiple of the file, plus
            // the decode budget.
            prop_assert!(
                peak <= 64 * file.len() + (4 << 20),
                "{peak} bytes for a {} byte file",
                file.len()
            );
            Ok(())
        })
        .unwrap();
    // Both outcomes are reached: forgeries that a structural check cannot
    // tell from a model (changed floats) and forgeries it refuses.
    let accepted = accepted.into_inner();
    eprintln!("{accepted} of 10000 forged files accepted");
    assert!((100..9_900).contains(&accepted), "{accepted} accepted");
}
