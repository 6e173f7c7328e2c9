//! Times exact k-nearest search on the benchmark's workloads:
//! `cargo run --release -p oxlearn-core --example knn_timing -- cls20 auto 5`.
//!
//! The data are raw little-endian `f64` files in `$KNN_DATA` (default
//! `/tmp/knn`), written by scikit-learn as bench/bench.py generates them:
//!
//! ```python
//! for d in (20, 8):
//!     X, _ = make_classification(110000, d, random_state=0)
//!     X[:100000].tofile(f"cls{d}_X.bin"); X[100000:].tofile(f"cls{d}_Q.bin")
//! make_blobs(20000, 10, random_state=0)[0].tofile("blobs_X.bin")
//! ```
//!
//! Workloads: `cls20` / `cls8` (5-NN of 10000 queries against 100000
//! points), `blobs` (LocalOutlierFactor(20)'s 21-NN self-query of 20000×10).
//! Algorithms: `auto`, `kd`, `brute`. `RAYON_NUM_THREADS` sets the threads;
//! `LEAF` the leaf size.
use faer::MatRef;
use oxlearn_core::neighbors::{Algorithm, IndexParams, Metric, NeighborIndex};
use std::time::Instant;

mod common;

fn load(path: &str, d: usize) -> (Vec<f64>, usize) {
    let v = common::load(path);
    let n = v.len() / d;
    (v, n)
}

/// CPU time of the process, in ms.
fn cpu_ms() -> f64 {
    common::cpu_seconds() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let work = args.first().map(String::as_str).unwrap_or("cls20");
    let algorithm = match args.get(1).map(String::as_str).unwrap_or("auto") {
        "kd" => Algorithm::KdTree,
        "brute" => Algorithm::Brute,
        _ => Algorithm::Auto,
    };
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let leaf_size = std::env::var("LEAF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dir = std::env::var("KNN_DATA").unwrap_or_else(|_| "/tmp/knn".into());
    let (x, n, q, nq, d, k) = match work {
        "cls20" | "cls8" => {
            let d = if work == "cls20" { 20 } else { 8 };
            let (x, n) = load(&format!("{dir}/cls{d}_X.bin"), d);
            let (q, nq) = load(&format!("{dir}/cls{d}_Q.bin"), d);
            (x, n, q, nq, d, 5)
        }
        _ => {
            let (x, n) = load(&format!("{dir}/blobs_X.bin"), 10);
            (x.clone(), n, x, n, 10, 21)
        }
    };
    let xm = MatRef::from_row_major_slice(&x, n, d);
    let qm = MatRef::from_row_major_slice(&q, nq, d);
    let params = IndexParams {
        algorithm,
        leaf_size,
    };
    let t = Instant::now();
    let index = NeighborIndex::build(xm, Metric::Euclidean, params)
        .unwrap_or_else(|e| panic!("build: {e}"));
    let build = t.elapsed().as_secs_f64() * 1e3;
    let mut times = vec![];
    let cpu0 = cpu_ms();
    let mut check = 0u64;
    for _ in 0..reps {
        let t = Instant::now();
        let r = index
            .kneighbors(qm, k, 0)
            .unwrap_or_else(|e| panic!("kneighbors: {e}"));
        times.push(t.elapsed().as_secs_f64() * 1e3);
        check = r.indices.iter().fold(0u64, |a, &i| {
            a.wrapping_mul(1_000_003).wrapping_add(i as u64)
        });
    }
    let cpu = (cpu_ms() - cpu0) / reps as f64;
    times.sort_by(f64::total_cmp);
    println!(
        "{work} tree={} build {build:.1} ms, query min {:.1} median {:.1} ms, cpu {cpu:.0} ms/query set (checksum {check:x})",
        index.uses_tree(),
        times[0],
        times[times.len() / 2]
    );
}
