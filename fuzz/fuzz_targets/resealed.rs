//! Fuzzing past the checksum: the input is a tape of choices that picks a
//! valid model file (the newest golden files, one of every kind) and makes
//! structural changes to it, as `oxlearn_format::forge::mutate` does; the
//! result is re-sealed (array digests and header checksum recomputed) and
//! opened eagerly and lazily. Every check past the checksum is reached, so a
//! panic, an overflow or an out-of-bounds access in a validator is found.
//! The same mutations run 10⁴ times per CI run in
//! `crates/oxlearn-format/tests/forged_files.rs`; this target is for deeper
//! local runs: `cargo +nightly fuzz run resealed`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxlearn_format::forge::{mutate, seal, split, Parts, Rng};
use oxlearn_format::{open_checked, parse_file, Runtime};
use std::sync::OnceLock;

fn golden() -> &'static [Parts] {
    static FILES: OnceLock<Vec<Parts>> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../python/oxlearn/tests/golden"
        );
        let newest = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .max()
            .unwrap_or_default();
        let mut paths: Vec<_> = std::fs::read_dir(newest)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "oxl"))
            .collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| split(&std::fs::read(p).ok()?))
            .collect()
    })
}

fuzz_target!(|tape: &[u8]| {
    let files = golden();
    let (Some(&which), Some(&n)) = (tape.first(), tape.get(1)) else {
        return;
    };
    let Some(original) = files.get(usize::from(which) % files.len().max(1)) else {
        return;
    };
    let mut parts = original.clone();
    let mut rng = Rng::from_tape(&tape[2..]);
    for _ in 0..1 + n % 4 {
        mutate(&mut parts, &mut rng);
    }
    let file = seal(&parts);
    let Ok(f) = parse_file(&file) else { return };
    let views = f.arrays();
    let rt = Runtime::native();
    let eager = open_checked(f.header_json, &views, &rt, false);
    let lazy = open_checked(f.header_json, &views, &rt, true).and_then(|(h, _)| {
        h.verify_digests(&views)?;
        h.verify_structure(&views)
    });
    // Deferring checks must not change what is refused.
    assert_eq!(eager.is_ok(), lazy.is_ok(), "{eager:?} vs {lazy:?}");
});
