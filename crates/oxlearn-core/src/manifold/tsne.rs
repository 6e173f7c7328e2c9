//! t-SNE's optimisation, with the semantics of scikit-learn's `_tsne` and
//! `_gradient_descent`: two stages of batch gradient descent with momentum
//! and per-parameter gains (early exaggeration of `P` and momentum 0.5 for
//! the exploration iterations, then momentum 0.8), the error checked every
//! `n_iter_check` iterations, stopping when it has not improved for
//! `n_iter_without_progress` iterations or when the (gain-scaled) gradient
//! norm falls to `min_grad_norm`; `kl_divergence_` and `n_iter_` are what
//! scikit-learn reports, its quirks included (e.g. with `max_iter` equal to
//! the exploration iterations the second stage runs no iteration and the
//! error is `f64::MAX`).
//!
//! Everything runs in `f64`. The gradients ([`Gradient::Exact`], the dense
//! `O(n²)` one of `_kl_divergence`, and [`Gradient::BarnesHut`]) are
//! computed in parallel over fixed chunks of points, and every sum (`Z`,
//! the error, the gradient norm) is taken in a fixed order: the embedding is
//! bit-identical for any thread count.

use super::affinity::SparseP;
use super::barnes_hut::BarnesHut;
use crate::linalg::ChunkPlan;
use crate::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// Momentum of the exploration stage and of the rest (scikit-learn's).
const MOMENTUM: [f64; 2] = [0.5, 0.8];
/// Floor of the per-parameter gains (scikit-learn's `min_gain`).
const MIN_GAIN: f64 = 0.01;

/// One evaluation of the KL objective: the error (NaN unless
/// `compute_error`) and the gradient with respect to the embedding `y`
/// (`n × n_components`, row-major), with `P` scaled by `exaggeration`.
pub(crate) trait Objective {
    fn evaluate(
        &mut self,
        y: &[f64],
        exaggeration: f64,
        compute_error: bool,
        grad: &mut [f64],
    ) -> Result<f64>;
}

/// The KL error from its per-chunk parts, summed in chunk order; NaN when
/// it was not computed.
pub(crate) fn total_error(computed: bool, parts: &[f64]) -> f64 {
    if computed {
        parts.iter().fold(0.0, |a, &b| a + b)
    } else {
        f64::NAN
    }
}

/// Fails on a NaN or infinite coordinate: the tree and the sums would
/// otherwise run on garbage.
pub(crate) fn finite_embedding(y: &[f64]) -> Result<()> {
    match y.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(Error::NumericalFailure(format!(
            "the embedding holds {} at position {at}",
            y[at]
        ))),
    }
}

/// Which gradient to descend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gradient {
    /// The exact `O(n²)` gradient over a dense `P` (`method="exact"`).
    Exact,
    /// The Barnes–Hut approximation over a sparse `P`, 1 to 3 components
    /// (`method="barnes_hut"`).
    BarnesHut {
        /// scikit-learn's `angle` (theta): a cell summarises its points when
        /// its width over its distance is below it.
        angle: f64,
    },
}

/// The input-space affinities.
#[derive(Debug, Clone, Copy)]
pub enum Affinities<'a> {
    /// Dense `n × n`, row-major, zero diagonal (for [`Gradient::Exact`]).
    Dense(&'a [f64]),
    /// Sparse (for [`Gradient::BarnesHut`]).
    Sparse(&'a SparseP),
}

/// What the optimisation needs besides the affinities and the start.
#[derive(Debug, Clone, Copy)]
pub struct TsneParams {
    /// Dimension of the embedding.
    pub n_components: usize,
    /// Factor on `P` during the exploration stage.
    pub early_exaggeration: f64,
    /// Step size (scikit-learn's `learning_rate_`).
    pub learning_rate: f64,
    /// Total iterations, both stages.
    pub max_iter: usize,
    /// Iterations of the exploration stage (scikit-learn's
    /// `_EXPLORATION_MAX_ITER`, 250).
    pub exploration_iter: usize,
    /// Iterations between error checks (`_N_ITER_CHECK`, 50).
    pub n_iter_check: usize,
    /// Checks without improvement before stopping, in iterations (second
    /// stage; the first uses `exploration_iter`, as scikit-learn does).
    pub n_iter_without_progress: i64,
    /// Stop when the gain-scaled gradient norm falls to this.
    pub min_grad_norm: f64,
    /// Exact or Barnes–Hut.
    pub gradient: Gradient,
}

/// One error check, as scikit-learn's verbose output reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    /// The iteration (0-based).
    pub iteration: usize,
    /// KL divergence at this iteration.
    pub error: f64,
    /// Norm of the gain-scaled gradient.
    pub grad_norm: f64,
    /// Wall time since the previous check, in seconds (for reporting only).
    pub seconds: f64,
}

/// Why a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It ran all its iterations.
    Completed,
    /// No improvement of the error for `n_iter_without_progress` iterations.
    NoProgress,
    /// The gradient norm fell to `min_grad_norm`.
    SmallGradient,
}

/// One stage of gradient descent.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Its error checks.
    pub checks: Vec<Check>,
    /// Why it ended.
    pub stop: Stop,
    /// Its last iteration (0-based); its starting one when it runs none, as
    /// scikit-learn returns it.
    pub iteration: usize,
    /// Error of its last iteration (`f64::MAX` when it runs none).
    pub error: f64,
}

/// A fitted t-SNE.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneFit {
    /// `n × n_components`, row-major.
    pub embedding: Vec<f64>,
    /// scikit-learn's `kl_divergence_`: the error of the last iteration.
    pub kl_divergence: f64,
    /// scikit-learn's `n_iter_`: the last iteration (0-based).
    pub n_iter: usize,
    /// The exploration stage and the final one.
    pub stages: Vec<Stage>,
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

fn check_params(params: &TsneParams) -> Result<()> {
    let k = params.n_components;
    if k == 0 {
        return Err(invalid("n_components", "0; it must be at least 1".into()));
    }
    if let Gradient::BarnesHut { angle } = params.gradient {
        if k > 3 {
            return Err(invalid(
                "n_components",
                format!(
                    "{k}; the Barnes-Hut gradient supports 1 to 3 components; use method=\"exact\""
                ),
            ));
        }
        if !(angle.is_finite() && angle >= 0.0) {
            return Err(invalid(
                "angle",
                format!("{angle}; it must be a finite number >= 0"),
            ));
        }
    }
    let positive = |name, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(invalid(
                name,
                format!("{v}; it must be a positive, finite number"),
            ))
        }
    };
    positive("learning_rate", params.learning_rate)?;
    positive("early_exaggeration", params.early_exaggeration)?;
    if params.min_grad_norm.is_nan() || params.min_grad_norm < 0.0 {
        return Err(invalid(
            "min_grad_norm",
            format!("{}; it must be >= 0", params.min_grad_norm),
        ));
    }
    if params.n_iter_check == 0 {
        return Err(invalid("n_iter_check", "0; it must be at least 1".into()));
    }
    Ok(())
}

/// Runs t-SNE's two stages from `init` (`n × n_components`, row-major).
pub fn optimize(p: Affinities<'_>, init: &[f64], n: usize, params: &TsneParams) -> Result<TsneFit> {
    check_params(params)?;
    let k = params.n_components;
    if init.len() != n * k {
        return Err(Error::ShapeMismatch {
            what: "init vs n_samples × n_components".into(),
            expected: n * k,
            got: init.len(),
        });
    }
    // scikit-learn's degrees of freedom of the Student-t: n_components - 1,
    // at least 1 (van der Maaten, 2009).
    let dof = k.saturating_sub(1).max(1) as f64;
    match (p, params.gradient) {
        (Affinities::Dense(dense), Gradient::Exact) => {
            if dense.len() != n * n {
                return Err(Error::ShapeMismatch {
                    what: "P vs n_samples × n_samples".into(),
                    expected: n * n,
                    got: dense.len(),
                });
            }
            let mut obj = Exact {
                p: dense,
                n,
                k,
                dof,
            };
            run_stages(&mut obj, init, params)
        }
        (Affinities::Sparse(sp), Gradient::BarnesHut { angle }) => {
            sp.check()?;
            if u32::try_from(n).is_err() {
                return Err(invalid(
                    "X",
                    format!(
                        "{n} samples; the Barnes-Hut tree counts at most {} points",
                        u32::MAX
                    ),
                ));
            }
            if sp.n != n {
                return Err(Error::ShapeMismatch {
                    what: "P vs the number of samples".into(),
                    expected: n,
                    got: sp.n,
                });
            }
            match k {
                1 => run_stages(&mut BarnesHut::<1>::new(sp, angle, dof), init, params),
                2 => run_stages(&mut BarnesHut::<2>::new(sp, angle, dof), init, params),
                _ => run_stages(&mut BarnesHut::<3>::new(sp, angle, dof), init, params),
            }
        }
        _ => Err(invalid(
            "P",
            "the exact gradient takes a dense P and Barnes-Hut a sparse one".into(),
        )),
    }
}

/// scikit-learn's `_tsne`: exploration with exaggeration, then the rest.
fn run_stages(obj: &mut impl Objective, init: &[f64], params: &TsneParams) -> Result<TsneFit> {
    let mut y = init.to_vec();
    let explore = params.exploration_iter;
    let first = descend(
        obj,
        &mut y,
        0,
        explore,
        MOMENTUM[0],
        params.early_exaggeration,
        explore as i64,
        params,
    )?;
    let mut stages = vec![first];
    // scikit-learn runs the second stage whenever the first stopped early
    // or iterations remain (always, in practice), from the next iteration.
    let it = stages[0].iteration;
    if it < explore || params.max_iter > explore {
        let second = descend(
            obj,
            &mut y,
            it + 1,
            params.max_iter,
            MOMENTUM[1],
            1.0,
            params.n_iter_without_progress,
            params,
        )?;
        stages.push(second);
    }
    let last = &stages[stages.len() - 1];
    Ok(TsneFit {
        kl_divergence: last.error,
        n_iter: last.iteration,
        stages,
        embedding: y,
    })
}

/// scikit-learn's `_gradient_descent` over iterations `it..max_iter`.
#[allow(clippy::too_many_arguments)]
fn descend(
    obj: &mut impl Objective,
    y: &mut [f64],
    it: usize,
    max_iter: usize,
    momentum: f64,
    exaggeration: f64,
    n_iter_without_progress: i64,
    params: &TsneParams,
) -> Result<Stage> {
    let m = y.len();
    let mut update = vec![0.0f64; m];
    let mut gains = vec![1.0f64; m];
    let mut grad = vec![0.0f64; m];
    let mut stage = Stage {
        checks: Vec::new(),
        stop: Stop::Completed,
        iteration: it,
        error: f64::MAX,
    };
    let mut best_error = f64::MAX;
    let mut best_iter = it;
    let mut tic = Instant::now();
    let lr = params.learning_rate;
    for i in it..max_iter {
        let check = (i + 1) % params.n_iter_check == 0;
        let compute_error = check || i + 1 == max_iter;
        let error = obj
            .evaluate(y, exaggeration, compute_error, &mut grad)
            .map_err(|e| match e {
                Error::NumericalFailure(what) => Error::NumericalFailure(format!(
                    "t-SNE diverged at iteration {i}: {what}; lower learning_rate \
                     (or check init for NaN and infinity)"
                )),
                other => other,
            })?;
        for (((g, u), gain), v) in grad
            .iter_mut()
            .zip(&mut update)
            .zip(&mut gains)
            .zip(y.iter_mut())
        {
            // Gains grow where the step keeps its direction, else shrink.
            *gain = if *u * *g < 0.0 {
                *gain + 0.2
            } else {
                *gain * 0.8
            };
            if *gain < MIN_GAIN {
                *gain = MIN_GAIN;
            }
            *g *= *gain;
            *u = momentum * *u - lr * *g;
            *v += *u;
        }
        stage.iteration = i;
        stage.error = error;
        if check {
            let grad_norm = norm(&grad);
            let toc = Instant::now();
            stage.checks.push(Check {
                iteration: i,
                error,
                grad_norm,
                seconds: (toc - tic).as_secs_f64(),
            });
            tic = toc;
            if error < best_error {
                best_error = error;
                best_iter = i;
            } else if (i - best_iter) as i64 > n_iter_without_progress {
                stage.stop = Stop::NoProgress;
                break;
            }
            if grad_norm <= params.min_grad_norm {
                stage.stop = Stop::SmallGradient;
                break;
            }
        }
    }
    Ok(stage)
}

/// Euclidean norm, scaled by the largest magnitude so that it neither
/// overflows nor underflows (as BLAS `nrm2`), summed in index order.
fn norm(v: &[f64]) -> f64 {
    let scale = v.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale
        * v.iter()
            .fold(0.0, |a, &b| a + (b / scale) * (b / scale))
            .sqrt()
}

/// scikit-learn's `_kl_divergence`: the exact gradient over a dense `P`.
struct Exact<'a> {
    p: &'a [f64],
    n: usize,
    k: usize,
    dof: f64,
}

impl Exact<'_> {
    /// The Student-t weight of a squared distance, as scikit-learn computes
    /// it: `(d² / dof + 1)^(-(dof + 1) / 2)` (a reciprocal for dof = 1).
    #[inline(always)]
    fn weight(&self, dist2: f64) -> f64 {
        let t = dist2 / self.dof + 1.0;
        if self.dof == 1.0 {
            1.0 / t
        } else {
            t.powf((self.dof + 1.0) / -2.0)
        }
    }

    #[inline(always)]
    fn dist2(&self, y: &[f64], i: usize, j: usize) -> f64 {
        let k = self.k;
        let (yi, yj) = (&y[i * k..(i + 1) * k], &y[j * k..(j + 1) * k]);
        yi.iter()
            .zip(yj)
            .fold(0.0, |s, (a, b)| s + (a - b) * (a - b))
    }

    /// Rows per parallel task: about 64k pairs, fixed by `n` alone.
    fn chunk_rows(&self) -> usize {
        ((1usize << 16) / self.n.max(1)).clamp(1, 256)
    }
}

impl Objective for Exact<'_> {
    fn evaluate(
        &mut self,
        y: &[f64],
        exaggeration: f64,
        compute_error: bool,
        grad: &mut [f64],
    ) -> Result<f64> {
        let (n, k) = (self.n, self.k);
        finite_embedding(y)?;
        let rows = self.chunk_rows();
        let this = &*self;
        // Z = Σ_{i≠j} w_ij: row sums in column order, rows and chunks in order.
        let plan = ChunkPlan::new(n, n, rows);
        let z = plan.map_fold(
            usize::MAX,
            0.0,
            |range| Ok(exact_weight_sum(this, y, range.start, range.end)),
            |a, b| a + b,
        )?;
        let step = (z, exaggeration, compute_error);
        let errors: Vec<f64> = grad
            .par_chunks_mut(rows * k)
            .enumerate()
            .map(|(ch, out)| exact_gradient_rows(this, y, ch * rows, step, out))
            .collect();
        Ok(total_error(compute_error, &errors))
    }
}

crate::simd::multiversion! {
    /// `Σ_{j≠i} w_ij` over the rows `start..end`, in row then column order.
    fn exact_weight_sum(ex: &Exact<'_>, y: &[f64], start: usize, end: usize) -> f64
    => exact_weight_sum_portable
}

#[inline(always)]
fn exact_weight_sum_portable(ex: &Exact<'_>, y: &[f64], start: usize, end: usize) -> f64 {
    let n = ex.n;
    (start..end).fold(0.0, |acc, i| {
        acc + (0..n)
            .filter(|&j| j != i)
            .fold(0.0, |s, j| s + ex.weight(ex.dist2(y, i, j)))
    })
}

crate::simd::multiversion! {
    /// The gradient of the rows from `first` on (into `out`) given `step`
    /// = `(Z, exaggeration, compute_error)`; returns their KL terms.
    fn exact_gradient_rows(
        ex: &Exact<'_>,
        y: &[f64],
        first: usize,
        step: (f64, f64, bool),
        out: &mut [f64],
    ) -> f64
    => exact_gradient_rows_portable
}

#[inline(always)]
fn exact_gradient_rows_portable(
    ex: &Exact<'_>,
    y: &[f64],
    first: usize,
    step: (f64, f64, bool),
    out: &mut [f64],
) -> f64 {
    let (z, exaggeration, compute_error) = step;
    let (n, k) = (ex.n, ex.k);
    let c = 2.0 * (ex.dof + 1.0) / ex.dof;
    let mut err = 0.0;
    for (r, g) in out.chunks_exact_mut(k).enumerate() {
        let i = first + r;
        g.fill(0.0);
        let yi = &y[i * k..(i + 1) * k];
        for j in (0..n).filter(|&j| j != i) {
            let w = ex.weight(ex.dist2(y, i, j));
            let q = (w / z).max(f64::EPSILON);
            let pij = ex.p[i * n + j] * exaggeration;
            let coef = (pij - q) * w;
            for (a, ga) in g.iter_mut().enumerate() {
                *ga += coef * (yi[a] - y[j * k + a]);
            }
            if compute_error {
                err += pij * (pij.max(f64::EPSILON) / q).ln();
            }
        }
        for ga in g.iter_mut() {
            *ga *= c;
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifold::affinity::{conditional_probabilities, joint_probabilities};

    fn blobs(n: usize, d: usize) -> Vec<f64> {
        // Deterministic pseudo-random points around three centres.
        let mut s = 12345u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        (0..n * d)
            .map(|t| (t / d % 3) as f64 * 4.0 + next())
            .collect()
    }

    fn params(gradient: Gradient, k: usize) -> TsneParams {
        TsneParams {
            n_components: k,
            early_exaggeration: 12.0,
            learning_rate: 50.0,
            max_iter: 300,
            exploration_iter: 250,
            n_iter_check: 50,
            n_iter_without_progress: 300,
            min_grad_norm: 1e-7,
            gradient,
        }
    }

    /// Squared distances between the rows of `x` (`n × d`), as `f32`.
    fn squared_distances(x: &[f64], n: usize, d: usize) -> Vec<f32> {
        let mut sqd = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..d).map(|a| (x[i * d + a] - x[j * d + a]).powi(2)).sum();
                sqd[i * n + j] = s as f32;
            }
        }
        sqd
    }

    fn dense_p(x: &[f64], n: usize, d: usize) -> Vec<f64> {
        let sqd = squared_distances(x, n, d);
        let (cond, _) = conditional_probabilities(&sqd, n, n, true, 5.0).unwrap();
        joint_probabilities(&cond, n).unwrap()
    }

    fn init(n: usize, k: usize) -> Vec<f64> {
        (0..n * k)
            .map(|t| 1e-4 * (((t * 7919) % 101) as f64 - 50.0) / 50.0)
            .collect()
    }

    #[test]
    fn exact_gradient_matches_finite_differences() {
        let (n, d, k) = (12, 3, 2);
        let x = blobs(n, d);
        let p = dense_p(&x, n, d);
        let mut obj = Exact {
            p: &p,
            n,
            k,
            dof: 1.0,
        };
        let y: Vec<f64> = (0..n * k)
            .map(|t| ((t * 37 % 17) as f64 - 8.0) / 4.0)
            .collect();
        let mut g = vec![0.0; n * k];
        obj.evaluate(&y, 1.0, true, &mut g).unwrap();
        let h = 1e-6;
        for t in [0, 5, 17] {
            let (mut yp, mut ym) = (y.clone(), y.clone());
            yp[t] += h;
            ym[t] -= h;
            let mut scratch = vec![0.0; n * k];
            let ep = obj.evaluate(&yp, 1.0, true, &mut scratch).unwrap();
            let em = obj.evaluate(&ym, 1.0, true, &mut scratch).unwrap();
            let fd = (ep - em) / (2.0 * h);
            assert!(
                (fd - g[t]).abs() < 1e-5 * (1.0 + fd.abs()),
                "{t}: {fd} vs {}",
                g[t]
            );
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (n, d) = (700, 4);
        let x = blobs(n, d);
        let sqd = squared_distances(&x, n, d);
        let (cond, _) = conditional_probabilities(&sqd, n, n, true, 10.0).unwrap();
        let dense = joint_probabilities(&cond, n).unwrap();
        // A sparse P over each row's 20 nearest by index distance suffices here.
        let sparse = {
            let k = 20;
            let mut cols = Vec::new();
            let mut sq = Vec::new();
            for i in 0..n {
                let mut row: Vec<u32> = (0..n as u32).filter(|&j| j as usize != i).collect();
                row.sort_by(|&a, &b| sqd[i * n + a as usize].total_cmp(&sqd[i * n + b as usize]));
                row.truncate(k);
                row.sort_unstable();
                sq.extend(row.iter().map(|&j| sqd[i * n + j as usize]));
                cols.extend(row);
            }
            let (c, _) = conditional_probabilities(&sq, n, k, false, 10.0).unwrap();
            crate::manifold::affinity::joint_probabilities_nn(&c, &cols, n, k).unwrap()
        };
        for (p, gradient, k) in [
            (Affinities::Dense(&dense), Gradient::Exact, 2),
            (
                Affinities::Sparse(&sparse),
                Gradient::BarnesHut { angle: 0.5 },
                2,
            ),
            (
                Affinities::Sparse(&sparse),
                Gradient::BarnesHut { angle: 0.5 },
                3,
            ),
            (
                Affinities::Sparse(&sparse),
                Gradient::BarnesHut { angle: 0.5 },
                1,
            ),
        ] {
            let mut pr = params(gradient, k);
            pr.max_iter = 260;
            let y0 = init(n, k);
            let one =
                crate::threads::run(Some(1), usize::MAX, || optimize(p, &y0, n, &pr)).unwrap();
            let two =
                crate::threads::run(Some(2), usize::MAX, || optimize(p, &y0, n, &pr)).unwrap();
            let all = crate::threads::run(None, usize::MAX, || optimize(p, &y0, n, &pr)).unwrap();
            // Everything but the timings of the checks.
            let key = |f: &TsneFit| {
                let checks: Vec<(usize, f64, f64)> = f
                    .stages
                    .iter()
                    .flat_map(|s| s.checks.iter().map(|c| (c.iteration, c.error, c.grad_norm)))
                    .collect();
                (f.embedding.clone(), f.kl_divergence, f.n_iter, checks)
            };
            assert_eq!(key(&one), key(&two), "{gradient:?} k={k}");
            assert_eq!(key(&one), key(&all), "{gradient:?} k={k}");
            assert!(one.kl_divergence.is_finite());
            assert_eq!(one.n_iter, 259);
        }
    }

    #[test]
    fn barnes_hut_at_angle_zero_is_exact() {
        let (n, d) = (40, 3);
        let x = blobs(n, d);
        let dense = dense_p(&x, n, d);
        // The full P as a sparse matrix (no entry is below the floor here).
        let mut sp = SparseP {
            n,
            indptr: vec![0],
            ..Default::default()
        };
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                sp.indices.push(j as u32);
                sp.data.push(dense[i * n + j]);
            }
            sp.indptr.push(sp.indices.len());
        }
        // Distinct points (coincident ones do not repel under Barnes-Hut).
        let y: Vec<f64> = (0..n * 2)
            .map(|t| ((t * 7919) % 1009) as f64 / 100.0 - 5.0)
            .collect();
        let (mut ge, mut gb) = (vec![0.0; n * 2], vec![0.0; n * 2]);
        let ee = Exact {
            p: &dense,
            n,
            k: 2,
            dof: 1.0,
        }
        .evaluate(&y, 1.0, true, &mut ge)
        .unwrap();
        let eb = BarnesHut::<2>::new(&sp, 0.0, 1.0)
            .evaluate(&y, 1.0, true, &mut gb)
            .unwrap();
        // Barnes-Hut's forces are f32 (as scikit-learn's), the exact f64.
        assert!((ee - eb).abs() < 1e-6 * ee.abs(), "{ee} vs {eb}");
        let scale = ge.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (a, b) in ge.iter().zip(&gb) {
            assert!((a - b).abs() < 1e-5 * scale, "{a} vs {b}");
        }
    }

    #[test]
    fn stages_follow_scikit_learn() {
        let (n, d) = (30, 3);
        let x = blobs(n, d);
        let p = dense_p(&x, n, d);
        let mut pr = params(Gradient::Exact, 2);
        pr.max_iter = 250;
        let fit = optimize(Affinities::Dense(&p), &init(n, 2), n, &pr).unwrap();
        // The second stage runs from 250 to 250: no iteration at all.
        assert_eq!((fit.n_iter, fit.kl_divergence), (250, f64::MAX));
        assert_eq!(fit.stages[0].checks.len(), 5);
        pr.max_iter = 503;
        let fit = optimize(Affinities::Dense(&p), &init(n, 2), n, &pr).unwrap();
        assert_eq!(fit.n_iter, 502);
        assert!(fit.kl_divergence.is_finite() && fit.kl_divergence > 0.0);
        // n_iter_without_progress = -1 stops at the first check that does
        // not improve.
        pr.n_iter_without_progress = -1;
        pr.learning_rate = 1e8;
        let fit = optimize(Affinities::Dense(&p), &init(n, 2), n, &pr).unwrap();
        assert!(fit
            .stages
            .iter()
            .all(|s| s.checks.iter().all(|c| c.error.is_finite())));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = vec![0.0; 4];
        let pr = params(Gradient::Exact, 2);
        assert!(optimize(Affinities::Dense(&p), &[0.0; 3], 2, &pr).is_err());
        assert!(optimize(Affinities::Dense(&p[..3]), &[0.0; 4], 2, &pr).is_err());
        assert!(optimize(Affinities::Dense(&p), &[f64::NAN; 4], 2, &pr).is_err());
        let mut bh = params(Gradient::BarnesHut { angle: 0.5 }, 4);
        let sp = SparseP {
            n: 2,
            indptr: vec![0, 1, 2],
            indices: vec![1, 0],
            data: vec![0.5, 0.5],
        };
        assert!(optimize(Affinities::Sparse(&sp), &[0.0; 8], 2, &bh).is_err());
        bh.n_components = 2;
        assert!(optimize(Affinities::Dense(&p), &[0.0; 4], 2, &bh).is_err());
        let broken = SparseP {
            indices: vec![1, 7],
            ..sp.clone()
        };
        assert!(optimize(Affinities::Sparse(&broken), &[0.0; 4], 2, &bh).is_err());
        let fit = optimize(Affinities::Sparse(&sp), &[0.0; 4], 2, &bh).unwrap();
        // Two coincident points: no force at all, the gradient is zero.
        assert_eq!(fit.embedding, vec![0.0; 4]);
    }
}
