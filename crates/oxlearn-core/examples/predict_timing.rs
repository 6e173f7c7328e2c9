//! Times the linear prediction kernel on n×p row-major data with t targets:
//! `cargo run --release -p oxlearn-core --example predict_timing -- 10000 20 1 [threads]`.
use faer::MatRef;
use oxlearn_core::linear_model::predict_linear;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, p, t) = (
        args.first().copied().unwrap_or(10_000),
        args.get(1).copied().unwrap_or(20),
        args.get(2).copied().unwrap_or(1),
    );
    let threads = args.get(3).copied().unwrap_or(0);
    let x: Vec<f64> = (0..n * p)
        .map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0)
        .collect();
    let c: Vec<f64> = (0..t * p).map(|i| i as f64 * 0.01).collect();
    let b = vec![0.5; t];
    let mut out = vec![0.0; n * t];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut times = Vec::new();
    for _ in 0..201 {
        let s = Instant::now();
        let r = pool.install(|| {
            predict_linear(
                MatRef::from_row_major_slice(&x, n, p),
                MatRef::from_row_major_slice(&c, t, p),
                &b,
                &mut out,
            )
        });
        times.push(s.elapsed().as_secs_f64());
        assert!(r.is_ok());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "predict_linear {n}x{p}, {t} target(s): median {:.1} us",
        times[100] * 1e6
    );
}
