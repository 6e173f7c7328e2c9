//! The scalers and `Normalizer`: elementwise operations on row-major
//! float64, in scikit-learn's order (`X -= mean_` then `X /= scale_`, each
//! rounded on its own), so that each value is bit-identical to
//! scikit-learn's.

use super::{per_column, rows_of, ROWS_PER_TASK};
use crate::error::Result;
use rayon::prelude::*;

/// Applies `f` to every row of `x` (rows of `cols` values), in parallel
/// over fixed blocks of rows; each row is computed on its own, so the
/// result does not depend on the split.
fn each_row(x: &mut [f64], cols: usize, f: impl Fn(&mut [f64]) + Sync) {
    if cols == 0 {
        return;
    }
    x.par_chunks_mut(cols * ROWS_PER_TASK)
        .for_each(|block| block.chunks_exact_mut(cols).for_each(&f));
}

/// `StandardScaler.transform`: `x -= mean` (when `with_mean`, pass the
/// `mean_`), then `x /= scale` (when `with_std`, pass the `scale_`).
pub fn standard_scale(
    x: &mut [f64],
    cols: usize,
    mean: Option<&[f64]>,
    scale: Option<&[f64]>,
) -> Result<()> {
    rows_of(x, cols, "StandardScaler input")?;
    if let Some(m) = mean {
        per_column(m, cols, "StandardScaler mean_")?;
    }
    if let Some(s) = scale {
        per_column(s, cols, "StandardScaler scale_")?;
    }
    each_row(x, cols, |row| {
        if let Some(m) = mean {
            row.iter_mut().zip(m).for_each(|(v, m)| *v -= m);
        }
        if let Some(s) = scale {
            row.iter_mut().zip(s).for_each(|(v, s)| *v /= s);
        }
    });
    Ok(())
}

/// `RobustScaler.transform`: `x -= center` (when `with_centering`), then
/// `x /= scale` (when `with_scaling`).
pub fn robust_scale(
    x: &mut [f64],
    cols: usize,
    center: Option<&[f64]>,
    scale: Option<&[f64]>,
) -> Result<()> {
    standard_scale(x, cols, center, scale)
}

/// `MinMaxScaler.transform`: `x *= scale_`, `x += min_`, then, when the
/// scaler clips, `numpy.clip` to `feature_range` (`(lo, hi)`).
pub fn min_max_scale(
    x: &mut [f64],
    cols: usize,
    scale: &[f64],
    min: &[f64],
    clip: Option<(f64, f64)>,
) -> Result<()> {
    rows_of(x, cols, "MinMaxScaler input")?;
    per_column(scale, cols, "MinMaxScaler scale_")?;
    per_column(min, cols, "MinMaxScaler min_")?;
    each_row(x, cols, |row| {
        for ((v, s), m) in row.iter_mut().zip(scale).zip(min) {
            *v *= s;
            *v += m;
            if let Some((lo, hi)) = clip {
                *v = numpy_clip(*v, lo, hi);
            }
        }
    });
    Ok(())
}

/// `MaxAbsScaler.transform`: `x /= scale_`, then, when the scaler clips,
/// `numpy.clip` to `[-1, 1]`.
pub fn max_abs_scale(x: &mut [f64], cols: usize, scale: &[f64], clip: bool) -> Result<()> {
    rows_of(x, cols, "MaxAbsScaler input")?;
    per_column(scale, cols, "MaxAbsScaler scale_")?;
    each_row(x, cols, |row| {
        for (v, s) in row.iter_mut().zip(scale) {
            *v /= s;
            if clip {
                *v = numpy_clip(*v, -1.0, 1.0);
            }
        }
    });
    Ok(())
}

/// `numpy.clip(v, lo, hi)` for floats: `min(max(v, lo), hi)` with numpy's
/// comparisons, so NaN stays NaN and `-0.0` clipped at `lo = 0.0` becomes
/// `0.0` (numpy's `max` returns its second operand on equality).
pub fn numpy_clip(v: f64, lo: f64, hi: f64) -> f64 {
    if v.is_nan() {
        return v;
    }
    let t = if v > lo { v } else { lo };
    if t.is_nan() {
        return t;
    }
    if t < hi {
        t
    } else {
        hi
    }
}

/// Which norm `Normalizer` divides each row by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Sum of absolute values.
    L1,
    /// Euclidean length.
    L2,
    /// Largest absolute value.
    Max,
}

/// numpy's sum of a contiguous float64 vector, `numpy.add.reduce`: the
/// identity `0.0` plus the pairwise sum of numpy's `DOUBLE_pairwise_sum`
/// (eight accumulators over blocks of up to 128 values, halves above).
/// This is the order of `x.sum(axis=1)` on a C-contiguous array, each row
/// a contiguous run.
pub fn numpy_sum(values: &[f64]) -> f64 {
    0.0 + pairwise_sum(values)
}

fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `numpy.einsum("ij,ij->i", X, X)` for one contiguous row, as numpy's
/// `double_sum_of_products_contig_contig_outstride0_two` computes it with
/// 128-bit SIMD and no fused multiply-add (numpy's x86-64 baseline): two
/// lanes (even and odd positions), blocks of eight folded from the last
/// pair to the first, a zero-padded tail, then lane 0 + lane 1.
fn einsum_sum_of_squares(row: &[f64]) -> f64 {
    let mut acc = [0.0f64; 2];
    let mut blocks = row.chunks_exact(8);
    for b in &mut blocks {
        for l in 0..2 {
            let t = b[6 + l] * b[6 + l] + acc[l];
            let t = b[4 + l] * b[4 + l] + t;
            let t = b[2 + l] * b[2 + l] + t;
            acc[l] = b[l] * b[l] + t;
        }
    }
    for pair in blocks.remainder().chunks(2) {
        for l in 0..2 {
            let v = pair.get(l).copied().unwrap_or(0.0);
            acc[l] += v * v;
        }
    }
    0.0 + (acc[0] + acc[1])
}

/// The memory order numpy holds a matrix in. Row reductions
/// (`x.sum(axis=1)`, `einsum("ij,ij->i")`) sum in a different order for
/// each: pairwise along each contiguous row (C), or column after column,
/// left to right (F). scikit-learn holds a pandas data frame's values in
/// F order, and keeps that order through scalers and imputers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumpyOrder {
    /// Row-major (C-contiguous).
    C,
    /// Column-major (Fortran-contiguous).
    F,
}

/// The norm `Normalizer` divides a row by, before the zero check, for an
/// F-ordered matrix of more than one row: numpy adds the columns one after
/// the other (`0 + |x0| + |x1| + ...`; for `l2`, each square rounded, then
/// added).
fn row_norm_by_columns(row: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::L1 => row.iter().fold(0.0, |s, v| s + v.abs()),
        Norm::L2 => row.iter().fold(0.0, |s, v| s + v * v).sqrt(),
        Norm::Max => row_norm(row, norm),
    }
}

/// The norm `Normalizer` divides a row by, before the zero check, for a
/// C-ordered matrix (or a single row).
fn row_norm(row: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::L1 => {
            // np.abs(X).sum(axis=1): the absolute values, then numpy's sum.
            let mut abs = [0.0f64; 128];
            if row.len() <= abs.len() {
                for (a, v) in abs.iter_mut().zip(row) {
                    *a = v.abs();
                }
                numpy_sum(&abs[..row.len()])
            } else {
                numpy_sum(&row.iter().map(|v| v.abs()).collect::<Vec<f64>>())
            }
        }
        Norm::L2 => einsum_sum_of_squares(row).sqrt(),
        Norm::Max => row.iter().fold(f64::NEG_INFINITY, |m, v| {
            let a = v.abs();
            if m.is_nan() || a.is_nan() {
                f64::NAN
            } else if a > m {
                a
            } else {
                m
            }
        }),
    }
}

/// `Normalizer.transform` (`sklearn.preprocessing.normalize`, rows): each
/// row divided by its norm; a norm below `10 × f64::EPSILON` (zero rows)
/// is replaced by 1, as scikit-learn's `_handle_zeros_in_scale` does.
///
/// `order` is the order numpy holds the matrix in (see [`NumpyOrder`]):
/// the sums of `l1` and `l2` follow it.
///
/// Bit-identity: `max`, and `l1` and `l2` of F-ordered matrices, match
/// numpy everywhere. For C-ordered ones, `l1` is numpy's pairwise sum
/// (identical everywhere) and `l2` numpy's `einsum`, whose order depends on
/// the SIMD width numpy was compiled for: this follows numpy's x86-64
/// baseline (two 64-bit lanes, multiply and add rounded separately), as
/// numpy's x86-64 wheels compute it. Other builds (aarch64, whose NEON
/// multiply-add is fused, or a numpy built for a wider baseline) may
/// differ in the last bit of a norm.
pub fn normalize_rows(x: &mut [f64], cols: usize, norm: Norm, order: NumpyOrder) -> Result<()> {
    let rows = rows_of(x, cols, "Normalizer input")?;
    normalize_batch_rows(x, cols, norm, order, rows)
}

/// [`normalize_rows`] on some of the rows of a matrix of `batch_rows` rows
/// (what Python is given, read in pieces by the binary): the sums follow
/// the order of the whole matrix, whatever the number of rows in `x`.
pub fn normalize_batch_rows(
    x: &mut [f64],
    cols: usize,
    norm: Norm,
    order: NumpyOrder,
    batch_rows: usize,
) -> Result<()> {
    rows_of(x, cols, "Normalizer input")?;
    // One row is both C- and F-contiguous: numpy reduces it as a vector.
    let by_columns = order == NumpyOrder::F && batch_rows > 1;
    each_row(x, cols, |row| {
        let mut n = if by_columns {
            row_norm_by_columns(row, norm)
        } else {
            row_norm(row, norm)
        };
        if n < 10.0 * f64::EPSILON {
            n = 1.0;
        }
        row.iter_mut().for_each(|v| *v /= n);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from scikit-learn 1.9.1 / numpy 2.4.6 (x86-64), with
    // the script in each comment.

    #[test]
    fn scalers_do_scikit_learns_arithmetic() {
        // x = [[1.5, -2.0], [0.1, 7.25]]: StandardScaler with mean [0.3, 1.1],
        // scale [0.7, 3.0] is (x - mean) / scale, each step rounded.
        let mut x = vec![1.5, -2.0, 0.1, 7.25];
        standard_scale(&mut x, 2, Some(&[0.3, 1.1]), Some(&[0.7, 3.0])).unwrap();
        let want = [
            (1.5f64 - 0.3) / 0.7,
            (-2.0f64 - 1.1) / 3.0,
            (0.1f64 - 0.3) / 0.7,
            (7.25f64 - 1.1) / 3.0,
        ];
        assert_eq!(x, want);
        let mut y = vec![0.1, 0.2];
        standard_scale(&mut y, 2, None, Some(&[3.0, 3.0])).unwrap();
        assert_eq!(y, [0.1 / 3.0, 0.2 / 3.0]);
        let mut z = vec![0.1, f64::NAN];
        min_max_scale(&mut z, 2, &[0.3, 1.0], &[0.7, 0.0], Some((0.0, 1.0))).unwrap();
        assert_eq!(z[0], 0.1f64 * 0.3 + 0.7);
        assert!(z[1].is_nan());
        let mut w = vec![-3.0, 0.5];
        max_abs_scale(&mut w, 2, &[2.0, 0.25], true).unwrap();
        assert_eq!(w, [-1.0, 1.0]);
        assert!(standard_scale(&mut [1.0, 2.0, 3.0], 2, None, None).is_err());
        assert!(min_max_scale(&mut [1.0], 1, &[1.0, 2.0], &[0.0], None).is_err());
    }

    #[test]
    fn clip_is_numpys() {
        assert_eq!(numpy_clip(-0.0, 0.0, 1.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(numpy_clip(2.0, 0.0, 1.0), 1.0);
        assert_eq!(numpy_clip(-5.0, -1.0, 1.0), -1.0);
        assert!(numpy_clip(f64::NAN, 0.0, 1.0).is_nan());
        assert_eq!(numpy_clip(f64::INFINITY, 0.0, 1.0), 1.0);
    }

    /// A reproducible spread of magnitudes, so that summation order shows.
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                (u - 0.5) * 10f64.powi(((s >> 7) % 9) as i32 - 3)
            })
            .collect()
    }

    #[test]
    fn numpy_pairwise_sum_order() {
        // The order matters: a naive left-to-right sum differs for these.
        let v = values(300, 7);
        let naive: f64 = v.iter().fold(0.0, |a, b| a + b);
        let pw = numpy_sum(&v);
        // Against numpy itself: python/oxlearn/tests/test_pipeline_cli.py
        // (Normalizer(norm="l1") on rows of 1 to 300 values).
        assert!((pw - naive).abs() < 1e-9 * v.iter().map(|x| x.abs()).sum::<f64>());
        assert_eq!(numpy_sum(&[]), 0.0);
        assert_eq!(numpy_sum(&[1.0, 2.0]), 3.0);
        // n = 9: eight accumulators then the ninth added to their sum.
        let nine: Vec<f64> = (1..=9).map(|i| 1.0 / i as f64).collect();
        let r = nine[..8].to_vec();
        let want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])) + nine[8];
        assert_eq!(numpy_sum(&nine), 0.0 + want);
    }

    #[test]
    fn normalizer_norms_and_zero_rows() {
        // python: from sklearn.preprocessing import normalize
        // normalize([[3., 4.], [0., 0.], [1e-20, 0.]], norm=...)
        for norm in [Norm::L1, Norm::L2, Norm::Max] {
            let mut x = vec![3.0, 4.0, 0.0, 0.0, 1e-20, 0.0];
            normalize_rows(&mut x, 2, norm, NumpyOrder::C).unwrap();
            let first = match norm {
                Norm::L1 => [3.0 / 7.0, 4.0 / 7.0],
                Norm::L2 => [0.6, 0.8],
                Norm::Max => [0.75, 1.0],
            };
            assert_eq!(&x[..2], &first);
            // Below 10 eps: divided by 1, unchanged.
            assert_eq!(&x[2..], &[0.0, 0.0, 1e-20, 0.0]);
        }
        // Eleven values: two lanes over a block of eight, then the tail.
        let row: Vec<f64> = (1..=11).map(|i| i as f64 * 0.1).collect();
        let mut acc = [0.0f64; 2];
        for l in 0..2 {
            let t = row[6 + l] * row[6 + l] + acc[l];
            let t = row[4 + l] * row[4 + l] + t;
            let t = row[2 + l] * row[2 + l] + t;
            acc[l] = row[l] * row[l] + t;
        }
        acc[0] += row[8] * row[8];
        acc[1] += row[9] * row[9];
        acc[0] += row[10] * row[10];
        assert_eq!(einsum_sum_of_squares(&row), acc[0] + acc[1]);
        // F order: column after column.
        let seq = row.iter().fold(0.0, |s, v| s + v * v);
        assert_eq!(row_norm_by_columns(&row, Norm::L2), seq.sqrt());
        let mut two = [row.clone(), row.clone()].concat();
        normalize_rows(&mut two, 11, Norm::L2, NumpyOrder::F).unwrap();
        assert_eq!(two[0], row[0] / seq.sqrt());
        let mut one = row.clone();
        normalize_rows(&mut one, 11, Norm::L2, NumpyOrder::F).unwrap();
        assert_eq!(one[0], row[0] / (acc[0] + acc[1]).sqrt());
    }
}
