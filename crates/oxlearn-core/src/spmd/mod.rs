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
    /// `local` from every rank (this one included), in rank order: MPI's
    /// allgather. Every rank must call it the same number of times.
    fn allgather(&mut self, local: &[f64]) -> Result<Vec<Vec<f64>>>;
}

/// The collective of a single process: its own part only.
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleProcess;

impl Collective for SingleProcess {
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
        fn allgather(&mut self, _local: &[f64]) -> Result<Vec<Vec<f64>>> {
            Ok(self.0.clone())
        }
    }

    fn data(n: usize, p: usize) -> Vec<f64> {
        (0..n * p)
            .map(|i| ((i * 7919 % 101) as f64) / 17.0 - 2.0)
            .collect()
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
            Err(Error::ShapeMismatch { expected: 3, got: 4, .. })
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
        assert!(one[0].is_sign_negative(), "one rank leaves the buffer untouched");
        let err = sum_over_ranks(&mut Posted(vec![vec![1.0], vec![1.0, 2.0]]), &mut [0.0]);
        assert!(err.is_err());
    }
}
