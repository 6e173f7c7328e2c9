//! Fixed-size row chunks, mapped in parallel and combined in chunk order.
//!
//! Chunk boundaries depend only on the data's shape and the chunk size, never
//! on the number of threads, and partial results are folded strictly in chunk
//! order: results are bit-identical for any thread count.

use crate::{Error, Real, Result};
use faer::MatRef;
use rayon::prelude::*;
use std::ops::Range;

/// Default rows per chunk for data with `n_cols` columns: about 4 MiB of
/// `f64` per chunk (fits in L2/L3), between 256 and 8192 rows.
pub fn auto_chunk_rows(n_cols: usize) -> usize {
    ((1usize << 19) / n_cols.max(1)).clamp(256, 8192)
}

/// How `n_rows` rows are split into chunks of `chunk_rows` rows.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPlan {
    /// Total number of rows.
    pub n_rows: usize,
    /// Rows per chunk (the last chunk may be shorter).
    pub chunk_rows: usize,
}

impl ChunkPlan {
    /// A plan over `n_rows` rows; `chunk_rows == 0` means [`auto_chunk_rows`].
    pub fn new(n_rows: usize, n_cols: usize, chunk_rows: usize) -> Self {
        let chunk_rows = if chunk_rows == 0 {
            auto_chunk_rows(n_cols)
        } else {
            chunk_rows
        };
        ChunkPlan { n_rows, chunk_rows }
    }

    /// Number of chunks.
    pub fn n_chunks(&self) -> usize {
        self.n_rows.div_ceil(self.chunk_rows)
    }

    /// Row range of chunk `i`.
    pub fn range(&self, i: usize) -> Range<usize> {
        let start = i * self.chunk_rows;
        start..(start + self.chunk_rows).min(self.n_rows)
    }

    /// Maps every chunk with `map` in parallel and folds the results with
    /// `fold` in chunk order, starting from `init`.
    ///
    /// At most `group` partial results are alive at once, which bounds memory
    /// when each partial result is large; `group` must not depend on the
    /// thread count (it only changes scheduling, never the result).
    pub fn map_fold<R, A>(
        &self,
        group: usize,
        init: A,
        map: impl Fn(Range<usize>) -> Result<R> + Sync,
        mut fold: impl FnMut(A, R) -> A,
    ) -> Result<A>
    where
        R: Send,
    {
        let group = group.max(1);
        let n = self.n_chunks();
        let mut acc = init;
        let mut start = 0;
        while start < n {
            let end = (start + group).min(n);
            let parts: Vec<Result<R>> = (start..end)
                .into_par_iter()
                .map(|i| map(self.range(i)))
                .collect();
            for part in parts {
                acc = fold(acc, part?);
            }
            start = end;
        }
        Ok(acc)
    }
}

crate::simd::multiversion! {
    /// Copies `src` into `buf` as `sqrt(w_i) * (x_ij - shift_j)` in `f64`, in
    /// `src`'s own memory order (so the copy streams through memory), and
    /// returns the copy with the weighted sums `Σ_i w_i (x_ij - shift_j)` of
    /// each column, all in one pass over memory. Sums are taken in ascending
    /// row order in either layout.
    ///
    /// Fails with [`Error::NonFinite`] (naming `what` and the row, offset by
    /// `row0`) if the chunk holds NaN or infinity: the check rides along with
    /// the copy, so validating the input costs no extra pass.
    pub fn copy_shifted<'b, T: Real>(
        src: MatRef<'_, T>,
        what: &'static str,
        row0: usize,
        shift: &[f64],
        w: Option<&[f64]>,
        buf: &'b mut Vec<f64>,
    ) -> Result<(faer::MatMut<'b, f64>, Vec<f64>)>
    => copy_shifted_portable
}

#[inline(always)]
fn copy_shifted_portable<'b, T: Real>(
    src: MatRef<'_, T>,
    what: &'static str,
    row0: usize,
    shift: &[f64],
    w: Option<&[f64]>,
    buf: &'b mut Vec<f64>,
) -> Result<(faer::MatMut<'b, f64>, Vec<f64>)> {
    let (m, n) = (src.nrows(), src.ncols());
    buf.clear();
    buf.resize(m * n, 0.0);
    // The column sums double as the finiteness check: a NaN or infinity
    // anywhere makes its column's sum non-finite (0 * inf is NaN too), and
    // they vectorise, unlike a branch per element.
    let mut sums = vec![0.0f64; n];
    let row_major = src.col_stride() == 1
        || (src.row_stride().unsigned_abs() > src.col_stride().unsigned_abs() && n > 1);
    if row_major {
        for (i, out) in buf.chunks_exact_mut(n.max(1)).take(m).enumerate() {
            let (wi, si) = w.map_or((1.0, 1.0), |w| (w[i], w[i].sqrt()));
            let row = src.row(i);
            if let Some(r) = row.try_as_row_major() {
                for (j, (&v, o)) in r.as_slice().iter().zip(out.iter_mut()).enumerate() {
                    let d = v.to_f64() - shift[j];
                    sums[j] += wi * d;
                    *o = si * d;
                }
            } else {
                for (j, o) in out.iter_mut().enumerate() {
                    let d = src[(i, j)].to_f64() - shift[j];
                    sums[j] += wi * d;
                    *o = si * d;
                }
            }
        }
    } else {
        for (j, out) in buf.chunks_exact_mut(m.max(1)).take(n).enumerate() {
            let col = src.col(j);
            let sj = shift[j];
            let mut sum = 0.0;
            let contiguous = col.try_as_col_major().map(|c| c.as_slice());
            for (i, o) in out.iter_mut().enumerate() {
                let v = match contiguous {
                    Some(c) => c[i],
                    None => src[(i, j)],
                };
                let d = v.to_f64() - sj;
                let (wi, si) = w.map_or((1.0, 1.0), |w| (w[i], w[i].sqrt()));
                sum += wi * d;
                *o = si * d;
            }
            sums[j] = sum;
        }
    }
    if sums.iter().any(|v| !v.is_finite()) {
        // Either bad input, or finite values so large that their sum
        // overflowed: only a scan tells which.
        if let Some(e) = first_non_finite(src, what, row0) {
            return Err(e);
        }
    }
    let view = if row_major {
        faer::MatMut::from_row_major_slice_mut(buf.as_mut_slice(), m, n)
    } else {
        faer::MatMut::from_column_major_slice_mut(buf.as_mut_slice(), m, n)
    };
    Ok((view, sums))
}

/// Locates the first (row-major order) non-finite value of `src`.
pub(crate) fn first_non_finite<T: Real>(
    src: MatRef<'_, T>,
    what: &'static str,
    row0: usize,
) -> Option<Error> {
    for i in 0..src.nrows() {
        for j in 0..src.ncols() {
            let v = src[(i, j)].to_f64();
            if !v.is_finite() {
                return Some(Error::NonFinite {
                    what,
                    kind: crate::error::NonFiniteKind::of(v),
                    dtype: T::DTYPE,
                    row: row0 + i,
                    col: j,
                });
            }
        }
    }
    None
}

/// Checks sample weights: the right length, finite and non-negative.
pub fn check_weights<T: Real>(w: &[T], n_rows: usize) -> Result<()> {
    if w.len() != n_rows {
        return Err(Error::ShapeMismatch {
            what: "sample_weight length vs number of samples in X".into(),
            expected: n_rows,
            got: w.len(),
        });
    }
    for (index, &v) in w.iter().enumerate() {
        let v = v.to_f64();
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::InvalidSampleWeight { index, value: v });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_all_rows_once() {
        let plan = ChunkPlan::new(1000, 3, 64);
        let mut seen = 0;
        for i in 0..plan.n_chunks() {
            let r = plan.range(i);
            assert_eq!(r.start, seen);
            seen = r.end;
        }
        assert_eq!(seen, 1000);
        assert_eq!(ChunkPlan::new(0, 3, 64).n_chunks(), 0);
    }

    #[test]
    fn copy_reports_first_non_finite() {
        let mut data = vec![1.0f64; 12];
        data[7] = f64::INFINITY; // row 1, col 3 of a 3x4 row-major matrix
        let m = MatRef::from_row_major_slice(&data, 3, 4);
        let mut buf = Vec::new();
        let err = copy_shifted(m, "X", 10, &[0.0; 4], None, &mut buf).unwrap_err();
        assert_eq!(
            err,
            Error::NonFinite {
                what: "X",
                kind: crate::error::NonFiniteKind::Infinity,
                dtype: "float64",
                row: 11,
                col: 3
            }
        );
        assert!(err.to_string().starts_with("Input X contains infinity"));
    }

    #[test]
    fn copy_keeps_values_in_either_layout() {
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        for m in [
            MatRef::from_row_major_slice(&data, 3, 4),
            MatRef::from_column_major_slice(&data, 3, 4),
        ] {
            let mut buf = Vec::new();
            let (c, _) = copy_shifted(m, "X", 0, &[0.0; 4], None, &mut buf).unwrap();
            for i in 0..3 {
                for j in 0..4 {
                    assert_eq!(c[(i, j)], m[(i, j)] as f64);
                }
            }
        }
    }

    #[test]
    fn weights_are_checked() {
        assert!(check_weights(&[1.0f64, 0.0], 2).is_ok());
        assert!(matches!(
            check_weights(&[1.0f64, -1.0], 2),
            Err(Error::InvalidSampleWeight { index: 1, .. })
        ));
        assert!(matches!(
            check_weights(&[1.0f64], 2),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
