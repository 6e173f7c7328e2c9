//! Times k-means' passes on n×p data with k clusters:
//! `cargo run --release -p oxlearn-core --example kmeans_timing -- 200000 20 10`.
//! `ONLY_PREDICT=1` loops over predict only, `ONLY_PP=1` over fits with
//! k-means++ (for `perf record`); `RAYON_NUM_THREADS` sets the threads.
use faer::MatRef;
use oxlearn_core::cluster::{fit_kmeans, predict_kmeans, KMeansInit, KMeansParams};
use std::time::Instant;

/// Minimum over runs: on a shared machine the minimum is the least disturbed.
fn median(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[0]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(200_000);
    let p = args.get(1).copied().unwrap_or(20);
    let k = args.get(2).copied().unwrap_or(10);
    let mut s = 1u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres: Vec<f64> = (0..k * p).map(|_| next() * 20.0).collect();
    let x: Vec<f64> = (0..n * p)
        .map(|e| centres[((e / p) % k) * p + e % p] + next())
        .collect();
    let xm = MatRef::from_row_major_slice(&x, n, p);
    let trials = 2 + (k as f64).ln() as usize;
    let draws: Vec<f64> = (0..1 + (k - 1) * trials).map(|_| next()).collect();
    let params = |max_iter| KMeansParams {
        n_clusters: k,
        max_iter,
        tol: 0.0,
        n_local_trials: trials,
        chunk_rows: 0,
    };
    let init = KMeansInit::Centers(x[..k * p].to_vec());
    let cm = MatRef::from_row_major_slice(&centres, k, p);
    let mut labels = vec![0i32; n];
    let t_pred = median(|| predict_kmeans(xm, cm, 0, &mut labels).unwrap_or(()));
    if std::env::var_os("ONLY_PREDICT").is_some() {
        for _ in 0..(10_000_000 / n).max(50) {
            predict_kmeans(xm, cm, 0, &mut labels).unwrap_or(());
        }
        let t_sum = median(|| {
            let mut acc = [0.0f64; 8];
            for c in x.chunks_exact(8) {
                for l in 0..8 {
                    acc[l] += c[l];
                }
            }
            std::hint::black_box(acc);
        });
        println!("predict {t_pred:.2} ms; streaming sum of X {t_sum:.2} ms");
        return;
    }
    let t1 = median(|| {
        let _ = fit_kmeans(xm, None::<&[f64]>, std::slice::from_ref(&init), &params(1));
    });
    let t5 = median(|| {
        let _ = fit_kmeans(xm, None::<&[f64]>, std::slice::from_ref(&init), &params(5));
    });
    let pp = KMeansInit::PlusPlus(draws);
    if std::env::var_os("ONLY_PP").is_some() {
        for _ in 0..20 {
            let _ = fit_kmeans(xm, None::<&[f64]>, std::slice::from_ref(&pp), &params(1));
        }
        return;
    }
    let tpp = median(|| {
        let _ = fit_kmeans(xm, None::<&[f64]>, std::slice::from_ref(&pp), &params(1));
    });
    println!(
        "k-means {n}x{p}, k={k}: predict {t_pred:.2} ms; per Lloyd iteration {:.2} ms; \
              k-means++ {:.2} ms; stats + 1 iteration + relabel {t1:.2} ms",
        (t5 - t1) / 4.0,
        tpp - t1
    );
}
