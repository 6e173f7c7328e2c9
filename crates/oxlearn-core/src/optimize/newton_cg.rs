//! Truncated Newton (Newton-CG), as scikit-learn's `_newton_cg`: at each
//! iteration stop if `max|g| <= tol`, else solve `H p = -g` by conjugate
//! gradients to a residual of `min(0.5, sqrt(‖g‖₁))·‖g‖₁` (at most
//! `max_inner` steps, stopping on non-positive curvature), then a
//! Moré–Thuente line search (`c1 = 1e-4`, `c2 = 0.9`, steps in
//! `[1e-8, 50]`) as scipy's `line_search_wolfe1`, with scikit-learn's
//! fallback for loss changes at rounding level.

use super::dcsrch::{Dcsrch, Task};
use super::{dot, max_abs, OptimResult, SecondOrder, Termination};
use crate::Result;

/// Settings of [`newton_cg`].
#[derive(Debug, Clone, Copy)]
pub struct NewtonCgOptions {
    /// Newton iteration limit (`maxiter`).
    pub max_iter: usize,
    /// Conjugate-gradient iteration limit per Newton step (`maxinner`).
    pub max_inner: usize,
    /// Stop when the largest gradient component is at most this.
    pub tol: f64,
}

impl Default for NewtonCgOptions {
    fn default() -> Self {
        NewtonCgOptions {
            max_iter: 100,
            max_inner: 200,
            tol: 1e-4,
        }
    }
}

/// Rounding-level threshold of scikit-learn's solvers (`16 ε`).
const EPS16: f64 = 16.0 * f64::EPSILON;

/// Approximately solves `H x = -g` by conjugate gradients (sklearn's `_cg`).
fn cg(obj: &mut impl SecondOrder, g: &[f64], max_iter: usize, tol: f64) -> Result<Vec<f64>> {
    let n = g.len();
    let mut x = vec![0.0; n];
    let mut r = g.to_vec();
    let mut p: Vec<f64> = r.iter().map(|v| -v).collect();
    let mut ap = vec![0.0; n];
    let mut dri0 = dot(&r, &r);
    let mut p_norm2 = dri0;
    let mut i = 0;
    while i <= max_iter {
        if r.iter().map(|v| v.abs()).sum::<f64>() <= tol {
            break;
        }
        obj.hessp(&p, &mut ap)?;
        let curv = dot(&p, &ap);
        if 0.0 <= curv && curv <= EPS16 * p_norm2 {
            // Curvature at rounding level (capped CG, arXiv:1803.02924).
            break;
        } else if curv < 0.0 {
            if i == 0 {
                // Negative curvature at once: a steepest-descent step.
                for (xj, pj) in x.iter_mut().zip(&p) {
                    *xj += dri0 / curv * pj;
                }
            }
            break;
        }
        let alpha = dri0 / curv;
        for j in 0..n {
            x[j] += alpha * p[j];
            r[j] += alpha * ap[j];
        }
        let dri1 = dot(&r, &r);
        let beta = dri1 / dri0;
        for j in 0..n {
            p[j] = -r[j] + beta * p[j];
        }
        p_norm2 = dri1 + beta * beta * p_norm2;
        i += 1;
        dri0 = dri1;
    }
    Ok(x)
}

/// Line search along `p` from `x` (scipy's `line_search_wolfe1`, then
/// scikit-learn's rounding-level fallback). On success, `obj` was last
/// evaluated at the accepted point `x + α p`, whose loss and gradient are
/// returned with `α`.
fn line_search<O: SecondOrder>(
    obj: &mut O,
    x: &[f64],
    p: &[f64],
    g0: &[f64],
    f0: f64,
    old_f0: Option<f64>,
) -> Result<Option<(f64, f64, Vec<f64>)>> {
    let n = x.len();
    let mut xt = vec![0.0; n];
    let mut gt = vec![0.0; n];
    let eval = |obj: &mut O, s: f64, xt: &mut [f64], gt: &mut [f64]| {
        for j in 0..n {
            xt[j] = x[j] + s * p[j];
        }
        obj.loss_grad_prepare(xt, gt)
    };
    let dphi0 = dot(g0, p);
    let mut alpha1 = 1.0;
    if let Some(old) = old_f0 {
        if dphi0 != 0.0 {
            alpha1 = (1.01 * 2.0 * (f0 - old) / dphi0).min(1.0);
            if alpha1 < 0.0 {
                alpha1 = 1.0;
            }
        }
    }
    let mut ls = Dcsrch::new(1e-4, 0.9, 1e-14, 1e-8, 50.0);
    let (mut stp, mut task) = ls.start(alpha1, f0, dphi0);
    let mut f = f0;
    // scipy's DCSRCH makes at most 100 calls, the first one the start.
    for _ in 0..99 {
        if !stp.is_finite() || task != Task::Fg {
            break;
        }
        f = eval(obj, stp, &mut xt, &mut gt)?;
        (stp, task) = ls.iterate(stp, f, dot(&gt, p));
    }
    if task == Task::Convergence && stp.is_finite() {
        return Ok(Some((stp, f, gt)));
    }
    // The loss changed at rounding level only: accept the full step if the
    // gradient's 1-norm decreased.
    let f1 = eval(obj, 1.0, &mut xt, &mut gt)?;
    if (f1 - f0).abs() <= (f0 * EPS16).abs() {
        let l1 = |v: &[f64]| v.iter().map(|a| a.abs()).sum::<f64>();
        if l1(&gt) < l1(g0) {
            return Ok(Some((1.0, f1, gt)));
        }
    }
    Ok(None)
}

/// Minimises `obj` from `x0` by Newton-CG (see the module documentation).
pub fn newton_cg(
    obj: &mut impl SecondOrder,
    x0: Vec<f64>,
    opts: &NewtonCgOptions,
) -> Result<OptimResult> {
    let n = obj.dim();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut f = obj.loss_grad_prepare(&x, &mut g)?;
    let mut old_f: Option<f64> = None;
    let mut k = 0;
    let mut termination = Termination::MaxIter;
    let mut message = String::new();
    while k < opts.max_iter {
        // `obj` holds the Hessian at x: from the start or the line search.
        if max_abs(&g) <= opts.tol {
            termination = Termination::Converged;
            break;
        }
        let l1: f64 = g.iter().map(|v| v.abs()).sum();
        let eta = 0.5f64.min(l1.sqrt());
        let p = cg(obj, &g, opts.max_inner, eta * l1)?;
        match line_search(obj, &x, &p, &g, f, old_f)? {
            Some((alpha, f_new, g_new)) => {
                for j in 0..n {
                    x[j] += alpha * p[j];
                }
                old_f = Some(f);
                f = f_new;
                g = g_new;
            }
            None => {
                termination = Termination::LineSearchFailed;
                message = "Line Search failed".into();
                break;
            }
        }
        k += 1;
    }
    if k >= opts.max_iter {
        termination = Termination::MaxIter;
        message = format!(
            "newton-cg failed to converge at loss = {f}. Increase the number of iterations."
        );
    }
    Ok(OptimResult {
        x,
        f,
        n_iter: k,
        termination,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Objective;
    use super::*;

    /// A strictly convex quartic: f(x) = Σ (x_i - i)² + (x_i - i)⁴ / 4.
    struct Quartic {
        at: Vec<f64>,
    }

    impl Objective for Quartic {
        fn dim(&self) -> usize {
            self.at.len()
        }
        fn loss_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            let mut f = 0.0;
            for (i, (&xi, gi)) in x.iter().zip(g.iter_mut()).enumerate() {
                let d = xi - i as f64;
                f += d * d + d.powi(4) / 4.0;
                *gi = 2.0 * d + d.powi(3);
            }
            Ok(f)
        }
    }

    impl SecondOrder for Quartic {
        fn loss_grad_prepare(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            self.at = x.to_vec();
            self.loss_grad(x, g)
        }
        fn hessp(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
            for (i, o) in out.iter_mut().enumerate() {
                let d = self.at[i] - i as f64;
                *o = (2.0 + 3.0 * d * d) * v[i];
            }
            Ok(())
        }
    }

    #[test]
    fn converges_quadratically() {
        let mut q = Quartic { at: vec![0.0; 5] };
        let opts = NewtonCgOptions {
            tol: 1e-10,
            ..Default::default()
        };
        let res = newton_cg(&mut q, vec![10.0; 5], &opts).unwrap();
        assert_eq!(res.termination, Termination::Converged);
        for (i, v) in res.x.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-10);
        }
        assert!(res.n_iter < 20, "{}", res.n_iter);
        let short = NewtonCgOptions {
            max_iter: 1,
            ..opts
        };
        let res = newton_cg(&mut q, vec![10.0; 5], &short).unwrap();
        assert_eq!((res.termination, res.n_iter), (Termination::MaxIter, 1));
        assert!(res.message.contains("newton-cg failed to converge"));
    }
}
