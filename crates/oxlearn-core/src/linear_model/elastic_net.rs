//! Elastic net and lasso by coordinate descent, with scikit-learn's
//! semantics (`sklearn/linear_model/_cd_fast.pyx`, version 1.9).
//!
//! Each target `y` is fitted by minimising
//!
//! ```text
//! 1/2 ‖y − X w‖² + a ‖w‖₁ + b/2 ‖w‖²,   a = α·l1_ratio·n,  b = α·(1 − l1_ratio)·n
//! ```
//!
//! (n times scikit-learn's documented objective) on data centred as
//! `_preprocess_data` centres it and scaled by `sqrt(sample_weight)`, the
//! weights first rescaled to sum to n. The iteration is scikit-learn's,
//! update for update: the same coordinate order (cyclic, or its xorshift
//! `rand_r` stream from the same seed), the same gap-safe screening, the same
//! stopping rule (the largest update relative to the largest coefficient
//! `≤ tol`, then the duality gap `≤ tol·‖y‖²`). So `coef_`, `n_iter_` and
//! `dual_gap_` agree with scikit-learn's up to rounding, `n_iter_` exactly
//! unless a test sits on a rounding edge.
//!
//! The iterates are computed from the Gram matrix `XᵀX` when `n > p`, `p` is
//! moderate and `tol` is not at the arithmetic's resolution, whatever
//! `precompute` says (the updates are the same numbers in exact arithmetic;
//! the Gram matrix costs one pass over the data, then each epoch costs
//! O(p·active) instead of O(n·active)), else from the residuals of a centred
//! copy of `X`. `precompute` only selects which of
//! scikit-learn's two control flows is followed (they differ on a negative
//! initial gap). The Gram matrix is accumulated over fixed row chunks
//! ([`Moments`]) and every descent is sequential, so results are
//! bit-identical for any thread count.

use crate::linalg::{ChunkPlan, Moments};
use crate::{Error, Real, Result};
use faer::{Mat, MatRef};
use rayon::prelude::*;

/// How the next coordinate is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Features in order, every epoch.
    Cyclic,
    /// A uniformly drawn active feature, as many draws per epoch as there
    /// are active features (scikit-learn's `rand_r` xorshift stream).
    Random,
}

/// Parameters of [`fit_elastic_net`].
#[derive(Debug, Clone)]
pub struct ElasticNetParams {
    /// Penalty strength α ≥ 0.
    pub alpha: f64,
    /// Share of the L1 penalty, in `[0, 1]` (1: the lasso).
    pub l1_ratio: f64,
    /// Centre the data and fit an intercept.
    pub fit_intercept: bool,
    /// Epochs at most (≥ 1).
    pub max_iter: usize,
    /// Stopping tolerance ≥ 0 (scaled by `‖y‖²` for the duality gap).
    pub tol: f64,
    /// Constrain the coefficients to be non-negative.
    pub positive: bool,
    /// Coordinate order.
    pub selection: Selection,
    /// One `rand_r` seed per target: what scikit-learn draws with
    /// `check_random_state(random_state).randint(0, 2**31 - 1)` for each
    /// target, whatever the selection (empty: zeros).
    pub seeds: Vec<u32>,
    /// scikit-learn's `precompute=True`: follow its Gram solver's control
    /// flow (and always compute the Gram matrix).
    pub precompute: bool,
    /// Rows per chunk of the Gram accumulation (0: automatic).
    pub chunk_rows: usize,
}

impl Default for ElasticNetParams {
    fn default() -> Self {
        ElasticNetParams {
            alpha: 1.0,
            l1_ratio: 0.5,
            fit_intercept: true,
            max_iter: 1000,
            tol: 1e-4,
            positive: false,
            selection: Selection::Cyclic,
            seeds: Vec::new(),
            precompute: false,
            chunk_rows: 0,
        }
    }
}

/// A fitted elastic net, in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct ElasticNetFit {
    /// t×p coefficients.
    pub coef: Mat<f64>,
    /// One intercept per target (zeros without `fit_intercept`).
    pub intercept: Vec<f64>,
    /// Epochs run per target (0: the starting point already met the gap).
    pub n_iter: Vec<usize>,
    /// Duality gap per target, in scikit-learn's units (`dual_gap_`: the
    /// solver's gap divided by n).
    pub dual_gap: Vec<f64>,
    /// The solver's own gap and the tolerance it was held to
    /// (`tol·‖y‖²`), per target: what scikit-learn's `ConvergenceWarning`
    /// reports.
    pub raw_gap: Vec<f64>,
    /// See `raw_gap`.
    pub raw_tol: Vec<f64>,
    /// Whether the gap met the tolerance, per target.
    pub converged: Vec<bool>,
}

/// Above this many features the Gram matrix is computed only on request
/// (`precompute`): it costs n·p²/2 multiply-adds and p² memory, which for
/// wide data outweighs the epochs it saves.
const GRAM_MAX_FEATURES: usize = 1024;

/// Below this `tol` the descent runs on the data (unless `precompute`), as
/// scikit-learn's does: a coordinate update from the Gram matrix resolves
/// `X_jᵀR` only to ε·‖X_j‖·‖y‖ (`q_j − (Qw)_j`, a difference of large
/// numbers), from the residuals to ε·‖X_j‖·‖R‖, and a relative update test
/// at 1e-13 and below can then fail on rounding noise where scikit-learn's
/// passes.
const GRAM_MIN_TOL: f64 = 1e-12;

/// Fits an elastic net to each column of `y` by coordinate descent.
///
/// `coef_init` (t×p) is the starting point (`warm_start`); zeros without it.
/// Fails on NaN/infinity in `x` or `y`, invalid weights (or weights summing
/// to zero), mismatched shapes and out-of-range parameters.
pub fn fit_elastic_net<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    coef_init: Option<MatRef<'_, f64>>,
    params: &ElasticNetParams,
) -> Result<ElasticNetFit> {
    let (n, p) = x.shape();
    let gram = params.precompute || (n > p && p <= GRAM_MAX_FEATURES && params.tol >= GRAM_MIN_TOL);
    fit_with(x, y, w, coef_init, params, gram)
}

/// [`fit_elastic_net`] on the Gram matrix (`gram`) or on the data.
fn fit_with<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    coef_init: Option<MatRef<'_, f64>>,
    params: &ElasticNetParams,
    use_gram: bool,
) -> Result<ElasticNetFit> {
    let (n, p) = x.shape();
    let t = y.ncols();
    check_params(params, t)?;
    crate::linalg::moments::check_inputs(x, y, w)?;
    if let Some(c) = coef_init {
        if c.nrows() != t || c.ncols() != p {
            return Err(Error::ShapeMismatch {
                what: format!(
                    "coef_init of shape ({}, {}) vs (n_targets, n_features)",
                    c.nrows(),
                    c.ncols()
                ),
                expected: t * p,
                got: c.nrows() * c.ncols(),
            });
        }
    }
    // scikit-learn rescales the weights to sum to n, so that the penalty
    // keeps its meaning (alpha' = n·alpha); 1.0 without weights.
    let weight_scale = match w {
        Some(w) => {
            let sum: f64 = w.iter().map(|v| v.to_f64()).sum();
            if sum <= 0.0 {
                return Err(Error::InvalidParameter {
                    name: "sample_weight",
                    reason: format!(
                        "the weights sum to {sum}; at least one sample needs a positive weight"
                    ),
                });
            }
            n as f64 / sum
        }
        None => 1.0,
    };
    let nf = n as f64;
    let l1_reg = params.alpha * params.l1_ratio * nf;
    let l2_reg = params.alpha * (1.0 - params.l1_ratio) * nf;
    let start = |k: usize| -> Vec<f64> {
        match coef_init {
            Some(c) => (0..p).map(|j| c[(k, j)]).collect(),
            None => vec![0.0; p],
        }
    };
    let rules = Rules {
        alpha: l1_reg,
        beta: l2_reg,
        max_iter: params.max_iter,
        tol: params.tol,
        positive: params.positive,
        random: params.selection == Selection::Random,
        gram_flow: params.precompute,
    };
    let seed = |k: usize| params.seeds.get(k).copied().unwrap_or(0);
    // Per target: the coefficients and how the descent ended.
    type Solved = Vec<(Vec<f64>, Outcome)>;
    let (outcomes, mean_x, mean_y): (Solved, Vec<f64>, Vec<f64>) = if use_gram {
        let mut m = Moments::from_data(x, y, w, params.fit_intercept, params.chunk_rows)?;
        let y2 = target_sq_norms(y, w, &m.mean_y, params.fit_intercept, params.chunk_rows)?;
        if weight_scale != 1.0 {
            m.cxx *= faer::Scale(weight_scale);
            m.cxy *= faer::Scale(weight_scale);
        }
        let gram: Vec<f64> = (0..p)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .map(|(i, j)| m.cxx[(i, j)])
            .collect();
        let finite = |v: &[f64]| v.iter().all(|v| v.is_finite());
        let xy_finite = (0..t).all(|k| (0..p).all(|j| m.cxy[(j, k)].is_finite()));
        if !(finite(&gram) && xy_finite && finite(&y2)) {
            // Products of values near the end of the f64 range overflowed:
            // the descent would run on infinities (scikit-learn's ends in
            // non-finite coefficients, which it reports as this).
            return Err(OVERFLOW);
        }
        let outcomes = (0..t)
            .into_par_iter()
            .map(|k| {
                let mut wk = start(k);
                let xy: Vec<f64> = (0..p).map(|j| m.cxy[(j, k)]).collect();
                let mut prob = GramProblem::new(&gram, xy, y2[k] * weight_scale, &wk);
                let out = descend(&mut prob, &mut wk, &rules, seed(k));
                (wk, out)
            })
            .collect();
        (outcomes, m.mean_x, m.mean_y)
    } else {
        let ws: Option<Vec<f64>> = w.map(|w| w.iter().map(|v| v.to_f64() * weight_scale).collect());
        let (xc, mean_x) = centered_columns(x, ws.as_deref(), params.fit_intercept, "X")?;
        let (yc, mean_y) = centered_columns(y, ws.as_deref(), params.fit_intercept, "y")?;
        let norms: Vec<f64> = xc.chunks_exact(n).map(|c| dot(c, c)).collect();
        let y2_finite = yc.chunks_exact(n).all(|c| dot(c, c).is_finite());
        if !(norms.iter().all(|v| v.is_finite()) && y2_finite) {
            return Err(OVERFLOW); // as on the Gram path
        }
        let outcomes = (0..t)
            .into_par_iter()
            .map(|k| {
                let mut wk = start(k);
                let yk = &yc[k * n..(k + 1) * n];
                let mut prob = DataProblem::new(&xc, n, yk, &norms, &wk);
                let out = descend(&mut prob, &mut wk, &rules, seed(k));
                (wk, out)
            })
            .collect();
        (outcomes, mean_x, mean_y)
    };
    let mut coef = Mat::zeros(t, p);
    let mut fit = ElasticNetFit {
        coef: Mat::zeros(0, 0),
        intercept: Vec::with_capacity(t),
        n_iter: Vec::with_capacity(t),
        dual_gap: Vec::with_capacity(t),
        raw_gap: Vec::with_capacity(t),
        raw_tol: Vec::with_capacity(t),
        converged: Vec::with_capacity(t),
    };
    for (k, (wk, out)) in outcomes.into_iter().enumerate() {
        let mut dot_mean = 0.0;
        for j in 0..p {
            coef[(k, j)] = wk[j];
            dot_mean += wk[j] * mean_x[j];
        }
        fit.intercept.push(if params.fit_intercept {
            mean_y[k] - dot_mean
        } else {
            0.0
        });
        fit.n_iter.push(out.n_iter);
        fit.dual_gap.push(out.gap / nf);
        fit.raw_gap.push(out.gap);
        fit.raw_tol.push(out.tol);
        fit.converged.push(out.converged);
    }
    let finite = (0..t).all(|k| (0..p).all(|j| coef[(k, j)].is_finite()))
        && fit.intercept.iter().all(|v| v.is_finite());
    if !finite {
        return Err(OVERFLOW);
    }
    fit.coef = coef;
    Ok(fit)
}

/// The error of a fit whose sums overflowed.
const OVERFLOW: Error = Error::Overflow {
    what: "Coordinate descent iterations",
};

fn check_params(params: &ElasticNetParams, n_targets: usize) -> Result<()> {
    let bad = |name: &'static str, reason: String| Err(Error::InvalidParameter { name, reason });
    if !(params.alpha.is_finite() && params.alpha >= 0.0) {
        return bad(
            "alpha",
            format!("{}; alpha must be finite and >= 0", params.alpha),
        );
    }
    if !(0.0..=1.0).contains(&params.l1_ratio) {
        return bad(
            "l1_ratio",
            format!("{}; l1_ratio must be between 0 and 1", params.l1_ratio),
        );
    }
    if !(params.tol.is_finite() && params.tol >= 0.0) {
        return bad(
            "tol",
            format!("{}; tol must be finite and >= 0", params.tol),
        );
    }
    if params.max_iter == 0 {
        return bad("max_iter", "0; max_iter must be at least 1".into());
    }
    if !params.seeds.is_empty() && params.seeds.len() != n_targets {
        return Err(Error::ShapeMismatch {
            what: "number of random seeds vs number of targets".into(),
            expected: n_targets,
            got: params.seeds.len(),
        });
    }
    Ok(())
}

/// `Σ_i w_i (y_ik − ȳ_k)²` per target (`ȳ = 0` when not centred), over
/// fixed chunks folded in order.
fn target_sq_norms<T: Real>(
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    mean_y: &[f64],
    centered: bool,
    chunk_rows: usize,
) -> Result<Vec<f64>> {
    let t = y.ncols();
    let plan = ChunkPlan::new(y.nrows(), t, chunk_rows);
    plan.map_fold(
        64,
        vec![0.0; t],
        |rows| {
            let mut s = vec![0.0; t];
            for i in rows {
                let wi = w.map_or(1.0, |w| w[i].to_f64());
                for k in 0..t {
                    let d = y[(i, k)].to_f64() - if centered { mean_y[k] } else { 0.0 };
                    s[k] += wi * d * d;
                }
            }
            Ok(s)
        },
        |mut acc, part| {
            for (a, b) in acc.iter_mut().zip(part) {
                *a += b;
            }
            acc
        },
    )
}

/// A column-major `f64` copy of `m` (n×c) as scikit-learn prepares it:
/// each column minus its weighted mean (when `centered`), each row times
/// `sqrt(w_i)`. Returns the copy and the means. Columns are independent
/// and each is summed in row order, so the copy does not depend on the
/// thread count.
fn centered_columns<T: Real>(
    m: MatRef<'_, T>,
    w: Option<&[f64]>,
    centered: bool,
    what: &'static str,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, c) = m.shape();
    let mut out = vec![0.0; n * c];
    let sum_w: f64 = w.map_or(n as f64, |w| w.iter().sum());
    let means: Vec<f64> = out
        .par_chunks_mut(n.max(1))
        .enumerate()
        .map(|(j, col)| {
            for (i, o) in col.iter_mut().enumerate() {
                *o = m[(i, j)].to_f64();
            }
            if let Some(e) = col.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what,
                    kind: crate::error::NonFiniteKind::of(col[e]),
                    dtype: T::DTYPE,
                    row: e,
                    col: j,
                });
            }
            let mut mean = 0.0;
            if centered {
                let weighted = |col: &[f64], shift: f64| -> f64 {
                    match w {
                        Some(w) => col.iter().zip(w).map(|(v, wi)| wi * (v - shift)).sum(),
                        None => col.iter().map(|v| v - shift).sum(),
                    }
                };
                // Two passes: the correction recovers the digits a large
                // offset costs the first sum.
                mean = weighted(col, 0.0) / sum_w;
                mean += weighted(col, mean) / sum_w;
                for v in col.iter_mut() {
                    *v -= mean;
                }
            }
            if let Some(w) = w {
                for (v, wi) in col.iter_mut().zip(w) {
                    *v *= wi.sqrt();
                }
            }
            Ok(mean)
        })
        .collect::<Result<_>>()?;
    Ok((out, means))
}

/// The canonical dot product: 8 partial sums, combined pairwise.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            s[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        s[l] += x * y;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// `y -= a x`.
#[inline]
fn axpy_neg(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi -= a * xi;
    }
}

/// What coordinate descent needs from the data: the data itself, with the
/// residuals `R = y − Xw` kept up to date, or its Gram matrix, with `Qw`.
trait Problem {
    fn n_features(&self) -> usize;
    /// `‖X_j‖²`.
    fn norm2(&self, j: usize) -> f64;
    /// `X_jᵀ(y − Xw) + w_j ‖X_j‖²`, the correlation of feature j with the
    /// residual that leaves it out.
    fn partial(&self, j: usize, w_j: f64) -> f64;
    /// `w_j` moved by `delta`.
    fn shift(&mut self, j: usize, delta: f64);
    /// `XᵀR` into `xtr`; returns `(‖R‖², Rᵀy)`.
    fn residual_stats(&self, w: &[f64], xtr: &mut [f64]) -> (f64, f64);
    /// `‖y‖²`.
    fn y_norm2(&self) -> f64;
}

/// scikit-learn's `enet_coordinate_descent`: column-major centred data.
struct DataProblem<'a> {
    x: &'a [f64],
    n: usize,
    y: &'a [f64],
    norms: &'a [f64],
    r: Vec<f64>,
    y2: f64,
}

impl<'a> DataProblem<'a> {
    fn new(x: &'a [f64], n: usize, y: &'a [f64], norms: &'a [f64], w: &[f64]) -> Self {
        let mut r = y.to_vec();
        for (j, &wj) in w.iter().enumerate() {
            if wj != 0.0 {
                axpy_neg(wj, &x[j * n..(j + 1) * n], &mut r);
            }
        }
        DataProblem {
            x,
            n,
            y,
            norms,
            r,
            y2: dot(y, y),
        }
    }

    fn col(&self, j: usize) -> &'a [f64] {
        &self.x[j * self.n..(j + 1) * self.n]
    }
}

impl Problem for DataProblem<'_> {
    fn n_features(&self) -> usize {
        self.norms.len()
    }
    fn norm2(&self, j: usize) -> f64 {
        self.norms[j]
    }
    fn partial(&self, j: usize, w_j: f64) -> f64 {
        dot(self.col(j), &self.r) + w_j * self.norms[j]
    }
    fn shift(&mut self, j: usize, delta: f64) {
        let col = self.col(j);
        axpy_neg(delta, col, &mut self.r);
    }
    fn residual_stats(&self, _w: &[f64], xtr: &mut [f64]) -> (f64, f64) {
        for (j, v) in xtr.iter_mut().enumerate() {
            *v = dot(self.col(j), &self.r);
        }
        (dot(&self.r, &self.r), dot(&self.r, self.y))
    }
    fn y_norm2(&self) -> f64 {
        self.y2
    }
}

/// scikit-learn's `enet_coordinate_descent_gram`: `Q = XᵀX` (row-major,
/// symmetric), `q = Xᵀy`.
struct GramProblem<'a> {
    gram: &'a [f64],
    xy: Vec<f64>,
    qw: Vec<f64>,
    y2: f64,
}

impl<'a> GramProblem<'a> {
    fn new(gram: &'a [f64], xy: Vec<f64>, y2: f64, w: &[f64]) -> Self {
        let p = xy.len();
        let qw = (0..p).map(|i| dot(&gram[i * p..(i + 1) * p], w)).collect();
        GramProblem { gram, xy, qw, y2 }
    }

    fn row(&self, j: usize) -> &'a [f64] {
        let p = self.xy.len();
        &self.gram[j * p..(j + 1) * p]
    }
}

impl Problem for GramProblem<'_> {
    fn n_features(&self) -> usize {
        self.xy.len()
    }
    fn norm2(&self, j: usize) -> f64 {
        self.gram[j * self.xy.len() + j]
    }
    fn partial(&self, j: usize, w_j: f64) -> f64 {
        self.xy[j] - self.qw[j] + w_j * self.norm2(j)
    }
    fn shift(&mut self, j: usize, delta: f64) {
        let row = self.row(j);
        axpy_neg(-delta, row, &mut self.qw);
    }
    fn residual_stats(&self, w: &[f64], xtr: &mut [f64]) -> (f64, f64) {
        for (j, v) in xtr.iter_mut().enumerate() {
            *v = self.xy[j] - self.qw[j];
        }
        let q_dot_w = dot(w, &self.xy);
        let w_q_w = dot(w, &self.qw);
        (self.y2 + w_q_w - 2.0 * q_dot_w, self.y2 - q_dot_w)
    }
    fn y_norm2(&self) -> f64 {
        self.y2
    }
}

/// The fixed settings of one descent.
struct Rules {
    alpha: f64,
    beta: f64,
    max_iter: usize,
    tol: f64,
    positive: bool,
    random: bool,
    /// Follow the Gram solver's control flow (its initial gap test
    /// requires `gap ≥ 0`).
    gram_flow: bool,
}

/// How one descent ended.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    n_iter: usize,
    gap: f64,
    tol: f64,
    converged: bool,
}

/// scikit-learn's `rand_r` replacement: a 32-bit xorshift (Marsaglia 2003),
/// reduced below 2³¹.
struct RandR(u32);

impl RandR {
    fn below(&mut self, end: usize) -> usize {
        let mut s = if self.0 == 0 { 1 } else { self.0 };
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        self.0 = s;
        ((s % (1u32 << 31)) % end as u32) as usize
    }
}

/// The duality gap at `w` and the dual norm of `XᵀR − βw` (scikit-learn's
/// `gap_enet`): formulation A for α > 0, formulation B for α = 0 < β, and
/// `‖XᵀR‖²` (the first-order condition) for ordinary least squares. Leaves
/// `XᵀR − βw` (or `XᵀR` when α = 0) in `xta`.
fn duality_gap<P: Problem>(prob: &P, w: &[f64], r: &Rules, xta: &mut [f64]) -> (f64, f64) {
    let (alpha, beta) = (r.alpha, r.beta);
    let w_l2 = if beta > 0.0 { dot(w, w) } else { 0.0 };
    let (r_norm2, ry) = prob.residual_stats(w, xta);
    if alpha == 0.0 {
        let dual_norm = dot(xta, xta);
        if beta == 0.0 {
            return (dual_norm, dual_norm);
        }
        let gap = r_norm2 + 0.5 * beta * w_l2 - ry + 1.0 / (2.0 * beta) * dual_norm;
        return (gap, dual_norm);
    }
    for (v, &wj) in xta.iter_mut().zip(w) {
        *v -= beta * wj;
    }
    let dual_norm = if r.positive {
        xta.iter().copied().fold(xta[0], f64::max)
    } else {
        xta.iter().fold(xta[0].abs(), |m, v| m.max(v.abs()))
    };
    let w_l1: f64 = w.iter().map(|v| v.abs()).sum();
    let primal = 0.5 * (r_norm2 + beta * w_l2) + alpha * w_l1;
    let scale = if dual_norm > alpha {
        alpha / dual_norm
    } else {
        1.0
    };
    let dual = -0.5 * (scale * scale) * (r_norm2 + beta * w_l2) + scale * ry;
    (primal - dual, dual_norm)
}

/// The active set of gap-safe screening (Ndiaye et al. 2017, eq. 11).
struct Screen {
    active: Vec<usize>,
    excluded: Vec<bool>,
}

impl Screen {
    /// Re-screens the features not yet excluded: a feature whose dual
    /// constraint is provably inactive at the optimum is set to zero and
    /// never visited again. `first`: the initial screening, which also
    /// excludes all-zero columns.
    #[allow(clippy::too_many_arguments)]
    fn update<P: Problem>(
        &mut self,
        prob: &mut P,
        w: &mut [f64],
        xta: &[f64],
        gap: f64,
        dual_norm: f64,
        r: &Rules,
        first: bool,
    ) {
        // A negative gap is rounding (scikit-learn's Gram solver takes |gap|;
        // its data solver never screens with one).
        let radius = (2.0 * gap.abs()).sqrt() / r.alpha;
        let denom = if r.alpha > dual_norm {
            r.alpha
        } else {
            dual_norm
        };
        self.active.clear();
        for j in 0..w.len() {
            if !first && self.excluded[j] {
                continue;
            }
            if first && prob.norm2(j) == 0.0 {
                w[j] = 0.0;
                self.excluded[j] = true;
                continue;
            }
            let xj_theta = xta[j] / denom;
            let d_j = (1.0 - xj_theta.abs()) / (prob.norm2(j) + r.beta).sqrt();
            if d_j <= radius {
                self.active.push(j);
                self.excluded[j] = false;
            } else {
                if w[j] != 0.0 {
                    prob.shift(j, -w[j]);
                    w[j] = 0.0;
                }
                self.excluded[j] = true;
            }
        }
    }
}

/// Coordinate descent on one target from `w`, scikit-learn's loop step for
/// step.
fn descend<P: Problem>(prob: &mut P, w: &mut [f64], r: &Rules, seed: u32) -> Outcome {
    let p = prob.n_features();
    let mut xta = vec![0.0; p];
    let mut rng = RandR(seed);
    let screening = r.alpha != 0.0;
    // The coordinate-update test uses tol as given; the gap test, tol·‖y‖².
    let d_w_tol = r.tol;
    let tol = r.tol * prob.y_norm2();
    let (mut gap, mut dual_norm) = duality_gap(prob, w, r, &mut xta);
    let met = if r.gram_flow {
        (0.0..=tol).contains(&gap)
    } else {
        gap <= tol
    };
    if met {
        return Outcome {
            n_iter: 0,
            gap,
            tol,
            converged: true,
        };
    }
    let mut screen = Screen {
        active: (0..p).collect(),
        excluded: vec![false; p],
    };
    if screening {
        screen.update(prob, w, &xta, gap, dual_norm, r, true);
    }
    for n_iter in 0..r.max_iter {
        let mut w_max = 0.0f64;
        let mut d_w_max = 0.0f64;
        let n_active = screen.active.len();
        for f_iter in 0..n_active {
            let pick = if r.random {
                rng.below(n_active)
            } else {
                f_iter
            };
            let j = screen.active[pick];
            let norm2 = prob.norm2(j);
            if norm2 == 0.0 {
                continue;
            }
            let w_j = w[j];
            let tmp = prob.partial(j, w_j);
            w[j] = if r.positive && tmp < 0.0 {
                0.0
            } else {
                let shrunk = (tmp.abs() - r.alpha).max(0.0);
                sign(tmp) * shrunk / (norm2 + r.beta)
            };
            if w[j] != w_j {
                prob.shift(j, w[j] - w_j);
            }
            let d_w_j = (w[j] - w_j).abs();
            if d_w_j > d_w_max {
                d_w_max = d_w_j;
            }
            if w[j].abs() > w_max {
                w_max = w[j].abs();
            }
        }
        if w_max == 0.0 || d_w_max / w_max <= d_w_tol || n_iter == r.max_iter - 1 {
            (gap, dual_norm) = duality_gap(prob, w, r, &mut xta);
            if gap <= tol {
                return Outcome {
                    n_iter: n_iter + 1,
                    gap,
                    tol,
                    converged: true,
                };
            }
            if screening {
                screen.update(prob, w, &xta, gap, dual_norm, r, false);
            }
        }
    }
    Outcome {
        n_iter: r.max_iter,
        gap,
        tol,
        converged: false,
    }
}

/// scikit-learn's `fsign`: 0 at 0.
#[inline]
fn sign(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else if v > 0.0 {
        1.0
    } else {
        -1.0
    }
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

    /// A sparse linear signal plus noise, n×p row-major, and its targets.
    fn problem(n: usize, p: usize, t: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let xs = lcg(n * p, seed);
        let noise = lcg(n * t, seed + 1);
        let mut ys = vec![0.0; n * t];
        for i in 0..n {
            for k in 0..t {
                let mut v = 3.0 + 0.1 * noise[i * t + k];
                for j in (k..p).step_by(3) {
                    v += (j as f64 + 1.0) * xs[i * p + j];
                }
                ys[i * t + k] = v;
            }
        }
        (xs, ys)
    }

    fn params(alpha: f64, l1_ratio: f64) -> ElasticNetParams {
        ElasticNetParams {
            alpha,
            l1_ratio,
            tol: 1e-10,
            ..Default::default()
        }
    }

    #[test]
    fn one_feature_is_soft_thresholding() {
        // Centred x = [-1, 0, 1], y = 2x + 5: Σxy = 4, Σx² = 2, n = 3. With
        // a = α·l1·n and b = α·(1 − l1)·n: w = (4 − a) / (2 + b).
        let xs = [0.0, 1.0, 2.0];
        let ys = [3.0, 5.0, 7.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        let y = MatRef::from_row_major_slice(&ys, 3, 1);
        let fit = fit_elastic_net(x, y, None, None, &params(0.5, 0.6)).unwrap();
        let (a, b) = (0.5 * 0.6 * 3.0, 0.5 * 0.4 * 3.0);
        let want = (4.0 - a) / (2.0 + b);
        assert!((fit.coef[(0, 0)] - want).abs() < 1e-15, "{:?}", fit.coef);
        assert!((fit.intercept[0] - (5.0 - want)).abs() < 1e-14);
        assert!(fit.converged[0]);
        // One feature: the first epoch lands on the optimum, the second
        // moves nothing, and the gap then meets the tolerance.
        assert_eq!(fit.n_iter, vec![2]);
        // A large penalty zeroes the coefficient: the gap at w = 0 is met
        // at once, no epoch runs.
        let fit = fit_elastic_net(x, y, None, None, &params(10.0, 1.0)).unwrap();
        assert_eq!(fit.coef[(0, 0)], 0.0);
        assert_eq!(fit.n_iter, vec![0]);
        assert_eq!(fit.intercept[0], 5.0);
    }

    #[test]
    fn gram_and_data_solvers_take_the_same_steps() {
        let (n, p, t) = (300, 12, 2);
        let (xs, ys) = problem(n, p, t, 1);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, t);
        let sw: Vec<f64> = lcg(n, 9).iter().map(|v| v.abs() + 0.1).collect();
        for selection in [Selection::Cyclic, Selection::Random] {
            for w in [None, Some(sw.as_slice())] {
                let prm = ElasticNetParams {
                    selection,
                    seeds: vec![12345, 678],
                    tol: 1e-6,
                    ..params(0.05, 0.7)
                };
                let g = fit_with(x, y, w, None, &prm, true).unwrap();
                let d = fit_with(x, y, w, None, &prm, false).unwrap();
                assert_eq!(g.n_iter, d.n_iter, "{selection:?}");
                assert!(g.n_iter.iter().all(|&k| k > 2));
                for k in 0..t {
                    assert!((g.intercept[k] - d.intercept[k]).abs() < 1e-10);
                    for j in 0..p {
                        let (a, b) = (g.coef[(k, j)], d.coef[(k, j)]);
                        assert!((a - b).abs() <= 1e-10 * a.abs().max(1.0), "{a} {b}");
                    }
                    assert!(g.dual_gap[k] >= 0.0 && g.raw_gap[k] <= g.raw_tol[k]);
                }
            }
        }
    }

    #[test]
    fn solution_satisfies_the_optimality_conditions() {
        // At the optimum, |X_jᵀR − b w_j| ≤ a, with equality (and the sign
        // of w_j) where w_j ≠ 0.
        let (n, p) = (400, 20);
        let (xs, ys) = problem(n, p, 1, 2);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let prm = ElasticNetParams {
            tol: 1e-14,
            max_iter: 100_000,
            ..params(0.2, 0.8)
        };
        let fit = fit_elastic_net(x, y, None, None, &prm).unwrap();
        let (a, b) = (0.2 * 0.8 * n as f64, 0.2 * 0.2 * n as f64);
        let mx: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
            .collect();
        let my = ys.iter().sum::<f64>() / n as f64;
        let res: Vec<f64> = (0..n)
            .map(|i| {
                let pred: f64 = (0..p).map(|j| (x[(i, j)] - mx[j]) * fit.coef[(0, j)]).sum();
                ys[i] - my - pred
            })
            .collect();
        let zeros = (0..p).filter(|&j| fit.coef[(0, j)] == 0.0).count();
        assert!(zeros > 0 && zeros < p, "{zeros} zero coefficients");
        for j in 0..p {
            let g: f64 =
                (0..n).map(|i| (x[(i, j)] - mx[j]) * res[i]).sum::<f64>() - b * fit.coef[(0, j)];
            let wj = fit.coef[(0, j)];
            if wj == 0.0 {
                assert!(g.abs() <= a * (1.0 + 1e-6), "feature {j}: {g} > {a}");
            } else {
                assert!((g - a * wj.signum()).abs() < 1e-6 * a, "feature {j}: {g}");
            }
        }
    }

    #[test]
    fn positive_keeps_coefficients_non_negative() {
        let (n, p) = (200, 6);
        let mut xs = lcg(n * p, 3);
        let ys: Vec<f64> = (0..n)
            .map(|i| 2.0 * xs[i * p] - 3.0 * xs[i * p + 1])
            .collect();
        xs[5] = 0.5;
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let free = fit_elastic_net(x, y, None, None, &params(0.01, 1.0)).unwrap();
        assert!(free.coef[(0, 1)] < -2.0);
        let prm = ElasticNetParams {
            positive: true,
            ..params(0.01, 1.0)
        };
        let pos = fit_elastic_net(x, y, None, None, &prm).unwrap();
        assert!((0..p).all(|j| pos.coef[(0, j)] >= 0.0));
        assert_eq!(pos.coef[(0, 1)], 0.0);
        assert!(pos.coef[(0, 0)] > 1.5);
    }

    #[test]
    fn warm_start_from_the_optimum_stops_at_once() {
        let (n, p) = (250, 8);
        let (xs, ys) = problem(n, p, 1, 4);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let prm = params(0.1, 0.5);
        let cold = fit_elastic_net(x, y, None, None, &prm).unwrap();
        assert!(cold.n_iter[0] > 1);
        let warm = fit_elastic_net(x, y, None, Some(cold.coef.as_ref()), &prm).unwrap();
        assert!(warm.n_iter[0] <= 1, "{:?}", warm.n_iter);
        assert!((warm.coef[(0, 3)] - cold.coef[(0, 3)]).abs() < 1e-9);
        let bad = Mat::<f64>::zeros(2, p);
        assert!(matches!(
            fit_elastic_net(x, y, None, Some(bad.as_ref()), &prm),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn weights_equal_repeated_rows() {
        let (n, p) = (120, 5);
        let (xs, ys) = problem(n, p, 1, 5);
        let reps: Vec<usize> = (0..n).map(|i| 1 + i % 3).collect();
        let (mut xr, mut yr) = (Vec::new(), Vec::new());
        for i in 0..n {
            for _ in 0..reps[i] {
                xr.extend_from_slice(&xs[i * p..(i + 1) * p]);
                yr.push(ys[i]);
            }
        }
        let w: Vec<f64> = reps.iter().map(|&r| r as f64).collect();
        let prm = params(0.05, 0.5);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let weighted = fit_elastic_net(x, y, Some(&w), None, &prm).unwrap();
        let m = yr.len();
        let xr = MatRef::from_row_major_slice(&xr, m, p);
        let yr = MatRef::from_row_major_slice(&yr, m, 1);
        let repeated = fit_elastic_net(xr, yr, None, None, &prm).unwrap();
        for j in 0..p {
            let (a, b) = (weighted.coef[(0, j)], repeated.coef[(0, j)]);
            assert!((a - b).abs() < 1e-7 * a.abs().max(1.0), "{a} {b}");
        }
        assert!((weighted.intercept[0] - repeated.intercept[0]).abs() < 1e-7);
    }

    #[test]
    fn zero_penalty_and_pure_ridge() {
        // α = 0 is least squares (the first-order condition as gap); l1 = 0
        // is ridge (formulation B): both reach the closed-form solutions.
        let (n, p) = (200, 3);
        let (xs, ys) = problem(n, p, 1, 6);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let ridge = |alpha: f64| {
            crate::linear_model::fit_ridge(
                x,
                y,
                None,
                &crate::linear_model::RidgeParams {
                    alpha: vec![alpha],
                    fit_intercept: true,
                    chunk_rows: 0,
                },
            )
            .unwrap()
        };
        for (alpha, ridge_alpha) in [(0.0, 0.0), (0.3, 0.3 * n as f64)] {
            let prm = ElasticNetParams {
                tol: 1e-12,
                max_iter: 10_000,
                ..params(alpha, 0.0)
            };
            let fit = fit_elastic_net(x, y, None, None, &prm).unwrap();
            let want = ridge(ridge_alpha);
            assert!(fit.converged[0]);
            for j in 0..p {
                assert!((fit.coef[(0, j)] - want.coef[(0, j)]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn max_iter_reached_is_reported() {
        let (n, p) = (200, 10);
        let (xs, ys) = problem(n, p, 1, 7);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let prm = ElasticNetParams {
            max_iter: 2,
            tol: 0.0,
            ..params(0.001, 0.5)
        };
        let fit = fit_elastic_net(x, y, None, None, &prm).unwrap();
        assert_eq!(fit.n_iter, vec![2]);
        assert!(!fit.converged[0]);
        assert!(fit.raw_gap[0] > fit.raw_tol[0]);
        assert!((fit.dual_gap[0] - fit.raw_gap[0] / n as f64).abs() <= 1e-15 * fit.raw_gap[0]);
    }

    #[test]
    fn independent_of_thread_count() {
        let (n, p, t) = (20_000, 30, 3);
        let (xs, ys) = problem(n, p, t, 8);
        let x = MatRef::from_column_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, t);
        let prm = ElasticNetParams {
            chunk_rows: 512,
            seeds: vec![1, 2, 3],
            selection: Selection::Random,
            ..params(0.01, 0.9)
        };
        let run = |threads, gram| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit_with(x, y, None, None, &prm, gram).unwrap())
        };
        for gram in [true, false] {
            let one = run(1, gram);
            for threads in [2, 5] {
                assert_eq!(run(threads, gram), one, "{threads} threads");
            }
        }
    }

    #[test]
    fn rand_r_is_scikit_learns_xorshift() {
        // our_rand_r from seed 1 (sklearn/utils/_random.pxd): the xorshift32
        // (13, 17, 5) sequence, reduced below 2^31; seed 0 is replaced by 1.
        let mut a = RandR(1);
        let mut b = RandR(0);
        let first: Vec<usize> = (0..3).map(|_| a.below(1 << 31)).collect();
        assert_eq!(first, vec![270369, 67634689, 499951813]);
        assert_eq!(b.below(1 << 31), 270369);
    }

    #[test]
    fn overflowing_data_is_reported() {
        // Finite values whose squares overflow: scikit-learn's error.
        let xs: Vec<f64> = lcg(20, 10).iter().map(|v| v.abs() * f64::MAX).collect();
        let ys: Vec<f64> = (0..10).map(|i| (i % 2) as f64).collect();
        let x = MatRef::from_row_major_slice(&xs, 10, 2);
        let y = MatRef::from_row_major_slice(&ys, 10, 1);
        for gram in [true, false] {
            let err = fit_with(x, y, None, None, &params(0.1, 0.5), gram).unwrap_err();
            assert_eq!(
                err,
                Error::Overflow {
                    what: "Coordinate descent iterations"
                }
            );
            assert!(err.to_string().starts_with(
                "Coordinate descent iterations resulted in non-finite parameter values"
            ));
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        let xs = [1.0, 2.0, 3.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        for (prm, name) in [
            (params(-1.0, 0.5), "alpha"),
            (params(1.0, 1.5), "l1_ratio"),
            (
                ElasticNetParams {
                    max_iter: 0,
                    ..params(1.0, 0.5)
                },
                "max_iter",
            ),
            (
                ElasticNetParams {
                    tol: f64::NAN,
                    ..params(1.0, 0.5)
                },
                "tol",
            ),
        ] {
            let err = fit_elastic_net(x, x, None, None, &prm).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: n, .. } if n == name),
                "{err}"
            );
        }
        let err = fit_elastic_net(x, x, Some(&[0.0, 0.0, 0.0]), None, &params(1.0, 0.5));
        assert!(matches!(
            err,
            Err(Error::InvalidParameter {
                name: "sample_weight",
                ..
            })
        ));
    }
}
