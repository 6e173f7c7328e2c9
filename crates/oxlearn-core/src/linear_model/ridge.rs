//! Ridge regression: `(XᵀX + αI) w = Xᵀy` on chunked centred moments.

use super::LinearFit;
use crate::linalg::solve::{intercept_from_means, ridge_from_moments};
use crate::linalg::Moments;
use crate::{Real, Result};
use faer::MatRef;

/// Parameters of [`fit_ridge`].
#[derive(Debug, Clone)]
pub struct RidgeParams {
    /// One penalty for every target, or one per target.
    pub alpha: Vec<f64>,
    /// Centre the data and fit an intercept.
    pub fit_intercept: bool,
    /// Rows per chunk (0: automatic).
    pub chunk_rows: usize,
}

/// Fits ridge regression. The same solution as scikit-learn's `cholesky`
/// and `svd` solvers (they differ only in rounding).
pub fn fit_ridge<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    params: &RidgeParams,
) -> Result<LinearFit> {
    let m = Moments::from_data(x, y, w, params.fit_intercept, params.chunk_rows)?;
    ridge_fit_from_moments(&m, &params.alpha)
}

/// Ridge from accumulated moments (one-shot and incremental fits share it).
pub fn ridge_fit_from_moments(m: &Moments, alpha: &[f64]) -> Result<LinearFit> {
    let coef = ridge_from_moments(m, alpha)?;
    let intercept = intercept_from_means(m, coef.as_ref());
    Ok(LinearFit {
        coef,
        intercept,
        rank: None,
        singular: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn closed_form_one_feature() {
        // Centred x = [-1, 0, 1], y = 2x + 5: w = Σxy / (Σx² + α) = 4 / (2 + α).
        let xs = [0.0, 1.0, 2.0];
        let ys = [3.0, 5.0, 7.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        let y = MatRef::from_row_major_slice(&ys, 3, 1);
        let fit = fit_ridge(
            x,
            y,
            None,
            &RidgeParams {
                alpha: vec![2.0],
                fit_intercept: true,
                chunk_rows: 0,
            },
        )
        .unwrap();
        assert!((fit.coef[(0, 0)] - 1.0).abs() < 1e-15);
        assert!((fit.intercept[0] - 4.0).abs() < 1e-15);
    }

    #[test]
    fn per_target_alpha_and_count_check() {
        let xs = [0.0, 1.0, 2.0];
        let ys = [3.0, 3.0, 5.0, 5.0, 7.0, 7.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        let y = MatRef::from_row_major_slice(&ys, 3, 2);
        let fit = fit_ridge(
            x,
            y,
            None,
            &RidgeParams {
                alpha: vec![2.0, 0.0],
                fit_intercept: true,
                chunk_rows: 0,
            },
        )
        .unwrap();
        assert!((fit.coef[(0, 0)] - 1.0).abs() < 1e-15);
        assert!((fit.coef[(1, 0)] - 2.0).abs() < 1e-15);
        let bad = fit_ridge(
            x,
            y,
            None,
            &RidgeParams {
                alpha: vec![1.0, 2.0, 3.0],
                fit_intercept: true,
                chunk_rows: 0,
            },
        );
        assert!(matches!(
            bad,
            Err(Error::ShapeMismatch {
                expected: 2,
                got: 3,
                ..
            })
        ));
    }
}
