//! Per-feature low-order statistics (scikit-learn-intelex's `BasicStatistics`),
//! one-shot and incremental, in one pass over memory.
//!
//! Each fixed row chunk is shifted by its first row while it is read (the
//! shifted-data algorithm), giving the chunk's sum, mean and centred sum of
//! squares together with its minimum and maximum; chunks are merged in order
//! with Chan et al.'s pairwise update. Sums of squares are never formed raw
//! and then centred, so large offsets cost no precision, and the result does
//! not depend on the thread count.
//!
//! Sample weights follow scikit-learn-intelex's definition: the statistics
//! are those of the rows scaled by their weights, `wᵢ·xᵢ` (not frequency
//! weights), so a weight may be any finite number.

use crate::linalg::chunks::first_non_finite;
use crate::linalg::ChunkPlan;
use crate::{Error, Real, Result};
use faer::MatRef;
use std::ops::Range;

/// Mergeable per-feature moments of the rows seen so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMoments {
    /// Rows seen.
    pub n_samples: u64,
    /// Σ xᵢⱼ per feature.
    pub sum: Vec<f64>,
    /// Mean per feature.
    pub mean: Vec<f64>,
    /// Σ (xᵢⱼ − meanⱼ)² per feature.
    pub m2: Vec<f64>,
    /// Minimum per feature (+∞ before any row).
    pub min: Vec<f64>,
    /// Maximum per feature (−∞ before any row).
    pub max: Vec<f64>,
}

/// The statistics scikit-learn-intelex's `BasicStatistics` reports, per feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub sum: Vec<f64>,
    pub mean: Vec<f64>,
    /// Unbiased (n − 1) variance; NaN with a single row.
    pub variance: Vec<f64>,
    /// Coefficient of variation: standard deviation / mean.
    pub variation: Vec<f64>,
    /// Σ x².
    pub sum_squares: Vec<f64>,
    /// Σ (x − mean)².
    pub sum_squares_centered: Vec<f64>,
    /// Σ x² / n.
    pub second_order_raw_moment: Vec<f64>,
    /// √variance.
    pub standard_deviation: Vec<f64>,
}

impl ColumnMoments {
    /// Moments of no rows.
    pub fn empty(n_features: usize) -> Self {
        ColumnMoments {
            n_samples: 0,
            sum: vec![0.0; n_features],
            mean: vec![0.0; n_features],
            m2: vec![0.0; n_features],
            min: vec![f64::INFINITY; n_features],
            max: vec![f64::NEG_INFINITY; n_features],
        }
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Moments of the rows of `x` (scaled by `w` when given), over chunks of
    /// `chunk_rows` rows (0: automatic). Fails on NaN/infinity in `x` or `w`
    /// and on a weight vector of the wrong length.
    pub fn from_data<T: Real>(
        x: MatRef<'_, T>,
        w: Option<&[T]>,
        chunk_rows: usize,
    ) -> Result<Self> {
        let (n, p) = x.shape();
        if n == 0 || p == 0 {
            return Err(Error::EmptyInput { what: "X" });
        }
        if let Some(w) = w {
            check_scale_weights(w, n)?;
        }
        let plan = ChunkPlan::new(n, p, chunk_rows);
        plan.map_fold(
            64,
            ColumnMoments::empty(p),
            |rows| chunk_moments(x, w, rows),
            |mut acc, part| {
                acc.merge(&part);
                acc
            },
        )
    }

    /// Adds the moments of other rows (Chan, Golub and LeVeque's update).
    pub fn merge(&mut self, o: &ColumnMoments) {
        if o.n_samples == 0 {
            return;
        }
        if self.n_samples == 0 {
            self.clone_from(o);
            return;
        }
        let (na, nb) = (self.n_samples as f64, o.n_samples as f64);
        let n = na + nb;
        let (f, r) = (na * nb / n, nb / n);
        for j in 0..self.n_features() {
            let d = o.mean[j] - self.mean[j];
            self.m2[j] += o.m2[j] + f * d * d;
            self.mean[j] += r * d;
            self.sum[j] += o.sum[j];
            self.min[j] = self.min[j].min(o.min[j]);
            self.max[j] = self.max[j].max(o.max[j]);
        }
        self.n_samples += o.n_samples;
    }

    /// The reported statistics. Fails when no row has been seen.
    pub fn statistics(&self) -> Result<Statistics> {
        if self.n_samples == 0 {
            return Err(Error::EmptyInput {
                what: "the accumulated data (no sample seen)",
            });
        }
        let n = self.n_samples as f64;
        let map = |f: &dyn Fn(usize) -> f64| (0..self.n_features()).map(f).collect::<Vec<f64>>();
        // n − 1 = 0 gives NaN, as numpy's var(ddof=1) and intelex do.
        let variance = map(&|j| {
            if self.n_samples > 1 {
                self.m2[j] / (n - 1.0)
            } else {
                f64::NAN
            }
        });
        let standard_deviation: Vec<f64> = variance.iter().map(|v| v.sqrt()).collect();
        // Σx² = Σ(x − x̄)² + n·x̄²: two non-negative terms, no cancellation.
        let sum_squares = map(&|j| self.m2[j] + n * self.mean[j] * self.mean[j]);
        Ok(Statistics {
            min: self.min.clone(),
            max: self.max.clone(),
            sum: self.sum.clone(),
            mean: self.mean.clone(),
            variation: map(&|j| standard_deviation[j] / self.mean[j]),
            second_order_raw_moment: sum_squares.iter().map(|s| s / n).collect(),
            sum_squares,
            sum_squares_centered: self.m2.clone(),
            variance,
            standard_deviation,
        })
    }
}

/// Weights scale rows: any finite value is allowed, one per row.
pub(crate) fn check_scale_weights<T: Real>(w: &[T], n_rows: usize) -> Result<()> {
    if w.len() != n_rows {
        return Err(Error::ShapeMismatch {
            what: "sample_weight length vs number of samples in X".into(),
            expected: n_rows,
            got: w.len(),
        });
    }
    match w.iter().position(|v| !v.to_f64().is_finite()) {
        Some(index) => Err(Error::InvalidSampleWeight {
            index,
            value: w[index].to_f64(),
        }),
        None => Ok(()),
    }
}

/// Per-chunk accumulators, shifted by the chunk's first (scaled) row.
struct Acc {
    shift: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

fn chunk_moments<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    rows: Range<usize>,
) -> Result<ColumnMoments> {
    let (len, p) = (rows.len(), x.ncols());
    let xs = x.subrows(rows.start, len);
    let ws = w.map(|w| &w[rows.clone()]);
    let scale = |i: usize| ws.map_or(1.0, |w| w[i].to_f64());
    let mut acc = Acc {
        shift: (0..p).map(|j| scale(0) * xs[(0, j)].to_f64()).collect(),
        s1: vec![0.0; p],
        s2: vec![0.0; p],
        min: vec![f64::INFINITY; p],
        max: vec![f64::NEG_INFINITY; p],
    };
    accumulate(xs, ws, &mut acc);
    if acc.s2.iter().any(|v| !v.is_finite()) {
        // Bad input, or finite values so large their squares overflow: only
        // a scan tells which.
        if let Some(e) = first_non_finite(xs, "X", rows.start) {
            return Err(e);
        }
    }
    let n = len as f64;
    let mut m = ColumnMoments::empty(p);
    m.n_samples = len as u64;
    for j in 0..p {
        let (k, s1) = (acc.shift[j], acc.s1[j]);
        m.mean[j] = k + s1 / n;
        m.sum[j] = n * k + s1;
        m.m2[j] = (acc.s2[j] - s1 * s1 / n).max(0.0);
    }
    m.min = acc.min;
    m.max = acc.max;
    Ok(m)
}

crate::simd::multiversion! {
    /// Sums of shifted values and their squares, minimum and maximum per
    /// column, reading `xs` once in its own memory order; every column's
    /// sums run in ascending row order in either layout.
    fn accumulate<T: Real>(xs: MatRef<'_, T>, ws: Option<&[T]>, acc: &mut Acc) -> ()
    => accumulate_portable
}

#[inline(always)]
fn accumulate_portable<T: Real>(xs: MatRef<'_, T>, ws: Option<&[T]>, acc: &mut Acc) {
    let (m, p) = xs.shape();
    let row_major = xs.col_stride() == 1
        || (xs.row_stride().unsigned_abs() > xs.col_stride().unsigned_abs() && p > 1);
    let Acc {
        shift,
        s1,
        s2,
        min,
        max,
    } = acc;
    if row_major {
        for i in 0..m {
            let wi = ws.map_or(1.0, |w| w[i].to_f64());
            let row = xs.row(i);
            let mut step = |j: usize, raw: f64| {
                let v = wi * raw;
                let d = v - shift[j];
                s1[j] += d;
                s2[j] += d * d;
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            };
            match row.try_as_row_major() {
                Some(r) => {
                    for (j, &raw) in r.as_slice().iter().enumerate() {
                        step(j, raw.to_f64());
                    }
                }
                None => {
                    for j in 0..p {
                        step(j, xs[(i, j)].to_f64());
                    }
                }
            }
        }
    } else {
        for j in 0..p {
            let col = xs.col(j);
            let contiguous = col.try_as_col_major().map(|c| c.as_slice());
            let (k, mut a, mut b, mut lo, mut hi) = (shift[j], 0.0, 0.0, min[j], max[j]);
            for i in 0..m {
                let raw = match contiguous {
                    Some(c) => c[i],
                    None => xs[(i, j)],
                };
                let v = ws.map_or(1.0, |w| w[i].to_f64()) * raw.to_f64();
                let d = v - k;
                a += d;
                b += d * d;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            (s1[j], s2[j], min[j], max[j]) = (a, b, lo, hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn closed_form_and_weights_scale_rows() {
        let xs = [1.0, 2.0, 3.0, 5.0, 4.0, 9.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 2);
        let s = ColumnMoments::from_data(x, None, 0)
            .unwrap()
            .statistics()
            .unwrap();
        assert_eq!(
            (s.min.clone(), s.max.clone(), s.sum.clone()),
            (vec![1.0, 2.0], vec![4.0, 9.0], vec![8.0, 16.0])
        );
        assert!((s.variance[0] - 7.0 / 3.0).abs() < 1e-15);
        assert!((s.sum_squares[1] - 110.0).abs() < 1e-12);
        assert!((s.sum_squares_centered[1] - 74.0 / 3.0).abs() < 1e-12);
        // Weighted: the statistics of the scaled rows w·x, as intelex defines them.
        let w = [1.0, 2.0, 3.0];
        let s = ColumnMoments::from_data(x, Some(&w), 0)
            .unwrap()
            .statistics()
            .unwrap();
        assert_eq!(
            (s.min.clone(), s.max.clone(), s.sum.clone()),
            (vec![1.0, 2.0], vec![12.0, 27.0], vec![19.0, 39.0])
        );
        assert!((s.variance[0] - 91.0 / 3.0).abs() < 1e-13);
    }

    #[test]
    fn one_row_has_nan_variance() {
        let xs = [1.0, 2.0];
        let s = ColumnMoments::from_data(MatRef::from_row_major_slice(&xs, 1, 2), None, 0)
            .unwrap()
            .statistics()
            .unwrap();
        assert!(s.variance[0].is_nan() && s.standard_deviation[1].is_nan());
        assert_eq!(s.mean, vec![1.0, 2.0]);
    }

    #[test]
    fn large_offset_keeps_precision() {
        // Raw sums of squares would lose every digit of the variance here.
        let n = 10_000;
        let xs: Vec<f64> = lcg(n, 3).iter().map(|v| 1e9 + v).collect();
        let x = MatRef::from_row_major_slice(&xs, n, 1);
        let s = ColumnMoments::from_data(x, None, 300)
            .unwrap()
            .statistics()
            .unwrap();
        let mean = xs.iter().map(|v| v - 1e9).sum::<f64>() / n as f64 + 1e9;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0);
        assert!(
            (s.variance[0] - var).abs() < 1e-6 * var,
            "{} vs {var}",
            s.variance[0]
        );
    }

    #[test]
    fn layouts_threads_and_batches_agree() {
        let (n, p) = (5_000, 6);
        let data = lcg(n * p, 9);
        let w: Vec<f64> = lcg(n, 4);
        let rm = MatRef::from_row_major_slice(&data, n, p);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| ColumnMoments::from_data(rm, Some(&w), 256).unwrap())
        };
        let one = run(1);
        for t in [2, 3, 7] {
            assert_eq!(run(t), one);
        }
        let cm_data: Vec<f64> = (0..p)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| data[i * p + j])
            .collect();
        let cm = MatRef::from_column_major_slice(&cm_data, n, p);
        assert_eq!(ColumnMoments::from_data(cm, Some(&w), 256).unwrap(), one);
        let mut parts = ColumnMoments::empty(p);
        for start in (0..n).step_by(999) {
            let len = 999.min(n - start);
            parts.merge(
                &ColumnMoments::from_data(rm.subrows(start, len), Some(&w[start..start + len]), 0)
                    .unwrap(),
            );
        }
        for j in 0..p {
            assert!((parts.mean[j] - one.mean[j]).abs() < 1e-14);
            assert!((parts.m2[j] - one.m2[j]).abs() < 1e-11 * one.m2[j]);
            assert_eq!((parts.min[j], parts.max[j]), (one.min[j], one.max[j]));
        }
    }

    #[test]
    fn bad_input_is_named() {
        let xs = [1.0, 2.0, f64::NAN, 4.0];
        let x = MatRef::from_row_major_slice(&xs, 2, 2);
        assert!(matches!(
            ColumnMoments::from_data(x, None, 0),
            Err(Error::NonFinite { row: 1, col: 0, .. })
        ));
        let ok = [1.0, 2.0, 3.0, 4.0];
        let x = MatRef::from_row_major_slice(&ok, 2, 2);
        assert!(matches!(
            ColumnMoments::from_data(x, Some(&[1.0, f64::INFINITY]), 0),
            Err(Error::InvalidSampleWeight { index: 1, .. })
        ));
        assert!(matches!(
            ColumnMoments::from_data(x, Some(&[1.0]), 0),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(ColumnMoments::empty(2).statistics().is_err());
    }
}
