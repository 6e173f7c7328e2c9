//! Least squares through a tall-skinny QR: the rank-revealing path used when
//! the normal equations are singular or ill-conditioned.
//!
//! Each row chunk of the centred, weighted `[X | y]` is reduced to its R
//! factor, and the R factors are stacked and re-factorised in chunk order
//! (deterministic for any thread count). The singular values of the final R's
//! `X` block are those of the centred `X`, so the cutoff below matches
//! LAPACK's `gelsd` as scikit-learn calls it (`cond = tol`).

use super::chunks::{copy_shifted, ChunkPlan};
use super::solve::sequential_dense_kernels;
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};

/// Result of a least-squares solve.
#[derive(Debug, Clone)]
pub struct Lstsq {
    /// t×p coefficients (minimum norm).
    pub coef: Mat<f64>,
    /// Effective rank of the centred, weighted `X`.
    pub rank: usize,
    /// Singular values of the centred, weighted `X`, descending, `min(n, p)`.
    pub singular: Vec<f64>,
}

/// Minimum-norm least squares on `sqrt(w) * (X - mean_x)` and
/// `sqrt(w) * (y - mean_y)`, treating singular values `<= rcond * s_max` as zero.
#[allow(clippy::too_many_arguments)]
pub fn lstsq<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    mean_x: &[f64],
    mean_y: &[f64],
    chunk_rows: usize,
    rcond: f64,
) -> Result<Lstsq> {
    let (n, p) = x.shape();
    let t = y.ncols();
    let r = r_factor(x, y, w, mean_x, mean_y, chunk_rows)?;
    let kx = r.nrows().min(p);
    let r11 = r.as_ref().submatrix(0, 0, kx, p);
    let z = r.as_ref().submatrix(0, p, kx, t);
    let svd = r11
        .thin_svd()
        .map_err(|e| Error::NumericalFailure(format!("SVD did not converge: {e:?}")))?;
    let s: Vec<f64> = (0..kx).map(|i| svd.S()[i]).collect();
    let smax = s.first().copied().unwrap_or(0.0);
    let rank = s.iter().filter(|&&v| v > rcond * smax && v > 0.0).count();
    let (u, v) = (svd.U(), svd.V());
    let mut coef = Mat::zeros(t, p);
    for i in 0..rank {
        for k in 0..t {
            let mut proj = 0.0;
            for r in 0..kx {
                proj += u[(r, i)] * z[(r, k)];
            }
            let c = proj / s[i];
            for j in 0..p {
                coef[(k, j)] += c * v[(j, i)];
            }
        }
    }
    let mut singular = s;
    singular.resize(n.min(p), 0.0);
    Ok(Lstsq {
        coef,
        rank,
        singular,
    })
}

/// The R factor (at most `p + t` rows) of the centred, weighted
/// `[sqrt(w) (X - mean_x) | sqrt(w) (y - mean_y)]`: chunks are reduced to
/// their R in parallel and the R factors stacked and re-factorised in chunk
/// order, so the result does not depend on the thread count. Its singular
/// values and right singular vectors are those of the whole matrix.
pub fn r_factor<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    mean_x: &[f64],
    mean_y: &[f64],
    chunk_rows: usize,
) -> Result<Mat<f64>> {
    sequential_dense_kernels();
    let (n, p) = x.shape();
    let t = y.ncols();
    let q = p + t;
    // Chunks of at least q rows keep every chunk's R square.
    let plan = ChunkPlan::new(n, q, chunk_rows.max(q));
    let r = plan.map_fold(
        8,
        None::<Mat<f64>>,
        |rows| {
            let len = rows.len();
            let ws: Option<Vec<f64>> =
                w.map(|w| w[rows.clone()].iter().map(|v| v.to_f64()).collect());
            let mut xbuf = Vec::new();
            let mut ybuf = Vec::new();
            let (xs, ys) = (x.subrows(rows.start, len), y.subrows(rows.start, len));
            let (xb, _) = copy_shifted(xs, "X", rows.start, mean_x, ws.as_deref(), &mut xbuf)?;
            let (yb, _) = copy_shifted(ys, "y", rows.start, mean_y, ws.as_deref(), &mut ybuf)?;
            let a = Mat::from_fn(
                len,
                q,
                |i, j| if j < p { xb[(i, j)] } else { yb[(i, j - p)] },
            );
            Ok(a.qr().thin_R().to_owned())
        },
        |acc, r| {
            Some(match acc {
                None => r,
                Some(prev) => {
                    let stacked = Mat::from_fn(prev.nrows() + r.nrows(), q, |i, j| {
                        if i < prev.nrows() {
                            prev[(i, j)]
                        } else {
                            r[(i - prev.nrows(), j)]
                        }
                    });
                    stacked.qr().thin_R().to_owned()
                }
            })
        },
    )?;
    r.ok_or(Error::EmptyInput { what: "X" })
}
