//! Times SVR fit and predict (rbf, scikit-learn's defaults: C = 1,
//! epsilon = 0.1, tol = 1e-3, gamma = 'scale', 200 MB cache) on raw
//! little-endian float64 files, e.g. bench.py's `make_regression(10000, 20,
//! noise=10, random_state=0)` written with `X.tofile(...)`, `y.tofile(...)`:
//! `cargo run --release -p oxlearn-core --example svr_timing -- X.bin y.bin 20`.
//! Runs in oxlearn's pool, as the bindings do (`NT=1` for one thread).
//! `ONLY=fit` or `ONLY=predict` times one of them (for `perf record`).
use oxlearn_core::svm::{fit, Kernel, SvmParams, SvmType};
use oxlearn_core::threads::run;
use std::error::Error;
use std::time::Instant;

fn read(path: &str) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [xp, yp, dp] = &args[..] else {
        return Err("usage: svr_timing X.bin y.bin n_features".into());
    };
    let (x, y, d) = (read(xp)?, read(yp)?, dp.parse::<usize>()?);
    let n = y.len();
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
    let params = SvmParams {
        svm_type: SvmType::EpsilonSvr,
        kernel: Kernel::Rbf {
            gamma: 1.0 / (d as f64 * var),
        },
        c: 1.0,
        nu: 0.5,
        epsilon: 0.1,
        tol: 1e-3,
        shrinking: true,
        probability: false,
        cache_size_mb: 200.0,
        max_iter: -1,
        seed: 0,
    };
    let threads = std::env::var("NT").ok().and_then(|v| v.parse().ok());
    let only = std::env::var("ONLY").unwrap_or_default();
    let fits = if only == "predict" { 1 } else { 3 };
    let mut model = None;
    for _ in 0..fits {
        let t = Instant::now();
        let m = run(threads, usize::MAX, || fit(&x, n, d, &y, &[], &[], &params))?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "fit {s:.3} s, n_sv {}, n_iter {:?}",
            m.n_support[0], m.n_iter
        );
        model = Some(m);
    }
    if only == "fit" {
        return Ok(());
    }
    let m = model.ok_or("no fit")?;
    let r = m.model(&params, d);
    for _ in 0..3 {
        let t = Instant::now();
        let p = run(threads, usize::MAX, || r.predict(&x, n));
        println!(
            "predict {:.3} s, p[0] {:e}",
            t.elapsed().as_secs_f64(),
            p[0]
        );
    }
    Ok(())
}
