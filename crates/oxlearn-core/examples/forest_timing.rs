//! Times forest fit and predict on the benchmark's data, written by
//! `python -c` as raw little-endian files in `$FOREST_DATA` (default
//! `/tmp/fdata`): `xc.bin` (f64, 60000×20), `yc.bin` (u32), `xr.bin`, `yr.bin` (f64).
//! `cargo run --profile bench-release -p oxlearn-core --example forest_timing -- rfc 50 3`
//! (kind rfc|rfr|etc|etr, trees, repetitions). `ONLY=fit|predict` loops one
//! phase only (for `perf record`).
use faer::MatRef;
use oxlearn_core::ensemble::{fit_forest, predict_forest, Criterion, ForestParams, Targets};
use std::time::Instant;

/// CPU time of all the process's threads, in ms (on a shared machine this
/// moves far less than wall time).
fn cpu_ms() -> f64 {
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 / 1e6
}

fn read(path: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}").into())
}

fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("rfc", |s| s.as_str()).to_string();
    let n_trees: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let only = std::env::var("ONLY").unwrap_or_default();
    let dir = std::env::var("FOREST_DATA").unwrap_or_else(|_| "/tmp/fdata".into());
    let cls = kind.ends_with('c');
    let (p, n, nt) = (20usize, 50_000usize, 10_000usize);
    let x = f64s(&read(&format!(
        "{dir}/x{}.bin",
        if cls { "c" } else { "r" }
    ))?);
    let xm = MatRef::from_row_major_slice(&x[..n * p], n, p);
    let xt = MatRef::from_row_major_slice(&x[n * p..(n + nt) * p], nt, p);
    let yc: Vec<u32> = read(&format!("{dir}/yc.bin"))?
        .chunks_exact(4)
        .map(|c| {
            u32::from(c[0]) | u32::from(c[1]) << 8 | u32::from(c[2]) << 16 | u32::from(c[3]) << 24
        })
        .collect();
    let yr = f64s(&read(&format!("{dir}/yr.bin"))?);
    let params = ForestParams {
        criterion: if cls {
            Criterion::Gini
        } else {
            Criterion::SquaredError
        },
        max_depth: None,
        min_samples_split: 2,
        min_samples_leaf: 1,
        min_weight_fraction_leaf: 0.0,
        max_features: if cls { 4 } else { 20 },
        max_leaf_nodes: None,
        min_impurity_decrease: 0.0,
        bootstrap: kind.starts_with('r'),
        n_bootstrap: n,
        extra: kind.starts_with('e'),
        max_bins: 256,
        seeds: (0..n_trees as u64).map(|t| 17 + 7919 * t).collect(),
    };
    let targets = if cls {
        Targets::Classes {
            y: &yc[..n],
            n_classes: &[2],
        }
    } else {
        Targets::Values {
            y: &yr[..n],
            n_outputs: 1,
        }
    };
    let fit = || fit_forest(xm, targets, None, &params).map(|f| f.0);
    let mut forest = fit()?;
    if only != "predict" {
        let mut times = vec![];
        let c0 = cpu_ms();
        for _ in 0..reps {
            let t = Instant::now();
            forest = fit()?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_ms() - c0) / reps as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "{kind} fit: min {:.1} ms, median {:.1} ms, cpu {cpu:.1} ms; nodes {}",
            times[0],
            times[times.len() / 2],
            forest.feature.len()
        );
    }
    if only != "fit" {
        let view = forest.view();
        let mut times = vec![];
        let mut pred = vec![];
        let c0 = cpu_ms();
        let np = reps.max(3) * 3;
        for _ in 0..np {
            let t = Instant::now();
            pred = predict_forest(&view, xt)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_ms() - c0) / np as f64;
        times.sort_by(f64::total_cmp);
        let score = if cls {
            (0..nt)
                .filter(|&i| u32::from(pred[2 * i + 1] > pred[2 * i]) == yc[n + i])
                .count() as f64
                / nt as f64
        } else {
            let y = &yr[n..n + nt];
            let m = y.iter().sum::<f64>() / nt as f64;
            let ss: f64 = y.iter().map(|v| (v - m) * (v - m)).sum();
            let se: f64 = y.iter().zip(&pred).map(|(a, b)| (a - b) * (a - b)).sum();
            1.0 - se / ss
        };
        println!(
            "{kind} predict: min {:.1} ms, median {:.1} ms, cpu {cpu:.1} ms; score {score:.4}",
            times[0],
            times[times.len() / 2]
        );
    }
    Ok(())
}
