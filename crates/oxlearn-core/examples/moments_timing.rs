//! Times the chunked moments (the fit's hot loop) on n×p data:
//! `cargo run --release -p oxlearn-core --example moments_timing -- 500000 50`.
use faer::MatRef;
use oxlearn_core::linalg::Moments;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, p) = (
        args.first().copied().unwrap_or(500_000),
        args.get(1).copied().unwrap_or(50),
    );
    let mut s = 1u64;
    let x: Vec<f64> = (0..n * p)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    let y: Vec<f64> = x.iter().step_by(p).copied().collect();
    let xm = MatRef::from_row_major_slice(&x, n, p);
    let ym = MatRef::from_row_major_slice(&y, n, 1);
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let m = Moments::from_data(xm, ym, None, true, 0);
        times.push(t.elapsed().as_secs_f64());
        assert!(m.is_ok());
    }
    times.sort_by(f64::total_cmp);
    println!("moments {n}x{p}: median {:.2} ms", times[3] * 1e3);
}
