//! L-BFGS with the iteration, line search and stopping rules of scipy's
//! L-BFGS-B (v3.0) on an unbounded problem, as scikit-learn calls it:
//! `m = 10` corrections, Moré–Thuente search (`ftol = 1e-3`, `gtol = 0.9`,
//! `xtol = 0.1`) of at most `maxls` evaluations, stop when
//! `max|g| <= pgtol` or the relative decrease of `f` is at most
//! `factr·ε`, or after `max_iter` iterations.
//!
//! Without bounds, L-BFGS-B's generalised Cauchy point and subspace
//! minimisation reduce to the quasi-Newton step `-H g` of the compact
//! limited-memory matrix with `B₀ = θI`, which is what the two-loop
//! recursion computes; the rest (first step `1/‖d‖`, skipped updates,
//! memory refresh on a failed search) follows the reference code.

use super::dcsrch::{Dcsrch, Task};
use super::{dot, max_abs, Objective, OptimResult, Termination};
use crate::Result;
use std::collections::VecDeque;

/// Settings of [`lbfgs`].
#[derive(Debug, Clone, Copy)]
pub struct LbfgsOptions {
    /// Number of correction pairs kept (`maxcor`).
    pub m: usize,
    /// Iteration limit (`maxiter`).
    pub max_iter: usize,
    /// Stop when the largest gradient component is at most this (`gtol`).
    pub pgtol: f64,
    /// Stop when `(f_old - f) / max(|f_old|, |f|, 1) <= factr · ε`.
    pub factr: f64,
    /// Function evaluations allowed per line search (`maxls`).
    pub max_ls: usize,
}

impl Default for LbfgsOptions {
    /// scipy's defaults with scikit-learn's overrides for logistic
    /// regression (`maxls = 50`, `ftol = 64 ε`, i.e. `factr = 64`).
    fn default() -> Self {
        LbfgsOptions {
            m: 10,
            max_iter: 100,
            pgtol: 1e-4,
            factr: 64.0,
            max_ls: 50,
        }
    }
}

/// Largest step length the search may take (L-BFGS-B's `stpmx`).
const STPMAX: f64 = 1e10;

struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

/// `d = -H g` by the two-loop recursion, `H₀ = I / θ`.
fn direction(g: &[f64], mem: &VecDeque<Pair>, theta: f64, d: &mut [f64]) {
    d.copy_from_slice(g);
    let mut alpha = vec![0.0; mem.len()];
    for (i, p) in mem.iter().enumerate().rev() {
        alpha[i] = p.rho * dot(&p.s, d);
        for (dj, yj) in d.iter_mut().zip(&p.y) {
            *dj -= alpha[i] * yj;
        }
    }
    for v in d.iter_mut() {
        *v /= theta;
    }
    for (i, p) in mem.iter().enumerate() {
        let beta = p.rho * dot(&p.y, d);
        for (dj, sj) in d.iter_mut().zip(&p.s) {
            *dj += sj * (alpha[i] - beta);
        }
    }
    for v in d.iter_mut() {
        *v = -*v;
    }
}

/// Minimises `obj` from `x0` by L-BFGS (see the module documentation).
pub fn lbfgs(obj: &mut impl Objective, x0: Vec<f64>, opts: &LbfgsOptions) -> Result<OptimResult> {
    let n = obj.dim();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut f = obj.loss_grad(&x, &mut g)?;
    let done = |x: Vec<f64>, f, n_iter, termination, message: &str| {
        Ok(OptimResult {
            x,
            f,
            n_iter,
            termination,
            message: message.to_owned(),
        })
    };
    const CONV_GRAD: &str = "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL";
    if max_abs(&g) <= opts.pgtol {
        return done(x, f, 0, Termination::Converged, CONV_GRAD);
    }
    let tol = opts.factr * f64::EPSILON;
    let mut mem: VecDeque<Pair> = VecDeque::with_capacity(opts.m);
    let mut theta = 1.0;
    let mut iter = 0usize;
    let mut d = vec![0.0; n];
    let (mut t, mut r) = (vec![0.0; n], vec![0.0; n]);
    loop {
        if mem.is_empty() {
            // B = θI with θ = 1: the Cauchy point is x - g.
            for (dj, gj) in d.iter_mut().zip(&g) {
                *dj = -gj / theta;
            }
        } else {
            direction(&g, &mem, theta, &mut d);
        }
        let dnorm = dot(&d, &d).sqrt();
        let mut stp = if iter == 0 {
            (1.0 / dnorm).min(STPMAX)
        } else {
            1.0
        };
        t.copy_from_slice(&x);
        r.copy_from_slice(&g);
        let fold = f;
        let gdold = dot(&g, &d);
        // Line search; `None` when it failed.
        let mut accepted = None;
        if gdold < 0.0 {
            let mut ls = Dcsrch::new(1e-3, 0.9, 0.1, 0.0, STPMAX);
            let (mut s, mut task) = ls.start(stp, f, gdold);
            let mut evals = 0;
            while task == Task::Fg && evals < opts.max_ls && s.is_finite() {
                for i in 0..n {
                    x[i] = s * d[i] + t[i];
                }
                f = obj.loss_grad(&x, &mut g)?;
                evals += 1;
                stp = s;
                (s, task) = ls.iterate(s, f, dot(&g, &d));
            }
            // On convergence or a warning the search returns the step it
            // was given, i.e. the point last evaluated, which L-BFGS-B
            // accepts as the new iterate.
            if matches!(task, Task::Convergence | Task::Warning(_)) && evals > 0 {
                accepted = Some(stp);
            }
        }
        let Some(stp) = accepted else {
            // Restore the last iterate; refresh the memory once, give up
            // when that does not help either.
            x.copy_from_slice(&t);
            g.copy_from_slice(&r);
            f = fold;
            if mem.is_empty() {
                return done(x, f, iter, Termination::LineSearchFailed, "ABNORMAL: ");
            }
            mem.clear();
            theta = 1.0;
            continue;
        };
        iter += 1;
        if iter >= opts.max_iter {
            return done(
                x,
                f,
                iter,
                Termination::MaxIter,
                "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
            );
        }
        if max_abs(&g) <= opts.pgtol {
            return done(x, f, iter, Termination::Converged, CONV_GRAD);
        }
        let ddum = fold.abs().max(f.abs()).max(1.0);
        if fold - f <= tol * ddum {
            return done(
                x,
                f,
                iter,
                Termination::Converged,
                "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
            );
        }
        // s = stp·d, y = g - g_old; skip the update unless sᵀy is safely positive.
        let y: Vec<f64> = g.iter().zip(&r).map(|(a, b)| a - b).collect();
        let gd = dot(&g, &d);
        let (dr, ddum) = if stp == 1.0 {
            (gd - gdold, -gdold)
        } else {
            ((gd - gdold) * stp, -gdold * stp)
        };
        if dr <= f64::EPSILON * ddum {
            continue;
        }
        let s: Vec<f64> = d.iter().map(|v| v * stp).collect();
        theta = dot(&y, &y) / dr;
        if mem.len() == opts.m {
            mem.pop_front();
        }
        mem.push_back(Pair {
            s,
            y,
            rho: 1.0 / dr,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function in `n` dimensions.
    struct Rosenbrock(usize);

    impl Objective for Rosenbrock {
        fn dim(&self) -> usize {
            self.0
        }
        fn loss_grad(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64> {
            let mut f = 0.0;
            g.fill(0.0);
            for i in 0..self.0 - 1 {
                let a = x[i + 1] - x[i] * x[i];
                let b = 1.0 - x[i];
                f += 100.0 * a * a + b * b;
                g[i] += -400.0 * a * x[i] - 2.0 * b;
                g[i + 1] += 200.0 * a;
            }
            Ok(f)
        }
    }

    #[test]
    fn minimises_rosenbrock() {
        let opts = LbfgsOptions {
            max_iter: 500,
            pgtol: 1e-8,
            ..Default::default()
        };
        let res = lbfgs(&mut Rosenbrock(6), vec![-1.2; 6], &opts).unwrap();
        assert_eq!(res.termination, Termination::Converged, "{}", res.message);
        for v in &res.x {
            assert!((v - 1.0).abs() < 1e-6, "{:?}", res.x);
        }
        assert!(res.n_iter > 10);
    }

    #[test]
    fn stops_at_max_iter_and_at_a_stationary_start() {
        let opts = LbfgsOptions {
            max_iter: 3,
            pgtol: 1e-12,
            ..Default::default()
        };
        let res = lbfgs(&mut Rosenbrock(4), vec![-1.2; 4], &opts).unwrap();
        assert_eq!((res.termination, res.n_iter), (Termination::MaxIter, 3));
        let res = lbfgs(&mut Rosenbrock(4), vec![1.0; 4], &opts).unwrap();
        assert_eq!((res.termination, res.n_iter), (Termination::Converged, 0));
    }
}
