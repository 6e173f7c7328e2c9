//! Ordinary least squares: normal equations over chunked centred moments,
//! solved by Cholesky, with a rank-revealing QR/SVD path for singular or
//! ill-conditioned data.

use super::LinearFit;
use crate::linalg::solve::{
    cholesky_solve, intercept_from_means, min_norm_solve_psd, psd_cutoff, symmetric_eigen,
};
use crate::linalg::{tsqr, Moments};
use crate::{Error, Real, Result};
use faer::MatRef;

/// Parameters of [`fit_least_squares`].
#[derive(Debug, Clone, Copy)]
pub struct LeastSquaresParams {
    /// Centre the data and fit an intercept.
    pub fit_intercept: bool,
    /// Singular values of the centred X at or below `tol * s_max` count as
    /// zero (scikit-learn's `LinearRegression.tol`, passed to `lstsq` as `cond`).
    pub tol: f64,
    /// Rows per chunk (0: automatic). A tuning knob; it does not change the
    /// mathematical result, only rounding.
    pub chunk_rows: usize,
}

impl Default for LeastSquaresParams {
    fn default() -> Self {
        LeastSquaresParams {
            fit_intercept: true,
            tol: 1e-6,
            chunk_rows: 0,
        }
    }
}

/// Below this ratio of smallest to largest singular value the normal
/// equations lose too many digits (their condition number is the square of
/// X's); such data takes the QR path.
const NORMAL_EQUATIONS_MIN_RCOND: f64 = 1e-4;

/// Up to this many elements in X, the QR path is used even for well-
/// conditioned data: it is as accurate as LAPACK's `gelsd` and, at this size,
/// costs microseconds.
const SMALL_PROBLEM_ELEMENTS: usize = 1 << 16;

/// Fits `y ≈ X coefᵀ + intercept` by (weighted) least squares; the minimum-
/// norm solution when X is rank-deficient, as `scipy.linalg.lstsq` gives.
pub fn fit_least_squares<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    params: &LeastSquaresParams,
) -> Result<LinearFit> {
    check_tol(params.tol)?;
    let m = Moments::from_data(x, y, w, params.fit_intercept, params.chunk_rows)?;
    least_squares_given_moments(x, y, w, params, m)
}

/// [`fit_least_squares`] once the moments of `[X | y]` are known (computed
/// here or on a GPU): the same decisions and solves on the host.
pub(crate) fn least_squares_given_moments<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    params: &LeastSquaresParams,
    m: Moments,
) -> Result<LinearFit> {
    check_tol(params.tol)?;
    let (n, p) = x.shape();
    let (vals, _) = symmetric_eigen(m.cxx.as_ref())?;
    let singular = singular_from_gram(&vals, n);
    let smax = singular.first().copied().unwrap_or(0.0);
    let smin = singular.last().copied().unwrap_or(0.0);
    let well_conditioned =
        n >= p && smax > 0.0 && smin > smax * NORMAL_EQUATIONS_MIN_RCOND.max(10.0 * params.tol);
    if well_conditioned && n * p > SMALL_PROBLEM_ELEMENTS {
        if let Some(sol) = cholesky_solve(m.cxx.as_ref(), m.cxy.as_ref()) {
            let coef = sol.transpose().to_owned();
            let intercept = intercept_from_means(&m, coef.as_ref());
            return Ok(LinearFit {
                coef,
                intercept,
                rank: Some(p),
                singular: Some(singular),
            });
        }
    }
    // Small, singular or ill-conditioned: a second pass through the data, by QR.
    let ls = tsqr::lstsq(x, y, w, &m.mean_x, &m.mean_y, params.chunk_rows, params.tol)?;
    let intercept = intercept_from_means(&m, ls.coef.as_ref());
    Ok(LinearFit {
        coef: ls.coef,
        intercept,
        rank: Some(ls.rank),
        singular: Some(ls.singular),
    })
}

/// Least squares from accumulated moments alone (incremental fitting, where
/// the data is gone): minimum norm through the Gram matrix's eigenvectors.
pub fn least_squares_from_moments(m: &Moments) -> Result<LinearFit> {
    if m.sum_weights == 0.0 {
        return Err(Error::EmptyInput {
            what: "the accumulated data (no sample has positive weight)",
        });
    }
    let cutoff = psd_cutoff(m.cxx.as_ref());
    let (sol, rank) = min_norm_solve_psd(m.cxx.as_ref(), m.cxy.as_ref(), cutoff)?;
    let coef = sol.transpose().to_owned();
    let intercept = intercept_from_means(m, coef.as_ref());
    Ok(LinearFit {
        coef,
        intercept,
        rank: Some(rank),
        singular: None,
    })
}

fn check_tol(tol: f64) -> Result<()> {
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "tol",
            reason: format!("{tol}; tol must be finite and >= 0"),
        });
    }
    Ok(())
}

/// Singular values of X (descending, `min(n, p)` of them) from the
/// eigenvalues of XᵀX (ascending).
fn singular_from_gram(eigenvalues: &[f64], n: usize) -> Vec<f64> {
    let k = n.min(eigenvalues.len());
    eigenvalues
        .iter()
        .rev()
        .take(k)
        .map(|&l| l.max(0.0).sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_add(0x9E3779B97F4A7C15);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn recovers_exact_coefficients() {
        let (n, p) = (500, 4);
        let xs = lcg(n * p, 1);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let truth = [1.5, -2.0, 0.25, 3.0];
        let ys: Vec<f64> = (0..n)
            .map(|i| 7.0 + (0..p).map(|j| truth[j] * x[(i, j)]).sum::<f64>())
            .collect();
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let fit = fit_least_squares(x, y, None, &LeastSquaresParams::default()).unwrap();
        for j in 0..p {
            assert!(
                (fit.coef[(0, j)] - truth[j]).abs() < 1e-12,
                "{:?}",
                fit.coef
            );
        }
        assert!((fit.intercept[0] - 7.0).abs() < 1e-12);
        assert_eq!(fit.rank, Some(p));
    }

    #[test]
    fn duplicated_column_gives_minimum_norm() {
        // Column 1 duplicates column 0: the minimum-norm solution splits the
        // weight equally between them.
        let n = 300;
        let base = lcg(n, 2);
        let other = lcg(n, 3);
        let xs: Vec<f64> = (0..n).flat_map(|i| [base[i], base[i], other[i]]).collect();
        let x = MatRef::from_row_major_slice(&xs, n, 3);
        let ys: Vec<f64> = (0..n).map(|i| 2.0 * base[i] - other[i] + 1.0).collect();
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let fit = fit_least_squares(x, y, None, &LeastSquaresParams::default()).unwrap();
        assert_eq!(fit.rank, Some(2));
        assert!((fit.coef[(0, 0)] - 1.0).abs() < 1e-10);
        assert!((fit.coef[(0, 1)] - 1.0).abs() < 1e-10);
        assert!((fit.coef[(0, 2)] + 1.0).abs() < 1e-10);
        assert!((fit.intercept[0] - 1.0).abs() < 1e-10);
    }

    #[test]
    fn fewer_samples_than_features() {
        let (n, p) = (3, 6);
        let xs = lcg(n * p, 4);
        let ys = lcg(n, 5);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let fit = fit_least_squares(x, y, None, &LeastSquaresParams::default()).unwrap();
        // Interpolates the training data (rank n - 1 after centring).
        assert_eq!(fit.rank, Some(2));
        assert_eq!(fit.singular.as_ref().map(Vec::len), Some(3));
        for i in 0..n {
            let pred: f64 =
                fit.intercept[0] + (0..p).map(|j| fit.coef[(0, j)] * x[(i, j)]).sum::<f64>();
            assert!((pred - ys[i]).abs() < 1e-10);
        }
    }

    #[test]
    fn incremental_matches_one_shot() {
        let (n, p) = (400, 3);
        let xs = lcg(n * p, 6);
        let ys = lcg(n, 7);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let one = fit_least_squares(x, y, None, &LeastSquaresParams::default()).unwrap();
        let mut m = Moments::empty(p, 1, true);
        for s in (0..n).step_by(37) {
            let len = 37.min(n - s);
            m.merge(
                &Moments::from_data(x.subrows(s, len), y.subrows(s, len), None, true, 0).unwrap(),
            );
        }
        let inc = least_squares_from_moments(&m).unwrap();
        for j in 0..p {
            assert!(
                (inc.coef[(0, j)] - one.coef[(0, j)]).abs()
                    < 1e-12 * one.coef[(0, j)].abs().max(1.0)
            );
        }
    }

    #[test]
    fn rejects_bad_tol() {
        let xs = [1.0, 2.0];
        let x = MatRef::from_row_major_slice(&xs, 2, 1);
        let params = LeastSquaresParams {
            tol: -1.0,
            ..Default::default()
        };
        assert!(matches!(
            fit_least_squares(x, x, None, &params),
            Err(Error::InvalidParameter { name: "tol", .. })
        ));
    }
}
