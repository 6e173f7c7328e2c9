//! Times t-SNE's Barnes–Hut fit on the benchmark's workload:
//! `cargo run --release -p oxlearn-core --example tsne_timing -- [max_iter] [reps]`.
//!
//! The data are raw little-endian `f64` files in `$TSNE_DATA` (default
//! `/tmp/tsne`), written as bench/bench.py generates them:
//!
//! ```python
//! X, _ = make_blobs(10000, 50, centers=10, random_state=0); X.tofile("X.bin")
//! Y = PCA(2, svd_solver="randomized", random_state=0).fit_transform(X)
//! (Y / np.std(Y[:, 0]) * 1e-4).tofile("init.bin")
//! ```
//!
//! Prints the affinity and optimisation times, the KL divergence and a hash
//! of the embedding's bits (to show a change keeps the result).
use faer::MatRef;
use oxlearn_core::manifold::{self as mf, Affinities, Gradient, TsneParams};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

mod common;

use common::{cpu_seconds, load};

fn main() -> Result<(), oxlearn_core::Error> {
    let dir = std::env::var("TSNE_DATA").unwrap_or_else(|_| "/tmp/tsne".into());
    let args: Vec<String> = std::env::args().collect();
    let max_iter: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let reps: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
    let x = load(&format!("{dir}/X.bin"));
    let init = load(&format!("{dir}/init.bin"));
    let (d, k) = (50, 2);
    let n = x.len() / d;
    let xv = MatRef::from_row_major_slice(&x, n, d);
    let tic = Instant::now();
    let nn = 91.min(n - 1);
    let (cols, sqd) = mf::knn_sqeuclidean(xv, nn)?;
    let (cond, _) = mf::conditional_probabilities(&sqd, n, nn, false, 30.0)?;
    let p = mf::joint_probabilities_nn(&cond, &cols, n, nn)?;
    println!("affinities {:.3} s", tic.elapsed().as_secs_f64());
    let params = TsneParams {
        n_components: k,
        early_exaggeration: 12.0,
        learning_rate: (n as f64 / 12.0 / 4.0).max(50.0),
        max_iter,
        exploration_iter: 250.min(max_iter),
        n_iter_check: 50,
        n_iter_without_progress: 300,
        min_grad_norm: 1e-7,
        gradient: Gradient::BarnesHut { angle: 0.5 },
    };
    for _ in 0..reps {
        let (tic, cpu) = (Instant::now(), cpu_seconds());
        let fit = mf::optimize(Affinities::Sparse(&p), &init, n, &params)?;
        let mut h = DefaultHasher::new();
        fit.embedding.iter().for_each(|v| v.to_bits().hash(&mut h));
        println!(
            "optimise {:.3} s (cpu {:.2} s)  kl {:.6}  n_iter {}  hash {:016x}",
            tic.elapsed().as_secs_f64(),
            cpu_seconds() - cpu,
            fit.kl_divergence,
            fit.n_iter,
            h.finish()
        );
    }
    Ok(())
}
