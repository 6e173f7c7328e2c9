//! Distributed (SPMD) fitting: every process ("rank") holds some rows of the
//! data, computes its partial result here, and the partials are exchanged
//! through a [`Collective`] that the caller implements on its transport
//! (mpi4py's `allgather` in `oxlearn.spmd`).
//!
//! Partials are always gathered, never reduced by the transport, and folded
//! in rank order with the same merges that combine row chunks in one
//! process: every rank then holds bit-identical results, which an MPI
//! `allreduce` (whose summation order may differ between ranks) does not
//! guarantee, and a fixed rank count gives bit-identical results run to run.
//! What is exchanged is a few moments (O(p²)) or sums per cluster (O(k·p)),
//! never rows.

use crate::basic_statistics::ColumnMoments;
use crate::linalg::Moments;
use crate::{Error, Real, Result};
use faer::MatRef;

/// The one collective operation distributed fits need. `Send + Sync` so
/// that an objective holding it can be evaluated by parallel chunks.
pub trait Collective: Send + Sync {
    /// This rank's index, from 0.
    fn rank(&self) -> usize;

    /// `local` from every rank (this one included), in rank order: MPI's
    /// allgather. Every rank must call it the same number of times.
    fn allgather(&mut self, local: &[f64]) -> Result<Vec<Vec<f64>>>;
}

/// The collective of a single process: its own part only.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn allgather(&mut self, local: &[f64]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![local.to_vec()])
    }
}

/// Replaces `buf` by its sum over ranks, added in rank order, so every rank
/// gets the same bits. With one rank, `buf` is left untouched.
pub fn sum_over_ranks(c: &mut dyn Collective, buf: &mut [f64]) -> Result<()> {
    let parts = c.allgather(buf)?;
    if parts.len() == 1 {
        return Ok(());
    }
    for (rank, part) in parts.iter().enumerate() {
        if part.len() != buf.len() {
            return Err(Error::ShapeMismatch {
                what: format!("length of the partial result of rank {rank}"),
                expected: buf.len(),
                got: part.len(),
            });
        }
    }
    buf.fill(0.0);
    for part in &parts {
        for (b, v) in buf.iter_mut().zip(part) {
            *b += v;
        }
    }
    Ok(())
}

/// The moments of this rank's rows: those of [`Moments::from_data`], or
/// the empty moments when the rank holds no row.
pub fn local_moments<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    centered: bool,
    chunk_rows: usize,
) -> Result<Moments> {
    if x.nrows() == 0 {
        return Ok(Moments::empty(x.ncols(), y.ncols(), centered));
    }
    Moments::from_data(x, y, w, centered, chunk_rows)
}

/// Merges the ranks' moments in rank order (Chan, Golub and LeVeque's
/// update, as between row chunks). Fails on parts of different shapes.
pub fn merge_moments(parts: &[Moments]) -> Result<Moments> {
    let first = parts.first().ok_or(Error::EmptyInput {
        what: "the partial moments (no rank)",
    })?;
    let (p, t) = (first.n_features(), first.n_targets());
    let mut acc = Moments::empty(p, t, first.centered);
    for (rank, part) in parts.iter().enumerate() {
        if (part.n_features(), part.n_targets()) != (p, t) || part.centered != first.centered {
            return Err(Error::ShapeMismatch {
                what: format!("number of features of rank {rank}'s moments"),
                expected: p,
                got: part.n_features(),
            });
        }
        acc.merge(part);
    }
    Ok(acc)
}

/// The per-feature moments of this rank's rows (empty when it holds none).
pub fn local_column_moments<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    chunk_rows: usize,
) -> Result<ColumnMoments> {
    if x.nrows() == 0 {
        return Ok(ColumnMoments::empty(x.ncols()));
    }
    ColumnMoments::from_data(x, w, chunk_rows)
}

/// Merges the ranks' per-feature moments in rank order.
pub fn merge_column_moments(parts: &[ColumnMoments]) -> Result<ColumnMoments> {
    let first = parts.first().ok_or(Error::EmptyInput {
        what: "the partial statistics (no rank)",
    })?;
    let p = first.n_features();
    let mut acc = ColumnMoments::empty(p);
    for (rank, part) in parts.iter().enumerate() {
        if part.n_features() != p {
            return Err(Error::ShapeMismatch {
                what: format!("number of features of rank {rank}'s statistics"),
                expected: p,
                got: part.n_features(),
            });
        }
        acc.merge(part);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranks simulated in one process: each holds some rows; `allgather`
    /// returns the parts the ranks posted, in rank order.
    struct Posted(Vec<Vec<f64>>);

    impl Collective for Posted {
        fn rank(&self) -> usize {
            0
        }

        fn allgather(&mut self, _local: &[f64]) -> Result<Vec<Vec<f64>>> {
            Ok(self.0.clone())
        }
    }

    fn data(n: usize, p: usize) -> Vec<f64> {
        (0..n * p)
            .map(|i| ((i * 7919 % 101) as f64) / 17.0 - 2.0)
            .collect()
    }

    /// Ranks as threads of one process, exchanging through shared slots.
    struct Threads {
        rank: usize,
        slots: std::sync::Arc<(std::sync::Mutex<Vec<Vec<f64>>>, std::sync::Barrier)>,
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }

        fn allgather(&mut self, local: &[f64]) -> Result<Vec<Vec<f64>>> {
            let (slots, barrier) = &*self.slots;
            slots.lock().unwrap()[self.rank] = local.to_vec();
            barrier.wait();
            let all = slots.lock().unwrap().clone();
            barrier.wait(); // nobody posts the next exchange before all have read
            Ok(all)
        }
    }

    /// Runs `f(rank, rows, collective)` on each shard `bounds[r]..bounds[r+1]`.
    fn on_ranks<R: Send>(
        bounds: &[usize],
        f: impl Fn(usize, std::ops::Range<usize>, &mut Threads) -> R + Sync,
    ) -> Vec<R> {
        let n = bounds.len() - 1;
        let slots = std::sync::Arc::new((
            std::sync::Mutex::new(vec![Vec::new(); n]),
            std::sync::Barrier::new(n),
        ));
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|r| {
                    let mut c = Threads {
                        rank: r,
                        slots: slots.clone(),
                    };
                    let f = &f;
                    s.spawn(move || f(r, bounds[r]..bounds[r + 1], &mut c))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn distributed_kmeans_equals_one_process_with_empty_cluster_relocation() {
        use crate::cluster::{fit_kmeans, fit_kmeans_distributed, KMeansInit, KMeansParams};
        let (n, p) = (900, 3);
        let xs: Vec<f64> = data(n, p)
            .iter()
            .enumerate()
            .map(|(i, v)| v + 5.0 * ((i / p) % 3) as f64)
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        // The third centre is far from every row: its cluster empties and
        // takes the farthest row (over every rank).
        let init = vec![0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 1e3, 1e3, 1e3];
        let params = KMeansParams {
            n_clusters: 3,
            max_iter: 50,
            tol: 1e-6,
            n_local_trials: 2,
            chunk_rows: 64,
        };
        let one = fit_kmeans(x, None, &[KMeansInit::Centers(init.clone())], &params).unwrap();
        let bounds = [0, 0, 350, 900];
        let fits = on_ranks(&bounds, |_, rows, c| {
            let xr = x.subrows(rows.start, rows.len());
            fit_kmeans_distributed(
                xr,
                None,
                &[KMeansInit::Centers(init.clone())],
                &params,
                c,
                rows.start,
            )
            .unwrap()
        });
        let labels: Vec<i32> = fits.iter().flat_map(|f| f.labels.clone()).collect();
        assert_eq!(labels, one.labels);
        for f in &fits {
            assert_eq!(
                f.centers, fits[0].centers,
                "every rank has the same centres"
            );
            assert_eq!(f.n_iter, one.n_iter);
            for (a, b) in f.centers.iter().zip(&one.centers) {
                assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0));
            }
            assert!((f.inertia - one.inertia).abs() <= 1e-12 * one.inertia);
        }
    }

    #[test]
    fn distributed_kmeans_plusplus_picks_the_same_seeds() {
        use crate::cluster::{fit_kmeans, fit_kmeans_distributed, KMeansInit, KMeansParams};
        let (n, p) = (700, 2);
        let xs: Vec<f64> = data(n, p)
            .iter()
            .enumerate()
            .map(|(i, v)| v + 9.0 * ((i / p) % 4) as f64)
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let params = KMeansParams {
            n_clusters: 4,
            max_iter: 100,
            tol: 0.0,
            n_local_trials: 3,
            chunk_rows: 64,
        };
        let draws: Vec<f64> = (0..1 + 3 * 3)
            .map(|i| (i as f64 * 0.37 + 0.11) % 1.0)
            .collect();
        let init = [KMeansInit::PlusPlus(draws)];
        let one = fit_kmeans(x, None, &init, &params).unwrap();
        let fits = on_ranks(&[0, 300, 300, 700], |_, rows, c| {
            let xr = x.subrows(rows.start, rows.len());
            fit_kmeans_distributed(xr, None, &init, &params, c, rows.start).unwrap()
        });
        let labels: Vec<i32> = fits.iter().flat_map(|f| f.labels.clone()).collect();
        assert_eq!(labels, one.labels);
        for (a, b) in fits[2].centers.iter().zip(&one.centers) {
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0));
        }
    }

    #[test]
    fn distributed_kmeans_fails_every_rank_on_one_bad_shard() {
        use crate::cluster::{fit_kmeans_distributed, KMeansParams};
        let mut xs = data(100, 2);
        xs[150] = f64::NAN; // row 75: on the second rank
        let x = MatRef::from_row_major_slice(&xs, 100, 2);
        let params = KMeansParams {
            n_clusters: 2,
            max_iter: 10,
            tol: 0.0,
            n_local_trials: 2,
            chunk_rows: 0,
        };
        let errs = on_ranks(&[0, 50, 100], |_, rows, c| {
            let xr = x.subrows(rows.start, rows.len());
            fit_kmeans_distributed(
                xr,
                None,
                &[crate::cluster::KMeansInit::Centers(vec![
                    0.0, 0.0, 1.0, 1.0,
                ])],
                &params,
                c,
                rows.start,
            )
            .unwrap_err()
        });
        assert!(matches!(errs[1], Error::NonFinite { .. }), "{:?}", errs[1]);
        assert!(errs[0].to_string().contains("rank 1"), "{}", errs[0]);
    }

    #[test]
    fn distributed_logistic_equals_one_process() {
        use crate::linear_model::{
            fit_logistic, fit_logistic_distributed, LogisticParams, LogisticSolver,
        };
        let (n, p) = (600, 4);
        let xs = data(n, p);
        let y: Vec<u32> = (0..n)
            .map(|i| u32::from(xs[i * p] + 0.5 * xs[i * p + 1] > 0.3) + u32::from(i % 7 == 0))
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        for solver in [LogisticSolver::Lbfgs, LogisticSolver::NewtonCg] {
            let params = LogisticParams {
                solver,
                c: 2.0,
                fit_intercept: true,
                max_iter: 200,
                tol: 1e-6,
                chunk_rows: 64,
            };
            let one = fit_logistic(x, &y, 3, None, None, &params).unwrap();
            let fits = on_ranks(&[0, 250, 250, 600], |_, rows, c| {
                let xr = x.subrows(rows.start, rows.len());
                fit_logistic_distributed(xr, &y[rows], 3, None, None, &params, c).unwrap()
            });
            for f in &fits {
                assert_eq!(f.coef, fits[0].coef, "every rank has the same coefficients");
                assert_eq!(f.n_iter, one.n_iter);
                for r in 0..3 {
                    for j in 0..p {
                        assert!((f.coef[(r, j)] - one.coef[(r, j)]).abs() < 1e-8);
                    }
                }
            }
        }
    }

    #[test]
    fn merged_shards_equal_one_pass_including_empty_shards() {
        let (n, p) = (1000, 4);
        let xs = data(n, p);
        let ys: Vec<f64> = (0..n).map(|i| (i % 13) as f64).collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let whole = Moments::from_data(x, y, None, true, 0).unwrap();
        let bounds = [0, 0, 300, 300, 1000];
        let parts: Vec<Moments> = bounds
            .windows(2)
            .map(|b| {
                let len = b[1] - b[0];
                local_moments(x.subrows(b[0], len), y.subrows(b[0], len), None, true, 0).unwrap()
            })
            .collect();
        let merged = merge_moments(&parts).unwrap();
        assert_eq!(merged.n_samples, whole.n_samples);
        for i in 0..p {
            assert!((merged.mean_x[i] - whole.mean_x[i]).abs() < 1e-13);
            for j in 0..p {
                let scale = whole.cxx[(i, i)].abs().max(1.0);
                assert!((merged.cxx[(i, j)] - whole.cxx[(i, j)]).abs() < 1e-12 * scale);
            }
        }
        let cols: Vec<ColumnMoments> = bounds
            .windows(2)
            .map(|b| local_column_moments(x.subrows(b[0], b[1] - b[0]), None, 0).unwrap())
            .collect();
        let merged = merge_column_moments(&cols).unwrap();
        let whole = ColumnMoments::from_data(x, None, 0).unwrap();
        assert_eq!(merged.n_samples, whole.n_samples);
        assert_eq!(merged.min, whole.min);
        assert_eq!(merged.max, whole.max);
    }

    #[test]
    fn merge_refuses_parts_of_other_shapes() {
        let parts = [Moments::empty(3, 1, true), Moments::empty(4, 1, true)];
        assert!(matches!(
            merge_moments(&parts),
            Err(Error::ShapeMismatch {
                expected: 3,
                got: 4,
                ..
            })
        ));
        assert!(merge_column_moments(&[ColumnMoments::empty(2), ColumnMoments::empty(5)]).is_err());
    }

    #[test]
    fn sums_in_rank_order_and_checks_lengths() {
        let mut buf = vec![1.0, 2.0];
        sum_over_ranks(&mut Posted(vec![vec![1.0, 2.0], vec![0.5, 0.25]]), &mut buf).unwrap();
        assert_eq!(buf, [1.5, 2.25]);
        let mut one = vec![-0.0];
        sum_over_ranks(&mut SingleProcess, &mut one).unwrap();
        assert!(
            one[0].is_sign_negative(),
            "one rank leaves the buffer untouched"
        );
        let err = sum_over_ranks(&mut Posted(vec![vec![1.0], vec![1.0, 2.0]]), &mut [0.0]);
        assert!(err.is_err());
    }
}
