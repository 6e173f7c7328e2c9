//! Support vector machines with libsvm's semantics: SVC, NuSVC, OneClassSVM,
//! SVR and NuSVR as scikit-learn runs them (`sklearn.svm`), on dense data.
//!
//! The solver is libsvm's SMO (WSS3, shrinking, LRU kernel cache of
//! `cache_size` MB, the `tol` stopping rule, `max_iter`), so a problem gives
//! the same support vectors and coefficients within the solver's tolerance.
//! The speed comes from how kernel rows are computed (several per pass over
//! the training rows, register-blocked, split across threads, and ahead of
//! time for the likely next working sets), from the selection loops and
//! gradient updates in SIMD lanes, and for SVR from a per-sample `G_bar`;
//! prediction fuses dot products, kernel and coefficient sums per tile of
//! support vectors. None of these changes a step or a bit: every SIMD level
//! and thread count gives the same result.
//!
//! Probabilities (`probability=True`) use libsvm's Platt scaling and
//! internal 5-fold cross-validation, with oxlearn's own random stream
//! (libsvm's cannot be reproduced): they differ from scikit-learn's by the
//! fold assignment.

mod kernel;
mod lanes;
mod predict;
mod solver;
mod train;

pub use kernel::Kernel;
pub use predict::{ovr_argmax, ovr_decision, SvmModelRef};

use crate::error::{Error, Result};

/// A libsvm formulation, in scikit-learn's `LIBSVM_IMPL` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvmType {
    /// C-support vector classification (`SVC`).
    CSvc,
    /// ν-support vector classification (`NuSVC`).
    NuSvc,
    /// One-class SVM (`OneClassSVM`).
    OneClass,
    /// ε-support vector regression (`SVR`).
    EpsilonSvr,
    /// ν-support vector regression (`NuSVR`).
    NuSvr,
}

impl SvmType {
    /// From scikit-learn's `_impl` name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "c_svc" => SvmType::CSvc,
            "nu_svc" => SvmType::NuSvc,
            "one_class" => SvmType::OneClass,
            "epsilon_svr" => SvmType::EpsilonSvr,
            "nu_svr" => SvmType::NuSvr,
            other => {
                return Err(Error::InvalidParameter {
                    name: "svm_type",
                    reason: format!(
                        "{other:?} is not one of 'c_svc', 'nu_svc', 'one_class', 'epsilon_svr', \
                         'nu_svr'"
                    ),
                })
            }
        })
    }

    /// Whether the formulation classifies (one-vs-one over classes).
    pub fn is_classifier(self) -> bool {
        matches!(self, SvmType::CSvc | SvmType::NuSvc)
    }
}

/// Parameters of a fit, scikit-learn's.
#[derive(Debug, Clone)]
pub struct SvmParams {
    /// The formulation.
    pub svm_type: SvmType,
    /// The kernel, `gamma` resolved.
    pub kernel: Kernel,
    /// `C` (SVC, SVR, NuSVR).
    pub c: f64,
    /// `nu` (NuSVC, OneClassSVM, NuSVR).
    pub nu: f64,
    /// `epsilon` (SVR).
    pub epsilon: f64,
    /// Stopping tolerance.
    pub tol: f64,
    /// Whether to shrink the active set.
    pub shrinking: bool,
    /// Whether to fit Platt's probabilities (classification).
    pub probability: bool,
    /// Kernel cache size in MB.
    pub cache_size_mb: f64,
    /// Iteration limit per binary problem; negative: none.
    pub max_iter: i64,
    /// Seed of the cross-validation shuffle for probabilities.
    pub seed: u64,
}

/// A fitted SVM, in scikit-learn's layout (libsvm's signs).
#[derive(Debug, Clone)]
pub struct SvmFit {
    /// Row indices of the support vectors, grouped by class.
    pub support: Vec<i32>,
    /// The support vectors, row-major `n_sv x d`.
    pub support_vectors: Vec<f64>,
    /// Support vectors per class; `[n_sv, n_sv]` for one-class and regression.
    pub n_support: Vec<i32>,
    /// Row-major `(n_classes - 1) x n_sv` (`1 x n_sv` for one-class and
    /// regression).
    pub dual_coef: Vec<f64>,
    /// `-rho` per binary problem.
    pub intercept: Vec<f64>,
    /// Platt's A per binary problem (empty without probabilities).
    pub prob_a: Vec<f64>,
    /// Platt's B per binary problem.
    pub prob_b: Vec<f64>,
    /// 1 if some solve stopped at `max_iter`, else 0.
    pub fit_status: i32,
    /// Iterations per binary problem.
    pub n_iter: Vec<i32>,
}

impl SvmFit {
    /// The fit as predict reads it (`params`: those it was fitted with;
    /// `d`: the number of features).
    pub fn model<'a>(&'a self, params: &SvmParams, d: usize) -> SvmModelRef<'a> {
        SvmModelRef {
            svm_type: params.svm_type,
            kernel: params.kernel,
            sv: &self.support_vectors,
            d,
            n_support: &self.n_support,
            dual_coef: &self.dual_coef,
            intercept: &self.intercept,
            prob_a: &self.prob_a,
            prob_b: &self.prob_b,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        x: &[f64],
        d: usize,
        support: Vec<usize>,
        n_support: Vec<i32>,
        dual_coef: Vec<f64>,
        intercept: Vec<f64>,
        (prob_a, prob_b): (Vec<f64>, Vec<f64>),
        hit_max_iter: bool,
        n_iter: Vec<i32>,
    ) -> Self {
        let support_vectors = support
            .iter()
            .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
            .collect();
        SvmFit {
            support: support.iter().map(|&i| i as i32).collect(),
            support_vectors,
            n_support,
            dual_coef,
            intercept,
            prob_a,
            prob_b,
            fit_status: i32::from(hit_max_iter),
            n_iter,
        }
    }
}

/// Fits an SVM on the row-major `n x d` matrix `x` (finite values).
///
/// `y` holds class indices `0..n_classes` as floats (classification) or
/// targets; `sample_weight` is empty or one weight per row (rows weighing
/// zero or less are left out, as libsvm does); `class_weight` multiplies
/// `C` per class index.
///
/// # Errors
/// [`Error::ShapeMismatch`] for inconsistent lengths,
/// [`Error::NonFinite`] for NaN or infinity in `x` or `y`, and libsvm's
/// data-dependent refusals (all weights zero, an infeasible `nu`) as
/// [`Error::InvalidParameter`].
pub fn fit(
    x: &[f64],
    n: usize,
    d: usize,
    y: &[f64],
    sample_weight: &[f64],
    class_weight: &[f64],
    params: &SvmParams,
) -> Result<SvmFit> {
    let shape = |what: &str, expected: usize, got: usize| Error::ShapeMismatch {
        what: what.into(),
        expected,
        got,
    };
    if x.len() != n * d {
        return Err(shape("X values (n_samples * n_features)", n * d, x.len()));
    }
    if y.len() != n {
        return Err(shape("y length (n_samples)", n, y.len()));
    }
    if !sample_weight.is_empty() && sample_weight.len() != n {
        return Err(shape(
            "sample_weight length (n_samples)",
            n,
            sample_weight.len(),
        ));
    }
    if n == 0 || d == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    finite(x, d, "X")?;
    finite(y, 1, "y")?;
    if params.svm_type.is_classifier() {
        let mut labels: Vec<i64> = y.iter().map(|&v| v as i64).collect();
        labels.sort_unstable();
        labels.dedup();
        if labels.len() < 2 {
            return Err(Error::InvalidParameter {
                name: "y",
                reason: format!(
                    "The number of classes has to be greater than one; got {} class",
                    labels.len()
                ),
            });
        }
    }
    train::fit(x, n, d, y, sample_weight, class_weight, params)
}

/// Fails on the first NaN or infinity of row-major `data`.
fn finite(data: &[f64], cols: usize, what: &'static str) -> Result<()> {
    match crate::validation::first_non_finite(data, cols, false) {
        None => Ok(()),
        Some((kind, row, col)) => Err(Error::NonFinite {
            what,
            kind,
            dtype: "float64",
            row,
            col,
        }),
    }
}

#[cfg(test)]
mod tests;
