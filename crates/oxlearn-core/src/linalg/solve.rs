//! Dense p×p solves on accumulated moments.

use super::Moments;
use crate::{Error, Result};
use faer::{Mat, MatRef, Par, Side};

/// Makes faer's own dense decompositions sequential. oxlearn parallelises
/// across row chunks itself; faer's internal parallelism would make results
/// depend on the thread count and nest thread pools.
pub fn sequential_dense_kernels() {
    faer::set_global_parallelism(Par::Seq);
}

/// Solves `a x = b` for symmetric positive definite `a` by Cholesky.
/// Returns `None` when `a` is not numerically positive definite.
pub fn cholesky_solve(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Option<Mat<f64>> {
    sequential_dense_kernels();
    let llt = a.llt(Side::Lower).ok()?;
    let x = faer::linalg::solvers::Solve::solve(&llt, b);
    x.is_all_finite().then_some(x)
}

/// Eigenvalues (ascending) and eigenvectors of the symmetric matrix `a`.
pub fn symmetric_eigen(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    sequential_dense_kernels();
    let evd = a.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::NumericalFailure(format!(
            "symmetric eigendecomposition did not converge: {e:?}"
        ))
    })?;
    let vals: Vec<f64> = (0..a.nrows()).map(|i| evd.S()[i]).collect();
    Ok((vals, evd.U().to_owned()))
}

/// Minimum-norm solution of `a x = b` for symmetric positive semi-definite
/// `a`: eigenvalues at or below `cutoff` are treated as zero.
/// Returns the solution and the number of eigenvalues kept.
pub fn min_norm_solve_psd(
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    cutoff: f64,
) -> Result<(Mat<f64>, usize)> {
    let (vals, vecs) = symmetric_eigen(a)?;
    let (p, t) = (a.nrows(), b.ncols());
    let mut x = Mat::zeros(p, t);
    let mut kept = 0;
    for (i, &lam) in vals.iter().enumerate() {
        if lam <= cutoff {
            continue;
        }
        kept += 1;
        let v = vecs.col(i);
        for k in 0..t {
            // (vᵀ b_k) / λ along v
            let mut proj = 0.0;
            for r in 0..p {
                proj += v[r] * b[(r, k)];
            }
            let s = proj / lam;
            for r in 0..p {
                x[(r, k)] += s * v[r];
            }
        }
    }
    Ok((x, kept))
}

/// Ridge coefficients (t×p) from moments: `(Cxx + α_k I) w_k = Cxy[:, k]`.
///
/// `alpha` holds one penalty for all targets or one per target. A system
/// that is not positive definite (α = 0 on singular data) gets the
/// minimum-norm solution instead, as scikit-learn's cholesky solver falls
/// back to least squares.
pub fn ridge_from_moments(m: &Moments, alpha: &[f64]) -> Result<Mat<f64>> {
    let (p, t) = (m.n_features(), m.n_targets());
    if alpha.len() != 1 && alpha.len() != t {
        return Err(Error::ShapeMismatch {
            what: "number of penalties (alpha) vs number of targets".into(),
            expected: t,
            got: alpha.len(),
        });
    }
    for &a in alpha {
        if !(a.is_finite() && a >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "alpha",
                reason: format!("{a}; alpha must be finite and non-negative"),
            });
        }
    }
    let mut coef = Mat::zeros(t, p);
    let groups: Vec<(f64, Vec<usize>)> = if alpha.len() == 1 {
        vec![(alpha[0], (0..t).collect())]
    } else {
        (0..t).map(|k| (alpha[k], vec![k])).collect()
    };
    for (a, targets) in groups {
        let mut lhs = m.cxx.clone();
        for i in 0..p {
            lhs[(i, i)] += a;
        }
        let rhs = Mat::from_fn(p, targets.len(), |i, k| m.cxy[(i, targets[k])]);
        let sol = match cholesky_solve(lhs.as_ref(), rhs.as_ref()) {
            Some(s) => s,
            None => {
                let cutoff = psd_cutoff(lhs.as_ref());
                min_norm_solve_psd(lhs.as_ref(), rhs.as_ref(), cutoff)?.0
            }
        };
        for (k, &tk) in targets.iter().enumerate() {
            for i in 0..p {
                coef[(tk, i)] = sol[(i, k)];
            }
        }
    }
    Ok(coef)
}

/// Pseudo-inverse of a symmetric matrix, as `scipy.linalg.pinvh` computes it:
/// eigenvalues with |λ| ≤ p · ε · max|λ| are treated as zero.
pub fn pinvh(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let (vals, vecs) = symmetric_eigen(a)?;
    let p = a.nrows();
    let largest = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cutoff = (p.max(1) as f64) * f64::EPSILON * largest;
    let mut out = Mat::zeros(p, p);
    for (k, &lam) in vals.iter().enumerate() {
        if lam.abs() <= cutoff {
            continue;
        }
        let v = vecs.col(k);
        for j in 0..p {
            let s = v[j] / lam;
            for i in 0..p {
                out[(i, j)] += v[i] * s;
            }
        }
    }
    Ok(out)
}

/// Eigenvalue cutoff below which a Gram matrix's eigenvalues are rounding
/// noise: 10 · p · ε · λ_max (the largest diagonal entry bounds λ_max
/// within a factor p).
pub fn psd_cutoff(a: MatRef<'_, f64>) -> f64 {
    let p = a.nrows();
    let max_diag = (0..p).map(|i| a[(i, i)]).fold(0.0f64, f64::max);
    10.0 * (p.max(1) as f64) * f64::EPSILON * max_diag
}

/// Intercepts `ȳ_k − Σ_j coef[k, j] x̄_j` (zeros when the moments are raw).
pub fn intercept_from_means(m: &Moments, coef: MatRef<'_, f64>) -> Vec<f64> {
    (0..m.n_targets())
        .map(|k| {
            if !m.centered {
                return 0.0;
            }
            let mut dot = 0.0;
            for j in 0..m.n_features() {
                dot += coef[(k, j)] * m.mean_x[j];
            }
            m.mean_y[k] - dot
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_norm_drops_null_space() {
        // a = diag(2, 0): the minimum-norm solution has no component along e2.
        let a = Mat::from_fn(2, 2, |i, j| if i == j && i == 0 { 2.0 } else { 0.0 });
        let b = Mat::from_fn(2, 1, |i, _| if i == 0 { 4.0 } else { 0.0 });
        let (x, kept) = min_norm_solve_psd(a.as_ref(), b.as_ref(), 1e-12).unwrap();
        assert_eq!(kept, 1);
        assert!((x[(0, 0)] - 2.0).abs() < 1e-14 && x[(1, 0)].abs() < 1e-14);
    }

    #[test]
    fn cholesky_refuses_indefinite() {
        let a = Mat::from_fn(2, 2, |i, j| if i == j { -1.0 } else { 0.0 });
        let b = Mat::<f64>::zeros(2, 1);
        assert!(cholesky_solve(a.as_ref(), b.as_ref()).is_none());
    }
}
