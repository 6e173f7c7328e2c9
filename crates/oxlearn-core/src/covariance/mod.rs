//! Empirical covariance (maximum likelihood), one-shot and incremental, from
//! the same chunked centred moments as the linear models.

use crate::linalg::solve::pinvh;
use crate::linalg::Moments;
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};

/// A fitted empirical covariance model.
#[derive(Debug, Clone, PartialEq)]
pub struct CovarianceFit {
    /// Mean of each feature (zeros with `assume_centered`).
    pub location: Vec<f64>,
    /// p×p covariance, normalised by the number (or weight) of samples.
    pub covariance: Mat<f64>,
    /// Pseudo-inverse of the covariance, when asked for.
    pub precision: Option<Mat<f64>>,
}

/// Fits the empirical covariance of `x` (n×p). With `assume_centered` the
/// data is not centred (`XᵀX / n`, location zero), as in scikit-learn.
pub fn fit_covariance<T: Real>(
    x: MatRef<'_, T>,
    assume_centered: bool,
    store_precision: bool,
    chunk_rows: usize,
) -> Result<CovarianceFit> {
    let no_targets: [T; 0] = [];
    let y = MatRef::from_row_major_slice(&no_targets, x.nrows(), 0);
    let m = Moments::from_data(x, y, None, !assume_centered, chunk_rows)?;
    covariance_from_moments(&m, store_precision)
}

/// The covariance model of accumulated moments.
pub fn covariance_from_moments(m: &Moments, store_precision: bool) -> Result<CovarianceFit> {
    if m.sum_weights == 0.0 {
        return Err(Error::EmptyInput {
            what: "the accumulated data (no sample seen)",
        });
    }
    let covariance = Mat::from_fn(m.n_features(), m.n_features(), |i, j| {
        m.cxx[(i, j)] / m.sum_weights
    });
    let precision = if store_precision {
        Some(pinvh(covariance.as_ref())?)
    } else {
        None
    };
    Ok(CovarianceFit {
        location: m.mean_x.clone(),
        covariance,
        precision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_closed_form() {
        // x = [0, 2, 4] and 2x: mean (2, 4), variances 8/3 and 32/3, cov 16/3.
        let xs = [0.0, 0.0, 2.0, 4.0, 4.0, 8.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 2);
        let fit = fit_covariance(x, false, true, 0).unwrap();
        assert_eq!(fit.location, vec![2.0, 4.0]);
        assert!((fit.covariance[(0, 0)] - 8.0 / 3.0).abs() < 1e-14);
        assert!((fit.covariance[(0, 1)] - 16.0 / 3.0).abs() < 1e-14);
        // Rank one: the pseudo-inverse satisfies C P C = C.
        let p = fit.precision.unwrap();
        let cpc = &fit.covariance * &p * &fit.covariance;
        for i in 0..2 {
            for j in 0..2 {
                assert!((cpc[(i, j)] - fit.covariance[(i, j)]).abs() < 1e-12);
            }
        }
        let raw = fit_covariance(x, true, false, 0).unwrap();
        assert_eq!(raw.location, vec![0.0, 0.0]);
        assert!((raw.covariance[(1, 1)] - 80.0 / 3.0).abs() < 1e-13);
        assert!(raw.precision.is_none());
    }
}
