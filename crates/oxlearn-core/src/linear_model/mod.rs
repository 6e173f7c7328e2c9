//! Linear models: ordinary least squares and ridge regression, one-shot and
//! incremental, plus the shared prediction kernel.

mod least_squares;
mod ridge;

pub use least_squares::{fit_least_squares, least_squares_from_moments, LeastSquaresParams};
pub use ridge::{fit_ridge, ridge_fit_from_moments, RidgeParams};

use crate::linalg::chunks::copy_to_f64;
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};
use rayon::prelude::*;

/// A fitted linear model `y = X coefᵀ + intercept`, in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// t×p coefficients.
    pub coef: Mat<f64>,
    /// One intercept per target (zeros without `fit_intercept`).
    pub intercept: Vec<f64>,
    /// Effective rank of the centred `X` (least squares only).
    pub rank: Option<usize>,
    /// Singular values of the centred, weighted `X` (least squares only).
    pub singular: Option<Vec<f64>>,
}

/// Rows per prediction task: large enough to amortise scheduling, small
/// enough that the `f64` copy of a block stays in L1/L2.
const PREDICT_BLOCK_ROWS: usize = 512;

/// Predicts `out[i, k] = Σ_j x[i, j] coef[k, j] + intercept[k]`, with `out`
/// row-major n×t.
///
/// Each value is summed in `f64` over `j` in ascending order whatever `x`'s
/// memory layout, SIMD level or thread count, then rounded to `T`: the same
/// model gives bit-identical predictions everywhere. Fails on NaN/infinity
/// in `x` and on shape mismatches.
pub fn predict_linear<T: Real>(
    x: MatRef<'_, T>,
    coef: MatRef<'_, T>,
    intercept: &[T],
    out: &mut [T],
) -> Result<()> {
    let (n, p) = x.shape();
    let t = coef.nrows();
    if coef.ncols() != p {
        return Err(Error::ShapeMismatch {
            what: "number of features in X vs the fitted model's n_features_in_".into(),
            expected: coef.ncols(),
            got: p,
        });
    }
    if intercept.len() != t || out.len() != n * t {
        return Err(Error::ShapeMismatch {
            what: "number of targets (intercept or output) vs coef".into(),
            expected: t,
            got: intercept.len(),
        });
    }
    let c: Vec<f64> = (0..t)
        .flat_map(|k| (0..p).map(move |j| (k, j)))
        .map(|(k, j)| coef[(k, j)].to_f64())
        .collect();
    let b: Vec<f64> = intercept.iter().map(|v| v.to_f64()).collect();
    out.par_chunks_mut(PREDICT_BLOCK_ROWS * t.max(1))
        .enumerate()
        .try_for_each(|(blk, out)| -> Result<()> {
            let r0 = blk * PREDICT_BLOCK_ROWS;
            let len = out.len() / t.max(1);
            let mut buf = Vec::new();
            let xb = copy_to_f64(x.subrows(r0, len), "X", r0, &mut buf)?;
            let mut acc = vec![0.0f64; len * t];
            if xb.col_stride() == 1 {
                for i in 0..len {
                    for k in 0..t {
                        let ck = &c[k * p..(k + 1) * p];
                        let mut s = 0.0;
                        for j in 0..p {
                            s += xb[(i, j)] * ck[j];
                        }
                        acc[i * t + k] = s;
                    }
                }
            } else {
                // Column-major block: same per-value order (j ascending), so the
                // result is bit-identical to the row-major path.
                for j in 0..p {
                    for k in 0..t {
                        let ckj = c[k * p + j];
                        for i in 0..len {
                            acc[i * t + k] += xb[(i, j)] * ckj;
                        }
                    }
                }
            }
            for (o, (a, k)) in out.iter_mut().zip(acc.iter().zip((0..t).cycle())) {
                *o = T::from_f64(a + b[k]);
            }
            Ok(())
        })
}

/// Casts a fitted model's coefficients to `T`, row-major t×p.
pub fn coef_as<T: Real>(coef: MatRef<'_, f64>) -> Vec<T> {
    let (t, p) = coef.shape();
    let mut v = Vec::with_capacity(t * p);
    for k in 0..t {
        for j in 0..p {
            v.push(T::from_f64(coef[(k, j)]));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_is_layout_independent_and_exact_on_small_ints() {
        let xs: Vec<f64> = (0..2000 * 3).map(|v| (v % 17) as f64 - 8.0).collect();
        let x_rm = MatRef::from_row_major_slice(&xs, 2000, 3);
        let x_cm_data: Vec<f64> = (0..3)
            .flat_map(|j| (0..2000).map(move |i| (i, j)))
            .map(|(i, j)| x_rm[(i, j)])
            .collect();
        let x_cm = MatRef::from_column_major_slice(&x_cm_data, 2000, 3);
        let coef = [0.1, -2.0, 3.5, 1.0, 1.0, 1.0];
        let coef = MatRef::from_row_major_slice(&coef, 2, 3);
        let mut a = vec![0.0; 4000];
        let mut b = vec![0.0; 4000];
        predict_linear(x_rm, coef, &[1.0, 0.0], &mut a).unwrap();
        predict_linear(x_cm, coef, &[1.0, 0.0], &mut b).unwrap();
        assert_eq!(a, b);
        for i in 0..2000 {
            assert_eq!(a[2 * i + 1], x_rm[(i, 0)] + x_rm[(i, 1)] + x_rm[(i, 2)]);
        }
    }

    #[test]
    fn predict_checks_shapes_and_nan() {
        let xs = [1.0f32, f32::NAN];
        let x = MatRef::from_row_major_slice(&xs, 1, 2);
        let coef = [1.0f32, 1.0];
        let mut out = [0.0f32];
        let err = predict_linear(
            x,
            MatRef::from_row_major_slice(&coef, 1, 2),
            &[0.0],
            &mut out,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("Input X contains NaN."));
        let err = predict_linear(
            x,
            MatRef::from_row_major_slice(&coef[..1], 1, 1),
            &[0.0],
            &mut out,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::ShapeMismatch {
                expected: 1,
                got: 2,
                ..
            }
        ));
    }
}
