//! Exact PCA from one pass over the data.
//!
//! `CovarianceEigh` forms the centred scatter matrix with the same chunked,
//! merged moments as the linear models and takes its eigendecomposition, as
//! scikit-learn's `covariance_eigh` solver does. `Full` gives the accuracy of
//! an SVD of the centred data (what scikit-learn's `full` solver computes
//! with LAPACK) without copying it: when the covariance is well conditioned
//! its eigendecomposition already has that accuracy; otherwise a tall-skinny
//! QR over fixed row chunks, then the SVD of the small R factor, whose
//! singular values and right singular vectors are those of the centred data.
//! Both are independent of the thread count.

use crate::linalg::solve::{sequential_dense_kernels, symmetric_eigen};
use crate::linalg::tsqr::r_factor;
use crate::linalg::Moments;
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};

/// Largest covariance condition number for which `Full` takes the
/// eigendecomposition: each eigenvalue then has relative error at most
/// ~`eps · cond` ≈ 2e-12, the accuracy of the SVD route, at a fraction of
/// its cost (one GEMM pass instead of a QR of the data).
const FULL_VIA_EIGH_MAX_COND: f64 = 1e4;

/// How the spectrum is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcaSolver {
    /// SVD of the centred data (through a tall-skinny QR).
    Full,
    /// Eigendecomposition of the covariance matrix.
    CovarianceEigh,
}

/// Every component of a PCA, before choosing how many to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct PcaSpectrum {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Components as rows (r×p), by decreasing variance, each with its
    /// largest-magnitude entry positive (scikit-learn's `svd_flip` with
    /// `u_based_decision=False`).
    pub components: Mat<f64>,
    /// Variance along each component (`S² / (n - 1)`).
    pub explained_variance: Vec<f64>,
    /// Singular values of the centred data.
    pub singular_values: Vec<f64>,
}

/// Computes the full spectrum of `x` (n×p) with `solver`, over chunks of
/// `chunk_rows` rows (0: automatic). `Full` gives `min(n, p)` components,
/// `CovarianceEigh` gives `p`.
pub fn fit_pca<T: Real>(
    x: MatRef<'_, T>,
    solver: PcaSolver,
    chunk_rows: usize,
) -> Result<PcaSpectrum> {
    let (n, p) = x.shape();
    if n == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    let no_targets: [T; 0] = [];
    let y = MatRef::from_row_major_slice(&no_targets, n, 0);
    // Both solvers start from the merged centred moments: `covariance_eigh`
    // always uses their eigendecomposition; `full` uses it only when the
    // covariance is so well conditioned that it is as accurate as an SVD.
    let m = Moments::from_data(x, y, None, true, chunk_rows)?;
    fit_pca_given_moments(x, solver, chunk_rows, m)
}

/// [`fit_pca`] once the centred moments of `x` are known (computed here or
/// on a GPU).
pub(crate) fn fit_pca_given_moments<T: Real>(
    x: MatRef<'_, T>,
    solver: PcaSolver,
    chunk_rows: usize,
    m: Moments,
) -> Result<PcaSpectrum> {
    sequential_dense_kernels();
    let (n, p) = x.shape();
    if n == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    let dof = n as f64 - 1.0;
    let no_targets: [T; 0] = [];
    let y = MatRef::from_row_major_slice(&no_targets, n, 0);
    let cov = Mat::from_fn(p, p, |i, j| m.cxx[(i, j)] / dof);
    let (vals, vecs) = symmetric_eigen(cov.as_ref())?;
    let (lo, hi) = (vals.first().copied(), vals.last().copied());
    let well_conditioned =
        matches!((lo, hi), (Some(lo), Some(hi)) if lo > 0.0 && hi <= FULL_VIA_EIGH_MAX_COND * lo);
    let (mean, mut vt, explained_variance, singular_values) =
        if solver == PcaSolver::CovarianceEigh || (well_conditioned && n > p) {
            let (vt, ev, s) = eigh_spectrum(&vals, vecs.as_ref(), dof);
            (m.mean_x, vt, ev, s)
        } else {
            let r = r_factor(x, y, None, &m.mean_x, &[], chunk_rows)?;
            let svd = r
                .thin_svd()
                .map_err(|e| Error::NumericalFailure(format!("SVD did not converge: {e:?}")))?;
            let k = n.min(p);
            let mut s: Vec<f64> = (0..r.nrows().min(p)).map(|i| svd.S()[i]).collect();
            s.resize(k, 0.0);
            let v = svd.V();
            let vt = Mat::from_fn(k, p, |i, j| if i < v.ncols() { v[(j, i)] } else { 0.0 });
            let ev = s.iter().map(|&v| v * v / dof).collect();
            (m.mean_x, vt, ev, s)
        };
    sign_flip_rows(vt.as_mut());
    Ok(PcaSpectrum {
        mean,
        components: vt,
        explained_variance,
        singular_values,
    })
}

/// Components (rows, by decreasing variance), explained variances and
/// singular values from the ascending eigendecomposition of the covariance.
fn eigh_spectrum(vals: &[f64], vecs: MatRef<'_, f64>, dof: f64) -> (Mat<f64>, Vec<f64>, Vec<f64>) {
    let p = vals.len();
    // Descending; eigenvalues of a PSD matrix a rounding below zero are
    // zero (scikit-learn clips them the same way).
    let ev: Vec<f64> = vals.iter().rev().map(|&v| v.max(0.0)).collect();
    let s = ev.iter().map(|&v| (v * dof).sqrt()).collect();
    let vt = Mat::from_fn(p, p, |i, j| vecs[(j, p - 1 - i)]);
    (vt, ev, s)
}

/// The full spectrum from merged centred moments (distributed fits, where
/// the rows are spread over processes): `covariance_eigh`'s computation.
pub fn spectrum_from_moments(m: &Moments) -> Result<PcaSpectrum> {
    sequential_dense_kernels();
    let p = m.n_features();
    if m.n_samples == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    let dof = m.n_samples as f64 - 1.0;
    let cov = Mat::from_fn(p, p, |i, j| m.cxx[(i, j)] / dof);
    let (vals, vecs) = symmetric_eigen(cov.as_ref())?;
    let (mut vt, explained_variance, singular_values) = eigh_spectrum(&vals, vecs.as_ref(), dof);
    sign_flip_rows(vt.as_mut());
    Ok(PcaSpectrum {
        mean: m.mean_x.clone(),
        components: vt,
        explained_variance,
        singular_values,
    })
}

/// Makes the largest-magnitude entry of each row positive (the first such
/// entry on ties), as scikit-learn's `svd_flip(u_based_decision=False)`.
pub fn sign_flip_rows(mut vt: faer::MatMut<'_, f64>) {
    for i in 0..vt.nrows() {
        let mut best = 0;
        for j in 1..vt.ncols() {
            if vt[(i, j)].abs() > vt[(i, best)].abs() {
                best = j;
            }
        }
        if vt.ncols() > 0 && vt[(i, best)] < 0.0 {
            for j in 0..vt.ncols() {
                vt[(i, j)] = -vt[(i, j)];
            }
        }
    }
}

/// The affine map `x ↦ x W + b` of a PCA transform: `W = Cᵀ / scale` and
/// `b = -(mean Cᵀ) / scale`, where `scale = max(√variance, eps)` when
/// whitening and 1 otherwise (scikit-learn clips the scale at the dtype's
/// machine epsilon). Returned as linear-model coefficients (k×p) and
/// intercepts (k), so the transform runs in the fixed-order linear kernel
/// and gives the same bits in Python and in the `oxlearn` binary.
pub fn pca_transform_map(
    components: MatRef<'_, f64>,
    mean: &[f64],
    whiten_variance: Option<&[f64]>,
    eps: f64,
) -> Result<(Mat<f64>, Vec<f64>)> {
    let (k, p) = components.shape();
    if mean.len() != p || whiten_variance.is_some_and(|v| v.len() != k) {
        return Err(Error::ShapeMismatch {
            what: "PCA components vs mean_ / explained_variance_".into(),
            expected: p,
            got: mean.len(),
        });
    }
    let scale: Vec<f64> = (0..k)
        .map(|i| whiten_variance.map_or(1.0, |v| v[i].sqrt().max(eps)))
        .collect();
    let coef = Mat::from_fn(k, p, |i, j| components[(i, j)] / scale[i]);
    let intercept = (0..k)
        .map(|i| {
            let mut dot = 0.0;
            for j in 0..p {
                dot += mean[j] * components[(i, j)];
            }
            -dot / scale[i]
        })
        .collect();
    Ok((coef, intercept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, p: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_add(12345);
        (0..n * p)
            .map(|k| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                // Distinct scales per column: a well-separated spectrum.
                u * (1.0 + (k % p) as f64) + 3.0
            })
            .collect()
    }

    #[test]
    fn solvers_agree_and_reconstruct() {
        let (n, p) = (2000, 5);
        let xs = data(n, p, 1);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let full = fit_pca(x, PcaSolver::Full, 256).unwrap();
        let eigh = fit_pca(x, PcaSolver::CovarianceEigh, 256).unwrap();
        for i in 0..p {
            let (a, b) = (full.explained_variance[i], eigh.explained_variance[i]);
            assert!((a - b).abs() < 1e-10 * a, "{a} vs {b}");
            for j in 0..p {
                let (u, v) = (full.components[(i, j)], eigh.components[(i, j)]);
                assert!((u - v).abs() < 1e-8, "component {i},{j}: {u} vs {v}");
            }
        }
        // Total variance equals the trace of the covariance.
        let total: f64 = full.explained_variance.iter().sum();
        let trace: f64 = (0..p)
            .map(|j| {
                let m = full.mean[j];
                (0..n).map(|i| (xs[i * p + j] - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)
            })
            .sum();
        assert!((total - trace).abs() < 1e-10 * trace);
    }

    #[test]
    fn ill_conditioned_full_keeps_svd_accuracy() {
        // Column scales 1e-3..1e3: cond(C) = 1e12, so `Full` takes the QR
        // route; the smallest variance must keep ~10 digits (an eigen-
        // decomposition of C would keep ~4).
        let (n, p) = (3000, 4);
        let base = data(n, p, 9);
        let scales = [1e3, 1.0, 3.0, 1e-3];
        let scaled: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(k, v)| (v - 3.0) * scales[k % p])
            .collect();
        // Rotated by a generic orthogonal matrix (Q of a fixed matrix's QR):
        // a dense covariance, as an eigensolver sees in practice.
        let g0 = data(p, p, 11);
        let q = Mat::from_fn(p, p, |i, j| g0[i * p + j]).qr().compute_Q();
        let xs: Vec<f64> = (0..n * p)
            .map(|k| {
                let (i, j) = (k / p, k % p);
                (0..p).map(|l| scaled[i * p + l] * q[(l, j)]).sum()
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let fit = fit_pca(x, PcaSolver::Full, 500).unwrap();
        // Projections on the components are uncorrelated, with variances
        // explained_variance: check both, relative to each variance.
        let z = Mat::from_fn(n, p, |i, c| {
            (0..p)
                .map(|j| (xs[i * p + j] - fit.mean[j]) * fit.components[(c, j)])
                .sum::<f64>()
        });
        for a in 0..p {
            for b in 0..p {
                let dot: f64 =
                    (0..n).map(|i| z[(i, a)] * z[(i, b)]).sum::<f64>() / (n as f64 - 1.0);
                let want = if a == b {
                    fit.explained_variance[a]
                } else {
                    0.0
                };
                let tol = 1e-9 * (fit.explained_variance[a] * fit.explained_variance[b]).sqrt();
                assert!((dot - want).abs() <= tol, "({a},{b}): {dot} vs {want}");
            }
        }
    }

    #[test]
    fn wide_data_has_min_n_p_components() {
        let (n, p) = (4, 9);
        let xs = data(n, p, 2);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let full = fit_pca(x, PcaSolver::Full, 0).unwrap();
        assert_eq!(full.components.shape(), (4, 9));
        assert_eq!(full.singular_values.len(), 4);
        assert!(full.singular_values[3] < 1e-12 * full.singular_values[0]);
    }

    #[test]
    fn independent_of_thread_count() {
        let (n, p) = (30_000, 6);
        let xs = data(n, p, 3);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        for solver in [PcaSolver::Full, PcaSolver::CovarianceEigh] {
            let run = |t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
                    .install(|| fit_pca(x, solver, 1000).unwrap())
            };
            let one = run(1);
            for t in [2, 5] {
                assert_eq!(run(t), one, "{solver:?} {t} threads");
            }
        }
    }

    #[test]
    fn sign_convention_and_transform_map() {
        let mut vt = Mat::from_fn(2, 3, |i, j| [[0.1, -0.9, 0.2], [0.5, 0.5, -0.5]][i][j]);
        sign_flip_rows(vt.as_mut());
        assert_eq!(vt[(0, 1)], 0.9);
        assert_eq!(vt[(1, 0)], 0.5); // ties: the first largest entry decides
        let (w, b) =
            pca_transform_map(vt.as_ref(), &[1.0, 2.0, 3.0], Some(&[4.0, 0.0]), 1e-3).unwrap();
        assert!((w[(0, 1)] - 0.45).abs() < 1e-15);
        assert!((w[(1, 0)] - 500.0).abs() < 1e-9); // clipped scale
        assert!((b[0] - (-(-0.1 + 1.8 - 0.6) / 2.0)).abs() < 1e-15);
    }
}
