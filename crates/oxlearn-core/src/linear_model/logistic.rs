//! Logistic regression: binary (half-binomial loss, one coefficient vector)
//! and multinomial (half-multinomial loss, one vector per class), with an L2
//! penalty or none, fitted by L-BFGS or Newton-CG.
//!
//! The objective is scikit-learn's (`LinearModelLoss`, 1.9):
//!
//! ```text
//! f(W, b) = 1/S Σᵢ sᵢ ℓ(yᵢ, W xᵢ + b) + λ/2 ‖W‖²,   λ = 1 / (C·S),
//! ```
//!
//! with `sᵢ` the sample weights (class weights already folded in), `S = Σ sᵢ`
//! and the intercept `b` not penalised, so the same tolerances stop at the
//! same optimum. The loss and its gradient (and Hessian-vector products) are
//! summed over fixed row chunks in parallel, each chunk by two sequential
//! GEMMs (`Z = X Wᵀ`, `G = Rᵀ X`) around a per-row pass, and the per-chunk
//! partial sums are added in chunk order: the fit is bit-identical for any
//! number of threads.

use crate::linalg::ChunkPlan;
use crate::optimize::{
    lbfgs, newton_cg, LbfgsOptions, NewtonCgOptions, Objective, SecondOrder, Termination,
};
use crate::rows::first_argmax;
use crate::special::{exp_nonpos, ln_1p_unit};
use crate::spmd::{sum_over_ranks, Collective, SingleProcess};
use crate::{Error, Real, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::ops::Range;

/// The optimiser of [`fit_logistic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogisticSolver {
    /// L-BFGS, with scipy's L-BFGS-B rules (scikit-learn's `lbfgs`).
    Lbfgs,
    /// Truncated Newton (scikit-learn's `newton-cg`).
    NewtonCg,
}

/// Parameters of [`fit_logistic`].
#[derive(Debug, Clone)]
pub struct LogisticParams {
    /// The optimiser.
    pub solver: LogisticSolver,
    /// Inverse regularisation strength; `f64::INFINITY` for no penalty.
    pub c: f64,
    /// Fit an (unpenalised) intercept per coefficient vector.
    pub fit_intercept: bool,
    /// Iteration limit of the optimiser.
    pub max_iter: usize,
    /// Stop when the largest gradient component is at most `tol`.
    pub tol: f64,
    /// Rows per chunk (0: automatic).
    pub chunk_rows: usize,
}

/// A fitted logistic regression, in `f64`.
#[derive(Debug, Clone)]
pub struct LogisticFit {
    /// k×p coefficients: k = 1 for two classes (the second class's log-odds),
    /// else one row per class.
    pub coef: Mat<f64>,
    /// One intercept per row of `coef` (zeros without `fit_intercept`).
    pub intercept: Vec<f64>,
    /// Iterations of the optimiser, as scikit-learn counts `n_iter_`.
    pub n_iter: usize,
    /// Why the optimiser stopped.
    pub termination: Termination,
    /// The optimiser's stopping message (scipy's / scikit-learn's words).
    pub message: String,
    /// The objective at the solution.
    pub loss: f64,
}

/// Rows per chunk: about 256 KiB of `f64` features, so that the second GEMM
/// of a chunk reads it from L2 cache, and enough chunks to balance threads.
fn chunk_rows_for(p: usize) -> usize {
    ((1usize << 15) / p.max(1)).clamp(256, 8192)
}

/// Fits a logistic regression of class indices `y` (in `0..n_classes`) on
/// `x` (n×p), with optional sample weights and a warm start
/// (`init = (coef k×p, intercept k)`).
///
/// Fails on NaN/infinity in `x`, on invalid weights or labels, on shape
/// mismatches and on invalid parameters; an optimiser that stops early is
/// not an error (see [`LogisticFit::termination`]).
pub fn fit_logistic<T: Real>(
    x: MatRef<'_, T>,
    y: &[u32],
    n_classes: usize,
    sample_weight: Option<&[f64]>,
    init: Option<(MatRef<'_, f64>, &[f64])>,
    params: &LogisticParams,
) -> Result<LogisticFit> {
    fit_logistic_impl(
        x,
        y,
        n_classes,
        sample_weight,
        init,
        params,
        &mut SingleProcess,
        false,
    )
}

/// [`fit_logistic`] over rows spread across processes (SPMD): this rank
/// holds rows `x`, `y` (possibly none), `coll` sums the loss, gradient and
/// Hessian products over ranks (in rank order), and every rank runs the same
/// optimiser on the same numbers, so all get the same coefficients: those of
/// [`fit_logistic`] on all the rows, up to the rounding of the merged sums.
/// Communication per evaluation is O(k·p), whatever the number of rows.
pub fn fit_logistic_distributed<T: Real>(
    x: MatRef<'_, T>,
    y: &[u32],
    n_classes: usize,
    sample_weight: Option<&[f64]>,
    init: Option<(MatRef<'_, f64>, &[f64])>,
    params: &LogisticParams,
    coll: &mut dyn Collective,
) -> Result<LogisticFit> {
    fit_logistic_impl(x, y, n_classes, sample_weight, init, params, coll, true)
}

#[allow(clippy::too_many_arguments)]
fn fit_logistic_impl<T: Real>(
    x: MatRef<'_, T>,
    y: &[u32],
    n_classes: usize,
    sample_weight: Option<&[f64]>,
    init: Option<(MatRef<'_, f64>, &[f64])>,
    params: &LogisticParams,
    coll: &mut dyn Collective,
    distributed: bool,
) -> Result<LogisticFit> {
    let (n, p) = x.shape();
    if (n == 0 && !distributed) || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    if y.len() != n {
        return Err(Error::ShapeMismatch {
            what: "number of samples in y vs X".into(),
            expected: n,
            got: y.len(),
        });
    }
    if n_classes < 2 {
        return Err(Error::InvalidParameter {
            name: "n_classes",
            reason: format!("{n_classes}; logistic regression needs at least 2 classes"),
        });
    }
    if let Some((i, &c)) = y.iter().enumerate().find(|(_, &c)| c as usize >= n_classes) {
        return Err(Error::InvalidParameter {
            name: "y",
            reason: format!("y[{i}] = {c} is not a class index below n_classes = {n_classes}"),
        });
    }
    if params.c.is_nan() || params.c <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "C",
            reason: format!("{}; C must be positive (infinity: no penalty)", params.c),
        });
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "tol",
            reason: format!("{}; tol must be finite and non-negative", params.tol),
        });
    }
    let local_weights = match sample_weight {
        Some(w) => crate::linalg::chunks::check_weights(w, n).map(|()| w.iter().sum::<f64>()),
        None => Ok(n as f64),
    };
    // Agreed on by every rank, so that a bad weight on one fails them all.
    let mut post = [
        f64::from(u8::from(local_weights.is_ok())),
        *local_weights.as_ref().unwrap_or(&0.0),
    ];
    let parts = coll.allgather(&post)?;
    local_weights?;
    if let Some(rank) = parts.iter().position(|q| q.first() != Some(&1.0)) {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: format!("rank {rank} of the distributed fit has invalid sample weights"),
        });
    }
    if parts.len() > 1 {
        post[1] = parts.iter().map(|q| q.get(1).copied().unwrap_or(0.0)).sum();
    }
    let sum_weights = post[1];
    if sum_weights.is_nan() || sum_weights <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: format!(
                "the weights sum to {sum_weights}: all sample weights are zero (or not positive); at least one must be positive"
            ),
        });
    }
    let k = if n_classes == 2 { 1 } else { n_classes };
    let fi = params.fit_intercept;
    let mut theta = vec![0.0; k * p + if fi { k } else { 0 }];
    if let Some((c0, b0)) = init {
        if c0.shape() != (k, p) {
            return Err(Error::ShapeMismatch {
                what: format!("rows x columns of the initial coefficients, expected {k}x{p}"),
                expected: k * p,
                got: c0.nrows() * c0.ncols(),
            });
        }
        for r in 0..k {
            for j in 0..p {
                theta[r * p + j] = c0[(r, j)];
            }
        }
        if fi {
            if b0.len() != k {
                return Err(Error::ShapeMismatch {
                    what: "length of the initial intercept".into(),
                    expected: k,
                    got: b0.len(),
                });
            }
            theta[k * p..].copy_from_slice(b0);
        }
    }
    let chunk_rows = if params.chunk_rows == 0 {
        chunk_rows_for(p)
    } else {
        params.chunk_rows
    };
    let l2 = if params.c.is_infinite() {
        0.0
    } else {
        1.0 / (params.c * sum_weights)
    };
    let mut obj = LogisticObjective {
        x,
        y,
        w: sample_weight,
        k,
        p,
        fit_intercept: fi,
        inv_sum_weights: 1.0 / sum_weights,
        l2,
        plan: ChunkPlan::new(n, p, chunk_rows),
        hess: Vec::new(),
        coll,
    };
    let res = match params.solver {
        LogisticSolver::Lbfgs => lbfgs(
            &mut obj,
            theta,
            &LbfgsOptions {
                max_iter: params.max_iter,
                pgtol: params.tol,
                ..LbfgsOptions::default()
            },
        )?,
        LogisticSolver::NewtonCg => newton_cg(
            &mut obj,
            theta,
            &NewtonCgOptions {
                max_iter: params.max_iter,
                tol: params.tol,
                ..NewtonCgOptions::default()
            },
        )?,
    };
    let coef = Mat::from_fn(k, p, |r, j| res.x[r * p + j]);
    let intercept = if fi {
        res.x[k * p..].to_vec()
    } else {
        vec![0.0; k]
    };
    Ok(LogisticFit {
        coef,
        intercept,
        n_iter: res.n_iter,
        termination: res.termination,
        message: res.message,
        loss: res.f,
    })
}

/// The penalised mean log loss over the data, as a function of
/// `θ = [W (k×p, row-major), b (k)]`.
struct LogisticObjective<'a, T: Real> {
    x: MatRef<'a, T>,
    y: &'a [u32],
    w: Option<&'a [f64]>,
    /// Coefficient vectors: 1 (binary) or the number of classes.
    k: usize,
    p: usize,
    fit_intercept: bool,
    inv_sum_weights: f64,
    l2: f64,
    plan: ChunkPlan,
    /// Per chunk, what Hessian products need at the last prepared point:
    /// `sᵢ pᵢ (1 - pᵢ)` (binary) or the probabilities `pᵢₖ` (multinomial).
    hess: Vec<Vec<f64>>,
    /// Sums the unnormalised loss, gradient and Hessian products over
    /// processes (a no-op in one process).
    coll: &'a mut dyn Collective,
}

/// One chunk's contribution: unnormalised loss sum and gradient sums.
struct Partial {
    loss: f64,
    grad: Vec<f64>,
    hess: Vec<f64>,
}

impl<T: Real> LogisticObjective<'_, T> {
    fn dim(&self) -> usize {
        self.k * self.p + if self.fit_intercept { self.k } else { 0 }
    }

    /// Partial results alive at once: about 32 MiB of gradients, but at
    /// least a few chunks so that large k·p still runs in parallel.
    fn group(&self) -> usize {
        ((1usize << 22) / self.dim().max(1)).clamp(4, 256)
    }

    /// `Z = X_c Wᵀ + b` for the rows of one chunk (n_c×k, column-major).
    fn linear(&self, xc: MatRef<'_, f64>, theta: &[f64]) -> Vec<f64> {
        let (k, p, len) = (self.k, self.p, xc.nrows());
        let mut z = vec![0.0; len * k];
        let wmat = MatRef::from_row_major_slice(&theta[..k * p], k, p);
        matmul(
            MatMut::from_column_major_slice_mut(&mut z, len, k),
            Accum::Replace,
            xc,
            wmat.transpose(),
            1.0,
            Par::Seq,
        );
        if self.fit_intercept {
            for (r, zc) in z.chunks_exact_mut(len.max(1)).enumerate() {
                let b = theta[k * p + r];
                for v in zc.iter_mut() {
                    *v += b;
                }
            }
        }
        z
    }

    /// `out[..k·p] = Rᵀ X_c` (row-major) and `out[k·p..] = column sums of R`,
    /// for `r` column-major n_c×k.
    fn back(&self, xc: MatRef<'_, f64>, r: &[f64], out: &mut [f64]) {
        let (k, p, len) = (self.k, self.p, xc.nrows());
        matmul(
            MatMut::from_row_major_slice_mut(&mut out[..k * p], k, p),
            Accum::Replace,
            MatRef::from_column_major_slice(r, len, k).transpose(),
            xc,
            1.0,
            Par::Seq,
        );
        if self.fit_intercept {
            for (c, rc) in r.chunks_exact(len.max(1)).enumerate() {
                out[k * p + c] = rc.iter().sum();
            }
        }
    }

    /// Loss, gradient and (with `prepare`) Hessian data of one chunk.
    fn chunk(&self, rows: Range<usize>, theta: &[f64], prepare: bool) -> Result<Partial> {
        let k = self.k;
        let mut buf = Vec::new();
        let xc = chunk_f64(self.x.subrows(rows.start, rows.len()), &mut buf);
        let len = rows.len();
        let mut z = self.linear(xc, theta);
        let y = &self.y[rows.clone()];
        let w = self.w.map(|w| &w[rows.clone()]);
        let mut losses = vec![0.0; len];
        // Binary: sᵢ pᵢ (1 - pᵢ); multinomial: the probabilities (n_c×k,
        // column-major). `z` becomes the residuals sᵢ (p - onehot(yᵢ)).
        let mut hess = vec![0.0; len * k];
        if k == 1 {
            binary_terms(&mut z, y, w, &mut losses, &mut hess);
        } else {
            multinomial_terms(&mut z, k, y, w, &mut losses, &mut hess);
        }
        // Summed in row order (a fixed order, whatever the SIMD width).
        let mut loss = 0.0;
        for &l in &losses {
            loss += l;
        }
        if !loss.is_finite() {
            // NaN or infinity in X gives a non-finite raw prediction, hence
            // loss; only then are rows scanned, to tell bad input from overflow.
            for (i, l) in losses.iter().enumerate() {
                if !l.is_finite() {
                    check_row_finite(self.x, rows.start + i)?;
                }
            }
        }
        if !prepare {
            hess = Vec::new();
        }
        let mut grad = vec![0.0; self.dim()];
        self.back(xc, &z, &mut grad);
        Ok(Partial { loss, grad, hess })
    }

    fn eval(&mut self, theta: &[f64], grad: &mut [f64], prepare: bool) -> Result<f64> {
        grad.fill(0.0);
        let mut hess = Vec::new();
        let loss = self.plan.map_fold(
            self.group(),
            0.0,
            |rows| self.chunk(rows, theta, prepare),
            |acc, part| {
                for (g, v) in grad.iter_mut().zip(&part.grad) {
                    *g += v;
                }
                if prepare {
                    hess.push(part.hess);
                }
                acc + part.loss
            },
        )?;
        if prepare {
            self.hess = hess;
        }
        let mut buf = Vec::with_capacity(grad.len() + 1);
        buf.push(loss);
        buf.extend_from_slice(grad);
        sum_over_ranks(&mut *self.coll, &mut buf)?;
        let loss = buf[0];
        grad.copy_from_slice(&buf[1..]);
        let kp = self.k * self.p;
        let mut norm2 = 0.0;
        for (g, &t) in grad[..kp].iter_mut().zip(&theta[..kp]) {
            *g = *g * self.inv_sum_weights + self.l2 * t;
            norm2 += t * t;
        }
        for g in grad[kp..].iter_mut() {
            *g *= self.inv_sum_weights;
        }
        Ok(loss * self.inv_sum_weights + 0.5 * self.l2 * norm2)
    }

    /// One chunk of `H v` (unnormalised, without the penalty).
    fn chunk_hessp(&self, idx: usize, rows: Range<usize>, v: &[f64]) -> Result<Vec<f64>> {
        let k = self.k;
        let mut buf = Vec::new();
        let xc = chunk_f64(self.x.subrows(rows.start, rows.len()), &mut buf);
        let mut t = self.linear(xc, v);
        let h = &self.hess[idx];
        if k == 1 {
            for (ti, hi) in t.iter_mut().zip(h) {
                *ti *= hi;
            }
        } else {
            multinomial_hessp_terms(&mut t, k, h, self.w.map(|w| &w[rows.clone()]));
        }
        let mut out = vec![0.0; self.dim()];
        self.back(xc, &t, &mut out);
        Ok(out)
    }
}

impl<T: Real> Objective for LogisticObjective<'_, T> {
    fn dim(&self) -> usize {
        LogisticObjective::dim(self)
    }

    fn loss_grad(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        self.eval(x, grad, false)
    }
}

impl<T: Real> SecondOrder for LogisticObjective<'_, T> {
    fn loss_grad_prepare(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        self.eval(x, grad, true)
    }

    fn hessp(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        out.fill(0.0);
        let this = &*self;
        this.plan.map_fold(
            this.group(),
            (),
            |rows| this.chunk_hessp(rows.start / this.plan.chunk_rows, rows, v),
            |(), part| {
                for (o, p) in out.iter_mut().zip(part) {
                    *o += p;
                }
            },
        )?;
        sum_over_ranks(&mut *self.coll, out)?;
        let kp = self.k * self.p;
        for (o, &vi) in out[..kp].iter_mut().zip(&v[..kp]) {
            *o = *o * self.inv_sum_weights + self.l2 * vi;
        }
        for o in out[kp..].iter_mut() {
            *o *= self.inv_sum_weights;
        }
        Ok(())
    }
}

crate::simd::multiversion! {
    /// Per-row half-binomial loss `sᵢ (log(1 + e^z) - yᵢ z)` into `loss`,
    /// Hessian weights `sᵢ pᵢ (1 - pᵢ)` into `hess`, and residuals
    /// `sᵢ (pᵢ - yᵢ)` over `z`, with `pᵢ = expit(zᵢ)`.
    fn binary_terms(
        z: &mut [f64],
        y: &[u32],
        w: Option<&[f64]>,
        loss: &mut [f64],
        hess: &mut [f64],
    ) -> ()
    => binary_terms_portable
}

#[inline(always)]
fn binary_terms_portable(
    z: &mut [f64],
    y: &[u32],
    w: Option<&[f64]>,
    loss: &mut [f64],
    hess: &mut [f64],
) {
    let n = z.len();
    let (y, loss, hess) = (&y[..n], &mut loss[..n], &mut hess[..n]);
    let row = |v: f64, yi: u32, s: f64| {
        let yi = if yi == 1 { 1.0 } else { 0.0 };
        // e = exp(-|z|) serves both log(1 + exp(z)) and expit(z).
        let e = exp_nonpos(-v.abs());
        let inv = 1.0 / (1.0 + e);
        let prob = if v >= 0.0 { inv } else { e * inv };
        let softplus = (if v > 0.0 { v } else { 0.0 }) + ln_1p_unit(e);
        (
            s * (softplus - yi * v),
            s * (prob - yi),
            s * prob * (1.0 - prob),
        )
    };
    match w {
        Some(w) => {
            let w = &w[..n];
            for i in 0..n {
                (loss[i], z[i], hess[i]) = row(z[i], y[i], w[i]);
            }
        }
        None => {
            for i in 0..n {
                (loss[i], z[i], hess[i]) = row(z[i], y[i], 1.0);
            }
        }
    }
}

crate::simd::multiversion! {
    /// Per-row half-multinomial loss `sᵢ (logsumexp(zᵢ) - zᵢ,yᵢ)` into `loss`,
    /// the softmax probabilities into `prob` and residuals
    /// `sᵢ (pᵢ - onehot(yᵢ))` over `z` (both n×k column-major). Classes are
    /// visited in order for every row, so each row's sums have one order.
    fn multinomial_terms(
        z: &mut [f64],
        k: usize,
        y: &[u32],
        w: Option<&[f64]>,
        loss: &mut [f64],
        prob: &mut [f64],
    ) -> ()
    => multinomial_terms_portable
}

#[inline(always)]
fn multinomial_terms_portable(
    z: &mut [f64],
    k: usize,
    y: &[u32],
    w: Option<&[f64]>,
    loss: &mut [f64],
    prob: &mut [f64],
) {
    let n = y.len();
    let (z, prob, loss) = (&mut z[..n * k], &mut prob[..n * k], &mut loss[..n]);
    let mut m = vec![f64::NEG_INFINITY; n];
    for zc in z.chunks_exact(n.max(1)) {
        for (mi, &v) in m.iter_mut().zip(zc) {
            *mi = if v > *mi { v } else { *mi };
        }
    }
    let mut sum = vec![0.0; n];
    for (zc, pc) in z
        .chunks_exact(n.max(1))
        .zip(prob.chunks_exact_mut(n.max(1)))
    {
        for i in 0..n {
            let e = exp_nonpos(zc[i] - m[i]);
            pc[i] = e;
            sum[i] += e;
        }
    }
    for i in 0..n {
        let s = w.map_or(1.0, |w| w[i]);
        let yi = (y[i] as usize).min(k - 1);
        loss[i] = s * (m[i] + sum[i].ln() - z[yi * n + i]);
    }
    for (c, (zc, pc)) in z
        .chunks_exact_mut(n.max(1))
        .zip(prob.chunks_exact_mut(n.max(1)))
        .enumerate()
    {
        for i in 0..n {
            let p = pc[i] / sum[i];
            pc[i] = p;
            let s = w.map_or(1.0, |w| w[i]);
            zc[i] = s * (p - if y[i] as usize == c { 1.0 } else { 0.0 });
        }
    }
}

crate::simd::multiversion! {
    /// `t ← sᵢ (diag(pᵢ) - pᵢ pᵢᵀ) tᵢ` for every row (n×k column-major),
    /// the multinomial Hessian's middle factor.
    fn multinomial_hessp_terms(t: &mut [f64], k: usize, prob: &[f64], w: Option<&[f64]>) -> ()
    => multinomial_hessp_terms_portable
}

#[inline(always)]
fn multinomial_hessp_terms_portable(t: &mut [f64], k: usize, prob: &[f64], w: Option<&[f64]>) {
    let n = t.len() / k.max(1);
    let prob = &prob[..n * k];
    let mut dot = vec![0.0; n];
    for (tc, pc) in t.chunks_exact(n.max(1)).zip(prob.chunks_exact(n.max(1))) {
        for i in 0..n {
            dot[i] += pc[i] * tc[i];
        }
    }
    for (tc, pc) in t
        .chunks_exact_mut(n.max(1))
        .zip(prob.chunks_exact(n.max(1)))
    {
        for i in 0..n {
            let s = w.map_or(1.0, |w| w[i]);
            tc[i] = (tc[i] - dot[i]) * pc[i] * s;
        }
    }
}

/// A chunk of `X` as `f64`: the data itself when it already is contiguous
/// `f64`, else a row-major copy in `buf`.
fn chunk_f64<'b, T: Real>(x: MatRef<'b, T>, buf: &'b mut Vec<f64>) -> MatRef<'b, f64> {
    if let Some(v) = T::as_f64_mat(x) {
        if v.row_stride() == 1 || v.col_stride() == 1 {
            return v;
        }
    }
    let (m, n) = x.shape();
    buf.clear();
    buf.reserve(m * n);
    if x.row_stride() == 1 && x.col_stride() != 1 {
        for j in 0..n {
            buf.extend(x.col(j).iter().map(|v| v.to_f64()));
        }
        MatRef::from_column_major_slice(buf.as_slice(), m, n)
    } else {
        for i in 0..m {
            buf.extend(x.row(i).iter().map(|v| v.to_f64()));
        }
        MatRef::from_row_major_slice(buf.as_slice(), m, n)
    }
}

fn check_row_finite<T: Real>(x: MatRef<'_, T>, i: usize) -> Result<()> {
    for j in 0..x.ncols() {
        let v = x[(i, j)].to_f64();
        if !v.is_finite() {
            return Err(Error::NonFinite {
                what: "X",
                kind: crate::error::NonFiniteKind::of(v),
                dtype: T::DTYPE,
                row: i,
                col: j,
            });
        }
    }
    Ok(())
}

/// What [`logistic_outputs`] computes from decision values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogisticOutput {
    /// Class probabilities (n × n_classes).
    Proba,
    /// Their logarithms, computed stably (n × n_classes).
    LogProba,
}

/// Rows per parallel task of the prediction helpers.
const OUTPUT_BLOCK_ROWS: usize = 1024;
/// Up to this many rows the helpers run on the calling thread: handing a few
/// microseconds of work to the thread pool costs more than it saves. Every
/// row is computed alone, so this changes no result.
const SEQUENTIAL_ROWS: usize = 1 << 15;

/// Class probabilities (or their logarithms) from decision values
/// `decision` (n×k row-major; k = 1 for two classes), into `out`
/// (n × n_classes row-major, n_classes = max(k, 2)).
///
/// Two classes: `[1 - σ(d), σ(d)]`; more: the softmax of the row. Each row
/// is computed in `f64` in one fixed order, so the result is the same for
/// every thread count.
pub fn logistic_outputs<T: Real>(
    decision: &[T],
    k: usize,
    what: LogisticOutput,
    out: &mut [T],
) -> Result<()> {
    let n_classes = k.max(2);
    if k == 0 || !decision.len().is_multiple_of(k) || out.len() / n_classes != decision.len() / k {
        return Err(Error::ShapeMismatch {
            what: "output size vs decision values".into(),
            expected: decision.len() / k.max(1) * n_classes,
            got: out.len(),
        });
    }
    let log = what == LogisticOutput::LogProba;
    let block = |(o, d): (&mut [T], &[T])| {
        if k == 1 {
            for (o, &d) in o.chunks_exact_mut(2).zip(d) {
                let d = d.to_f64();
                let e = (-d.abs()).exp();
                if log {
                    // log σ(d) = -softplus(-d), log(1 - σ(d)) = -softplus(d)
                    let l = e.ln_1p();
                    o[0] = T::from_f64(-(d.max(0.0) + l));
                    o[1] = T::from_f64(-((-d).max(0.0) + l));
                } else {
                    let prob = if d >= 0.0 {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    o[0] = T::from_f64(1.0 - prob);
                    o[1] = T::from_f64(prob);
                }
            }
        } else {
            for (o, d) in o.chunks_exact_mut(k).zip(d.chunks_exact(k)) {
                let m = d.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.to_f64()));
                let mut sum = 0.0;
                for &v in d {
                    sum += (v.to_f64() - m).exp();
                }
                if log {
                    let lse = sum.ln();
                    for (o, &v) in o.iter_mut().zip(d) {
                        *o = T::from_f64(v.to_f64() - m - lse);
                    }
                } else {
                    for (o, &v) in o.iter_mut().zip(d) {
                        *o = T::from_f64((v.to_f64() - m).exp() / sum);
                    }
                }
            }
        }
    };
    let rows = decision.len() / k;
    if rows <= SEQUENTIAL_ROWS {
        out.chunks_mut(OUTPUT_BLOCK_ROWS * n_classes)
            .zip(decision.chunks(OUTPUT_BLOCK_ROWS * k))
            .for_each(block);
    } else {
        out.par_chunks_mut(OUTPUT_BLOCK_ROWS * n_classes)
            .zip(decision.par_chunks(OUTPUT_BLOCK_ROWS * k))
            .for_each(block);
    }
    Ok(())
}

/// Index of the predicted class of each row of `decision` (n×k row-major):
/// `d > 0` for two classes, else the first largest value (numpy's argmax).
pub fn logistic_classes<T: Real>(decision: &[T], k: usize, out: &mut [i64]) -> Result<()> {
    if k == 0 || decision.len() != out.len() * k {
        return Err(Error::ShapeMismatch {
            what: "number of rows of decision values vs output".into(),
            expected: decision.len() / k.max(1),
            got: out.len(),
        });
    }
    let block = |(o, d): (&mut [i64], &[T])| {
        for (o, row) in o.iter_mut().zip(d.chunks_exact(k)) {
            *o = if k == 1 {
                i64::from(row[0].to_f64() > 0.0)
            } else {
                first_argmax(row) as i64
            };
        }
    };
    if out.len() <= SEQUENTIAL_ROWS {
        out.chunks_mut(OUTPUT_BLOCK_ROWS)
            .zip(decision.chunks(OUTPUT_BLOCK_ROWS * k))
            .for_each(block);
    } else {
        out.par_chunks_mut(OUTPUT_BLOCK_ROWS)
            .zip(decision.par_chunks(OUTPUT_BLOCK_ROWS * k))
            .for_each(block);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// A noisy linear problem with `classes` classes.
    fn problem(n: usize, p: usize, classes: usize) -> (Vec<f64>, Vec<u32>) {
        let x = lcg(n * p, 3);
        let noise = lcg(n * classes, 5);
        let w = lcg(classes * p, 7);
        let y = (0..n)
            .map(|i| {
                let score = |c: usize| {
                    (0..p)
                        .map(|j| x[i * p + j] * w[c * p + j] * 3.0)
                        .sum::<f64>()
                        + noise[i * classes + c]
                };
                (0..classes)
                    .max_by(|&a, &b| score(a).total_cmp(&score(b)))
                    .unwrap() as u32
            })
            .collect();
        (x, y)
    }

    fn params(solver: LogisticSolver) -> LogisticParams {
        LogisticParams {
            solver,
            c: 1.0,
            fit_intercept: true,
            max_iter: 200,
            tol: 1e-10,
            chunk_rows: 64,
        }
    }

    /// The objective by a direct formula, for checking gradients.
    fn direct_loss(x: &[f64], y: &[u32], p: usize, k: usize, theta: &[f64], l2: f64) -> f64 {
        let n = y.len();
        let mut loss = 0.0;
        for i in 0..n {
            let z: Vec<f64> = (0..k)
                .map(|c| {
                    (0..p).map(|j| x[i * p + j] * theta[c * p + j]).sum::<f64>() + theta[k * p + c]
                })
                .collect();
            loss += if k == 1 {
                (1.0 + z[0].exp()).ln() - f64::from(y[i]) * z[0]
            } else {
                z.iter().map(|v| v.exp()).sum::<f64>().ln() - z[y[i] as usize]
            };
        }
        let norm2: f64 = theta[..k * p].iter().map(|v| v * v).sum();
        loss / n as f64 + 0.5 * l2 * norm2
    }

    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        for classes in [2, 3] {
            let (p, n) = (4, 300);
            let (xs, y) = problem(n, p, classes);
            let x = MatRef::from_row_major_slice(&xs, n, p);
            let k = if classes == 2 { 1 } else { classes };
            let mut obj = LogisticObjective {
                x,
                y: &y,
                w: None,
                k,
                p,
                fit_intercept: true,
                inv_sum_weights: 1.0 / n as f64,
                l2: 0.3 / n as f64,
                plan: ChunkPlan::new(n, p, 64),
                hess: Vec::new(),
                coll: &mut SingleProcess,
            };
            let theta = lcg(obj.dim(), 11);
            let mut g = vec![0.0; obj.dim()];
            let f = obj.loss_grad_prepare(&theta, &mut g).unwrap();
            assert!((f - direct_loss(&xs, &y, p, k, &theta, obj.l2)).abs() < 1e-12);
            let v = lcg(obj.dim(), 13);
            let mut hv = vec![0.0; obj.dim()];
            obj.hessp(&v, &mut hv).unwrap();
            let h = 1e-6;
            for j in 0..obj.dim() {
                let (mut tp, mut tm) = (theta.clone(), theta.clone());
                tp[j] += h;
                tm[j] -= h;
                let mut gp = vec![0.0; obj.dim()];
                let mut gm = vec![0.0; obj.dim()];
                let fp = obj.loss_grad(&tp, &mut gp).unwrap();
                let fm = obj.loss_grad(&tm, &mut gm).unwrap();
                assert!(((fp - fm) / (2.0 * h) - g[j]).abs() < 1e-7, "grad {j}");
            }
            // H v by differences of gradients along v.
            let tp: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t + h * v).collect();
            let tm: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t - h * v).collect();
            let mut gp = vec![0.0; obj.dim()];
            let mut gm = vec![0.0; obj.dim()];
            obj.loss_grad(&tp, &mut gp).unwrap();
            obj.loss_grad(&tm, &mut gm).unwrap();
            for j in 0..obj.dim() {
                assert!(
                    ((gp[j] - gm[j]) / (2.0 * h) - hv[j]).abs() < 1e-7,
                    "hessp {j}"
                );
            }
        }
    }

    #[test]
    fn solvers_agree_and_reach_a_stationary_point() {
        for classes in [2, 4] {
            let (p, n) = (5, 2000);
            let (xs, y) = problem(n, p, classes);
            let x = MatRef::from_row_major_slice(&xs, n, p);
            let a =
                fit_logistic(x, &y, classes, None, None, &params(LogisticSolver::Lbfgs)).unwrap();
            let b = fit_logistic(
                x,
                &y,
                classes,
                None,
                None,
                &params(LogisticSolver::NewtonCg),
            )
            .unwrap();
            assert_eq!(a.termination, Termination::Converged, "{}", a.message);
            assert_eq!(b.termination, Termination::Converged, "{}", b.message);
            // L-BFGS also stops when the loss stalls at rounding level
            // (relative decrease <= 64 ε), a little short of tol.
            for r in 0..a.coef.nrows() {
                for j in 0..p {
                    assert!((a.coef[(r, j)] - b.coef[(r, j)]).abs() < 1e-6);
                }
                assert!((a.intercept[r] - b.intercept[r]).abs() < 1e-6);
            }
            assert!((a.loss - b.loss).abs() < 1e-12);
        }
    }

    #[test]
    fn independent_of_thread_count_and_layout() {
        let (p, n) = (6, 5000);
        let (xs, y) = problem(n, p, 3);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let xt: Vec<f64> = (0..p)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| xs[i * p + j])
            .collect();
        let xc = MatRef::from_column_major_slice(&xt, n, p);
        let w: Vec<f64> = lcg(n, 17).iter().map(|v| v.abs() + 0.1).collect();
        for solver in [LogisticSolver::Lbfgs, LogisticSolver::NewtonCg] {
            let run = |threads: usize, x: MatRef<'_, f64>| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| fit_logistic(x, &y, 3, Some(&w), None, &params(solver)).unwrap())
            };
            let one = run(1, x);
            for threads in [2, 3, 8] {
                let other = run(threads, x);
                assert_eq!(other.coef, one.coef, "{threads} threads");
                assert_eq!(other.intercept, one.intercept);
                assert_eq!(other.n_iter, one.n_iter);
            }
            // Column-major data takes the same path through faer: same optimum.
            let col = run(2, xc);
            for j in 0..p {
                assert!((col.coef[(0, j)] - one.coef[(0, j)]).abs() < 1e-8);
            }
        }
    }

    #[test]
    fn warm_start_from_the_optimum_stops_at_once() {
        let (p, n) = (3, 500);
        let (xs, y) = problem(n, p, 2);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let mut prm = params(LogisticSolver::Lbfgs);
        prm.tol = 1e-6;
        let a = fit_logistic(x, &y, 2, None, None, &prm).unwrap();
        let b = fit_logistic(x, &y, 2, None, Some((a.coef.as_ref(), &a.intercept)), &prm).unwrap();
        assert_eq!(b.n_iter, 0);
        assert_eq!(b.coef, a.coef);
    }

    #[test]
    fn rejects_bad_input() {
        let xs = [1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 2);
        let prm = params(LogisticSolver::Lbfgs);
        let err = fit_logistic(x, &[0, 1, 0], 2, None, None, &prm).unwrap_err();
        assert!(
            matches!(err, Error::NonFinite { row: 1, col: 0, .. }),
            "{err}"
        );
        let ok = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x = MatRef::from_row_major_slice(&ok, 3, 2);
        let err = fit_logistic(x, &[0, 2, 0], 2, None, None, &prm).unwrap_err();
        assert!(err.to_string().contains("y[1] = 2"), "{err}");
        let err = fit_logistic(x, &[0, 1], 2, None, None, &prm).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }));
        let err = fit_logistic(x, &[0, 1, 0], 2, Some(&[1.0, -1.0, 1.0]), None, &prm).unwrap_err();
        assert!(matches!(err, Error::InvalidSampleWeight { index: 1, .. }));
        let err = fit_logistic(x, &[0, 1, 0], 2, Some(&[0.0; 3]), None, &prm).unwrap_err();
        assert!(err.to_string().contains("sum to 0"), "{err}");
        let bad_c = LogisticParams { c: 0.0, ..prm };
        assert!(fit_logistic(x, &[0, 1, 0], 2, None, None, &bad_c).is_err());
    }

    #[test]
    fn outputs_are_normalised_and_stable() {
        let d = [0.0f64, 800.0, -800.0, 1.5];
        let mut pr = [0.0; 8];
        logistic_outputs(&d, 1, LogisticOutput::Proba, &mut pr).unwrap();
        assert_eq!(&pr[..6], &[0.5, 0.5, 0.0, 1.0, 1.0, 0.0]);
        let mut lp = [0.0; 8];
        logistic_outputs(&d, 1, LogisticOutput::LogProba, &mut lp).unwrap();
        assert_eq!(lp[2], -800.0); // log(1 - σ(800)) without underflow
        assert!((lp[6] - pr[6].ln()).abs() < 1e-15 && (lp[7] - pr[7].ln()).abs() < 1e-15);
        let d3 = [1.0f32, 2.0, 3.0, 1000.0, 0.0, -1000.0];
        let mut p3 = [0.0f32; 6];
        logistic_outputs(&d3, 3, LogisticOutput::Proba, &mut p3).unwrap();
        assert!((p3[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(&p3[3..], &[1.0, 0.0, 0.0]);
        let mut cls = [0i64; 2];
        logistic_classes(&d3, 3, &mut cls).unwrap();
        assert_eq!(cls, [2, 0]);
        let mut cls = [0i64; 4];
        logistic_classes(&d, 1, &mut cls).unwrap();
        assert_eq!(cls, [0, 1, 0, 1]);
        assert!(logistic_classes(&d, 1, &mut [0i64; 3]).is_err());
    }
}
