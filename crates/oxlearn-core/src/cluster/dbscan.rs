//! DBSCAN: density-based clustering with scikit-learn's exact semantics.
//!
//! The eps-neighbourhood of every point comes from exact radius search
//! ([`crate::neighbors`]); a point is core when the weight of its
//! neighbourhood (itself included) reaches `min_samples`; clusters are then
//! grown by the same depth-first search as scikit-learn's `dbscan_inner`,
//! seeded from unlabelled core points in index order, so labels are
//! numbered identically and each border point gets the label of the first
//! cluster (in that order) that reaches it.

use crate::linalg::ChunkPlan;
use crate::neighbors::{
    radius_neighbors_precomputed, IndexParams, Metric, NeighborIndex, Neighborhoods,
};
use crate::{Error, Real, Result};
use faer::MatRef;

/// Where distances come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distances {
    /// Between the rows of `X`, with this metric.
    Metric(Metric),
    /// `X` is the square matrix of distances.
    Precomputed,
}

/// DBSCAN's parameters.
#[derive(Debug, Clone, Copy)]
pub struct DbscanParams {
    /// Neighbourhood radius (inclusive), `> 0`.
    pub eps: f64,
    /// Weight a neighbourhood needs for its point to be core, `>= 1`.
    pub min_samples: usize,
    /// Metric, or precomputed distances.
    pub distances: Distances,
    /// Tree or brute force and leaf size: speed only, never the result.
    pub index: IndexParams,
    /// Query points per parallel chunk (`0`: automatic); speed only.
    pub chunk_rows: usize,
}

/// A fitted DBSCAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbscanFit {
    /// Cluster of each sample, `-1` for noise.
    pub labels: Vec<i64>,
    /// Indices of the core samples, increasing.
    pub core_sample_indices: Vec<i64>,
}

/// Clusters the rows of `x` (or, with [`Distances::Precomputed`], the
/// samples whose distances `x` holds), with optional per-sample weights
/// (finite; negative weights are allowed, as in scikit-learn).
pub fn fit_dbscan<T: Real>(
    x: MatRef<'_, T>,
    sample_weight: Option<&[f64]>,
    p: &DbscanParams,
) -> Result<DbscanFit> {
    if p.eps.is_nan() || p.eps <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "eps",
            reason: format!("{}; eps must be > 0", p.eps),
        });
    }
    if p.min_samples == 0 {
        return Err(Error::InvalidParameter {
            name: "min_samples",
            reason: "0; min_samples must be >= 1".into(),
        });
    }
    let n = x.nrows();
    if let Some(w) = sample_weight {
        if w.len() != n {
            return Err(Error::ShapeMismatch {
                what: "sample_weight length vs number of samples in X".into(),
                expected: n,
                got: w.len(),
            });
        }
        if let Some(index) = w.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidSampleWeight {
                index,
                value: w[index],
            });
        }
    }
    let neighborhoods = match p.distances {
        Distances::Metric(metric) => {
            NeighborIndex::build(x, metric, p.index)?.radius_neighbors_self(p.eps, p.chunk_rows)?
        }
        Distances::Precomputed => radius_neighbors_precomputed(x, p.eps, p.chunk_rows)?,
    };
    let is_core = core_mask(&neighborhoods, sample_weight, p.min_samples, p.chunk_rows);
    let labels = dbscan_inner(&neighborhoods, &is_core);
    let core_sample_indices = is_core
        .iter()
        .enumerate()
        .filter(|(_, &c)| c)
        .map(|(i, _)| i as i64)
        .collect();
    Ok(DbscanFit {
        labels,
        core_sample_indices,
    })
}

/// Whether each point is core: its neighbourhood's count, or weight summed
/// in increasing index order, is at least `min_samples`.
fn core_mask(
    nb: &Neighborhoods,
    w: Option<&[f64]>,
    min_samples: usize,
    chunk_rows: usize,
) -> Vec<bool> {
    let plan = ChunkPlan::new(nb.len(), 1, chunk_rows.max(4096));
    let parts = plan.map_fold(
        usize::MAX,
        Vec::with_capacity(nb.len()),
        |rows| {
            Ok(rows
                .map(|i| match w {
                    None => nb.row(i).len() >= min_samples,
                    Some(w) => {
                        let total: f64 = nb.row(i).iter().map(|&v| w[v as usize]).sum();
                        total >= min_samples as f64
                    }
                })
                .collect::<Vec<bool>>())
        },
        |mut acc, part| {
            acc.extend(part);
            acc
        },
    );
    // The map never fails.
    parts.unwrap_or_default()
}

/// scikit-learn's `dbscan_inner`: from each unlabelled core point in index
/// order, a depth-first search labels every point it reaches, expanding
/// only core points. Returns the labels (`-1`: noise).
pub fn dbscan_inner(nb: &Neighborhoods, is_core: &[bool]) -> Vec<i64> {
    let n = is_core.len();
    let mut labels = vec![-1i64; n];
    let mut label_num = 0i64;
    let mut stack: Vec<usize> = Vec::new();
    for seed in 0..n {
        if labels[seed] != -1 || !is_core[seed] {
            continue;
        }
        let mut i = seed;
        loop {
            if labels[i] == -1 {
                labels[i] = label_num;
                if is_core[i] {
                    for &v in nb.row(i) {
                        if labels[v as usize] == -1 {
                            stack.push(v as usize);
                        }
                    }
                }
            }
            match stack.pop() {
                Some(next) => i = next,
                None => break,
            }
        }
        label_num += 1;
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbors::Algorithm;

    fn params(eps: f64, min_samples: usize, metric: Metric) -> DbscanParams {
        DbscanParams {
            eps,
            min_samples,
            distances: Distances::Metric(metric),
            index: IndexParams::default(),
            chunk_rows: 0,
        }
    }

    #[test]
    fn labels_follow_sklearn_order() {
        // 1-D, eps = 1: neighbourhood sizes are 3 4 3 3 4 3 3 1.
        let xs = [5.0, 6.0, 6.5, 7.0, 4.0, 3.5, 3.0, 20.0];
        let x = MatRef::from_row_major_slice(&xs, 8, 1);
        // min_samples 3: points 0..7 are all core and chained: one cluster.
        let fit = fit_dbscan(x, None, &params(1.0, 3, Metric::Euclidean)).unwrap();
        assert_eq!(fit.labels, vec![0, 0, 0, 0, 0, 0, 0, -1]);
        // min_samples 4: only 1 and 4 are core. Point 0 borders both; the
        // cluster seeded from the lower core index (1) reaches it first.
        let fit = fit_dbscan(x, None, &params(1.0, 4, Metric::Euclidean)).unwrap();
        assert_eq!(fit.labels, vec![0, 0, 0, 0, 1, 1, 1, -1]);
        assert_eq!(fit.core_sample_indices, vec![1, 4]);
    }

    #[test]
    fn border_point_takes_first_cluster() {
        // Two dense groups far apart in y, one border point B equidistant:
        // core points of group 2 have smaller indices, so group 2 is
        // cluster 0 and B joins it.
        let xs = [
            0.0, 10.0, 0.1, 10.0, -0.1, 10.0, 0.0, 10.1, // 0..4: group at y = 10
            0.0, 0.0, 0.1, 0.0, -0.1, 0.0, 0.0, -0.1, // 4..8: group at y = 0
            0.0, 5.0, // 8: B, at exactly 5 from (0, 10) and (0, 0)
        ];
        let x = MatRef::from_row_major_slice(&xs, 9, 2);
        let fit = fit_dbscan(x, None, &params(5.0, 4, Metric::Euclidean)).unwrap();
        assert_eq!(fit.labels, vec![0, 0, 0, 0, 1, 1, 1, 1, 0]);
        assert_eq!(fit.core_sample_indices, (0..8).collect::<Vec<i64>>());
    }

    #[test]
    fn weights_decide_core_points() {
        let xs = [0.0, 0.5, 10.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        let p = params(1.0, 3, Metric::Euclidean);
        let fit = fit_dbscan(x, Some(&[1.0, 1.0, 3.0]), &p).unwrap();
        assert_eq!(fit.labels, vec![-1, -1, 0]);
        let fit = fit_dbscan(x, Some(&[2.0, 1.0, -1.0]), &p).unwrap();
        assert_eq!(fit.labels, vec![0, 0, -1]);
        assert_eq!(fit.core_sample_indices, vec![0, 1]);
        assert!(matches!(
            fit_dbscan(x, Some(&[1.0, f64::NAN, 1.0]), &p),
            Err(Error::InvalidSampleWeight { index: 1, .. })
        ));
        assert!(fit_dbscan(x, Some(&[1.0]), &p).is_err());
    }

    #[test]
    fn precomputed_matches_metric() {
        let xs: Vec<f64> = (0..60).map(|k| ((k * 13) % 17) as f64 * 0.25).collect();
        let x = MatRef::from_row_major_slice(&xs, 30, 2);
        let mut dist = vec![0.0; 900];
        for i in 0..30 {
            for j in 0..30 {
                dist[i * 30 + j] = Metric::Euclidean
                    .rdist(&xs[2 * i..2 * i + 2], &xs[2 * j..2 * j + 2])
                    .sqrt();
            }
        }
        let a = fit_dbscan(x, None, &params(0.5, 3, Metric::Euclidean)).unwrap();
        let mut pp = params(0.5, 3, Metric::Euclidean);
        pp.distances = Distances::Precomputed;
        let b = fit_dbscan(MatRef::from_row_major_slice(&dist, 30, 30), None, &pp).unwrap();
        assert_eq!(a, b);
        assert!(a.labels.iter().any(|&l| l >= 0));
    }

    #[test]
    fn independent_of_threads_chunks_and_engine() {
        let (n, d) = (2500, 3);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let xs: Vec<f64> = (0..n * d)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 10_000) as f64 / 1000.0
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, d);
        let base = fit_dbscan(x, None, &params(0.6, 4, Metric::Euclidean)).unwrap();
        assert!(base.labels.iter().any(|&l| l >= 0) && base.labels.contains(&-1));
        for threads in [1, 2, 5] {
            for (algorithm, chunk_rows, leaf_size) in [
                (Algorithm::KdTree, 7, 3),
                (Algorithm::Brute, 1000, 0),
                (Algorithm::Auto, 0, 40),
            ] {
                let mut p = params(0.6, 4, Metric::Euclidean);
                p.index = IndexParams {
                    algorithm,
                    leaf_size,
                };
                p.chunk_rows = chunk_rows;
                let got = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| fit_dbscan(x, None, &p).unwrap());
                assert_eq!(got, base);
            }
        }
    }

    #[test]
    fn bad_parameters() {
        let xs = [0.0, 1.0];
        let x = MatRef::from_row_major_slice(&xs, 2, 1);
        assert!(fit_dbscan(x, None, &params(0.0, 1, Metric::Euclidean)).is_err());
        assert!(fit_dbscan(x, None, &params(1.0, 0, Metric::Euclidean)).is_err());
    }
}
