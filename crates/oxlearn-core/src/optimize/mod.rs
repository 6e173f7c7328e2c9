//! Smooth unconstrained minimisation: L-BFGS and Newton-CG, following the
//! algorithms scikit-learn runs (scipy's L-BFGS-B and its own `_newton_cg`)
//! step for step, so that the same tolerances stop at the same places.
//!
//! The optimisers are sequential over the parameter vector (it is small); an
//! objective parallelises its own evaluations (over fixed row chunks, so
//! results do not depend on the thread count).

mod dcsrch;
mod lbfgs;
mod newton_cg;

pub use lbfgs::{lbfgs, LbfgsOptions};
pub use newton_cg::{newton_cg, NewtonCgOptions};

use crate::Result;

/// A smooth function to minimise, with its gradient.
pub trait Objective {
    /// Number of parameters.
    fn dim(&self) -> usize;

    /// Returns `f(x)` and writes `∇f(x)` to `grad`.
    fn loss_grad(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64>;
}

/// An [`Objective`] that also multiplies vectors by its Hessian.
pub trait SecondOrder: Objective {
    /// Like [`Objective::loss_grad`], and keeps what Hessian products at
    /// `x` need (until the next call).
    fn loss_grad_prepare(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64>;

    /// Writes `H(x) v` to `out`, with `x` the point of the last
    /// [`SecondOrder::loss_grad_prepare`].
    fn hessp(&mut self, v: &[f64], out: &mut [f64]) -> Result<()>;
}

/// Why an optimiser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// A convergence test passed.
    Converged,
    /// The iteration limit was reached first.
    MaxIter,
    /// No step along the search direction decreased the objective enough.
    LineSearchFailed,
}

/// What an optimiser returns.
#[derive(Debug, Clone)]
pub struct OptimResult {
    /// The last accepted point.
    pub x: Vec<f64>,
    /// The objective there.
    pub f: f64,
    /// Iterations done, counted as scikit-learn reports `n_iter_`.
    pub n_iter: usize,
    /// Why the optimiser stopped.
    pub termination: Termination,
    /// The stopping reason in the words scipy / scikit-learn use.
    pub message: String,
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn max_abs(a: &[f64]) -> f64 {
    // NaN propagates (as scipy's projgr does), so a NaN gradient never
    // passes a `<= tol` test.
    a.iter().fold(0.0f64, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v.abs())
        }
    })
}
