//! Times logistic regression fits (the loss/gradient passes) on n×p data:
//! `cargo run --release -p oxlearn-core --example logistic_timing -- 100000 20 [threads]`.
use faer::MatRef;
use oxlearn_core::linear_model::{fit_logistic, LogisticParams, LogisticSolver};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, p) = (
        args.first().copied().unwrap_or(100_000),
        args.get(1).copied().unwrap_or(20),
    );
    let threads = args.get(2).copied().unwrap_or(0);
    let mut s = 1u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let x: Vec<f64> = (0..n * p).map(|_| next()).collect();
    let y: Vec<u32> = (0..n)
        .map(|i| u32::from(x[i * p] + x[i * p + 1] + 0.5 * next() > 0.0))
        .collect();
    let xm = MatRef::from_row_major_slice(&x, n, p);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for (label, max_iter) in [("2 evaluations (max_iter=0)", 0), ("max_iter=200", 200)] {
        let params = LogisticParams {
            solver: LogisticSolver::Lbfgs,
            c: 1.0,
            fit_intercept: true,
            max_iter,
            tol: 1e-4,
            chunk_rows: 0,
        };
        let mut times = Vec::new();
        let mut iters = 0;
        for _ in 0..7 {
            let t = Instant::now();
            let fit = pool.install(|| fit_logistic(xm, &y, 2, None, None, &params));
            times.push(t.elapsed().as_secs_f64());
            iters = fit.map(|f| f.n_iter).unwrap_or(0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "logistic {n}x{p} {label}: median {:.2} ms ({iters} iterations)",
            times[3] * 1e3
        );
    }
}
