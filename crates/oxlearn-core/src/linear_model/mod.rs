//! Linear models: ordinary least squares and ridge regression, one-shot and
//! incremental, logistic regression, elastic net and lasso by coordinate
//! descent, plus the shared prediction kernel.

mod elastic_net;
pub(crate) mod least_squares;
mod logistic;
mod ridge;

pub use elastic_net::{fit_elastic_net, ElasticNetFit, ElasticNetParams, Selection};
pub use least_squares::{fit_least_squares, least_squares_from_moments, LeastSquaresParams};
pub use logistic::{
    fit_logistic, fit_logistic_distributed, logistic_classes, logistic_outputs, LogisticFit,
    LogisticOutput, LogisticParams, LogisticSolver,
};
pub use ridge::{fit_ridge, ridge_fit_from_moments, RidgeParams};

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

/// Rows per prediction task: large enough to amortise scheduling.
const PREDICT_BLOCK_ROWS: usize = 1024;
/// Partial sums per dot product (see [`predict_linear`]).
const W: usize = 8;

/// Predicts `out[i, k] = Σ_j x[i, j] coef[k, j] + intercept[k]`, with `out`
/// row-major n×t.
///
/// Every dot product is computed in `f64` in one fixed order: feature `j`
/// goes to partial sum `j % 8` (each summed in ascending `j`, a multiply then
/// an add, never fused), and the 8 partial sums are combined as
/// `((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7))`. That order vectorises on any SIMD
/// width and is the same for every memory layout and thread count, so a
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
    if t == 0 || intercept.len() != t || out.len() != n * t {
        return Err(Error::ShapeMismatch {
            what: "number of targets (intercept or output) vs coef".into(),
            expected: t,
            got: intercept.len(),
        });
    }
    let c: Vec<f64> = (0..t)
        .flat_map(|k| (0..p).map(move |j| coef[(k, j)].to_f64()))
        .collect();
    let b: Vec<f64> = intercept.iter().map(|v| v.to_f64()).collect();
    out.par_chunks_mut(PREDICT_BLOCK_ROWS * t)
        .enumerate()
        .try_for_each(|(blk, out)| {
            let r0 = blk * PREDICT_BLOCK_ROWS;
            let len = out.len() / t;
            let xb = x.subrows(r0, len);
            let mut acc = vec![0.0f64; len * t];
            if xb.row_stride() == 1 && xb.col_stride() != 1 {
                dot_col_major(xb, &c, t, &mut acc);
            } else {
                dot_rows(xb, &c, t, &mut acc);
            }
            for i in 0..len {
                for k in 0..t {
                    let v = acc[i * t + k];
                    // Any NaN/inf input makes its row's sum non-finite; only then
                    // is the row scanned, to tell bad input from overflow.
                    if !v.is_finite() {
                        check_row_finite(xb, i, r0)?;
                    }
                    out[i * t + k] = T::from_f64(v + b[k]);
                }
            }
            Ok(())
        })
}

crate::simd::multiversion! {
    /// Row-wise dot products of a block, compiled for the best SIMD level the
    /// CPU has. Every version computes the same canonical order ([`dot`]), so
    /// the choice changes speed only, never a bit of the result.
    fn dot_rows<T: Real>(x: MatRef<'_, T>, c: &[f64], t: usize, acc: &mut [f64]) -> ()
    => dot_rows_portable
}

#[inline(always)]
fn dot_rows_portable<T: Real>(x: MatRef<'_, T>, c: &[f64], t: usize, acc: &mut [f64]) {
    let (len, p) = x.shape();
    let mut tmp = Vec::new();
    for i in 0..len {
        let row: &[T] = match x.row(i).try_as_row_major() {
            Some(r) => r.as_slice(),
            None => {
                tmp.clear();
                tmp.extend((0..p).map(|j| x[(i, j)]));
                &tmp
            }
        };
        for k in 0..t {
            acc[i * t + k] = dot(row, &c[k * p..(k + 1) * p]);
        }
    }
}

#[inline(always)]
fn combine(s: &[f64; W]) -> f64 {
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// The canonical dot product of one row with one coefficient vector.
#[inline(always)]
fn dot<T: Real>(x: &[T], c: &[f64]) -> f64 {
    let mut s = [0.0f64; W];
    let xs = x.chunks_exact(W);
    let cs = c.chunks_exact(W);
    let (xr, cr) = (xs.remainder(), cs.remainder());
    for (xq, cq) in xs.zip(cs) {
        for w in 0..W {
            s[w] += xq[w].to_f64() * cq[w];
        }
    }
    for (w, (xv, cv)) in xr.iter().zip(cr).enumerate() {
        s[w] += xv.to_f64() * cv;
    }
    combine(&s)
}

/// The same sums for a column-major block, column by column.
fn dot_col_major<T: Real>(x: MatRef<'_, T>, c: &[f64], t: usize, acc: &mut [f64]) {
    let (len, p) = x.shape();
    let mut lanes = vec![0.0f64; len * W];
    for k in 0..t {
        lanes.fill(0.0);
        for j in 0..p {
            let w = j % W;
            let ckj = c[k * p + j];
            for i in 0..len {
                lanes[i * W + w] += x[(i, j)].to_f64() * ckj;
            }
        }
        for i in 0..len {
            let s: &[f64; W] = lanes[i * W..(i + 1) * W].try_into().unwrap_or(&[0.0; W]);
            acc[i * t + k] = combine(s);
        }
    }
}

fn check_row_finite<T: Real>(x: MatRef<'_, T>, i: usize, r0: usize) -> Result<()> {
    for j in 0..x.ncols() {
        let v = x[(i, j)].to_f64();
        if !v.is_finite() {
            return Err(Error::NonFinite {
                what: "X",
                kind: crate::error::NonFiniteKind::of(v),
                dtype: T::DTYPE,
                row: r0 + i,
                col: j,
            });
        }
    }
    Ok(())
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
