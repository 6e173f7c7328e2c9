//! scikit-learn's incremental PCA (Ross et al., 2008): each batch is centred
//! on its own mean and stacked under the current components scaled by their
//! singular values, plus one mean-correction row; the SVD of that small
//! matrix gives the updated components. Same arithmetic as
//! `sklearn.decomposition.IncrementalPCA.partial_fit`, in float64.

use super::pca::sign_flip_rows;
use crate::basic_statistics::ColumnMoments;
use crate::linalg::solve::sequential_dense_kernels;
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};

/// What an incremental PCA keeps between batches.
#[derive(Debug, Clone, PartialEq)]
pub struct IpcaState {
    /// Samples seen so far.
    pub n_samples_seen: u64,
    /// Per-feature mean and (biased) variance of the samples seen.
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    /// Current components (k×p) and their singular values.
    pub components: Mat<f64>,
    pub singular_values: Vec<f64>,
}

/// The model after one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct IpcaStep {
    pub state: IpcaState,
    /// First `n_components` explained variances and ratios.
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    /// Mean variance of the discarded directions (0 when none is discarded).
    pub noise_variance: f64,
}

/// Adds the batch `x` to `state` (None: the first batch), keeping
/// `n_components` components.
pub fn partial_fit_ipca<T: Real>(
    state: Option<&IpcaState>,
    x: MatRef<'_, T>,
    n_components: usize,
) -> Result<IpcaStep> {
    sequential_dense_kernels();
    let (b, p) = x.shape();
    if b == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    let batch = ColumnMoments::from_data(x, None, 0)?;
    let seen = state.map_or(0, |s| s.n_samples_seen);
    if let Some(s) = state {
        if s.mean.len() != p {
            return Err(Error::ShapeMismatch {
                what: "number of features in this batch vs the batches before".into(),
                expected: s.mean.len(),
                got: p,
            });
        }
    }
    // Mean and variance of everything seen (Chan's merge of centred sums).
    let mut total = ColumnMoments::empty(p);
    if let Some(s) = state.filter(|s| s.n_samples_seen > 0) {
        total.n_samples = s.n_samples_seen;
        total.mean.clone_from(&s.mean);
        total.m2 = s.var.iter().map(|v| v * s.n_samples_seen as f64).collect();
        total.sum = s.mean.iter().map(|m| m * s.n_samples_seen as f64).collect();
    }
    total.merge(&batch);
    let n_total = total.n_samples as f64;
    let var: Vec<f64> = total.m2.iter().map(|m2| m2 / n_total).collect();
    let prev = state.filter(|s| s.n_samples_seen > 0);
    let k_prev = prev.map_or(0, |s| s.components.nrows());
    let rows = k_prev + b + usize::from(prev.is_some());
    let center = if prev.is_some() {
        &batch.mean
    } else {
        &total.mean
    };
    let mut a = Mat::<f64>::zeros(rows, p);
    if let Some(s) = prev {
        if s.components.ncols() != p || s.singular_values.len() != k_prev {
            return Err(Error::ShapeMismatch {
                what: "incremental PCA state: components vs singular values".into(),
                expected: k_prev,
                got: s.singular_values.len(),
            });
        }
        for i in 0..k_prev {
            for j in 0..p {
                a[(i, j)] = s.singular_values[i] * s.components[(i, j)];
            }
        }
        let corr = ((seen as f64 / n_total) * b as f64).sqrt();
        for j in 0..p {
            a[(rows - 1, j)] = corr * (s.mean[j] - batch.mean[j]);
        }
    }
    for i in 0..b {
        for j in 0..p {
            a[(k_prev + i, j)] = x[(i, j)].to_f64() - center[j];
        }
    }
    let svd = a
        .thin_svd()
        .map_err(|e| Error::NumericalFailure(format!("SVD did not converge: {e:?}")))?;
    let r = rows.min(p);
    let s: Vec<f64> = (0..r).map(|i| svd.S()[i]).collect();
    let v = svd.V();
    let mut vt = Mat::from_fn(r, p, |i, j| v[(j, i)]);
    sign_flip_rows(vt.as_mut());
    let k = n_components.min(r);
    let dof = n_total - 1.0;
    let total_var: f64 = var.iter().map(|v| v * n_total).sum();
    let ev: Vec<f64> = s.iter().map(|v| v * v / dof).collect();
    let noise_variance = if n_components != b && n_components != p && k < r {
        ev[k..].iter().sum::<f64>() / (r - k) as f64
    } else {
        0.0
    };
    Ok(IpcaStep {
        explained_variance: ev[..k].to_vec(),
        explained_variance_ratio: s[..k].iter().map(|v| v * v / total_var).collect(),
        noise_variance,
        state: IpcaState {
            n_samples_seen: total.n_samples,
            mean: total.mean,
            var,
            components: vt.subrows(0, k).to_owned(),
            singular_values: s[..k].to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::pca::{fit_pca, PcaSolver};
    use super::*;

    #[test]
    fn all_components_over_batches_equal_exact_pca() {
        let (n, p) = (600, 4);
        let mut seed = 7u64;
        let xs: Vec<f64> = (0..n * p)
            .map(|k| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * (1.0 + 2.0 * (k % p) as f64)
                    + 10.0
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let mut state = None;
        let mut step = None;
        for start in (0..n).step_by(50) {
            let s = partial_fit_ipca(state.as_ref(), x.subrows(start, 50), p).unwrap();
            state = Some(s.state.clone());
            step = Some(s);
        }
        let step = step.unwrap();
        let exact = fit_pca(x, PcaSolver::Full, 0).unwrap();
        for i in 0..p {
            let (a, b) = (step.explained_variance[i], exact.explained_variance[i]);
            assert!((a - b).abs() < 1e-10 * a, "{a} vs {b}");
            assert!((step.state.mean[i] - exact.mean[i]).abs() < 1e-12);
            for j in 0..p {
                let (u, v) = (step.state.components[(i, j)], exact.components[(i, j)]);
                assert!((u - v).abs() < 1e-8);
            }
        }
        assert_eq!(step.state.n_samples_seen, n as u64);
        assert!(partial_fit_ipca(state.as_ref(), x.subcols(0, 3), 2).is_err());
    }
}
