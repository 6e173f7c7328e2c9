//! Prediction from a fitted SVM: kernel values against the support vectors
//! (one contiguous block), fused with their coefficient sums and tiled, then
//! libsvm's votes and probabilities, row by row in a fixed order, so that
//! results do not depend on the thread count.

use crate::rows::first_argmax;
use rayon::prelude::*;

use super::kernel::{apply_kernel, sq_norm, Kernel, KernelRows};
use super::SvmType;
use crate::error::{Error, Result};

/// Query rows per block: a piece of support vectors is read from memory once
/// per block.
const BLOCK: usize = 16;
/// Support vectors per piece: their features (`PIECE x n_features`) stay in
/// L2 while the block's queries pass over them, and a query's values over
/// the piece in L1.
const PIECE: usize = 1024;
// Every piece but a class's last goes through `dot_lanes`, four at a time.
const _: () = assert!(PIECE.is_multiple_of(4));

/// A fitted SVM as scikit-learn stores it (`_dual_coef_`, `_intercept_`:
/// libsvm's signs).
#[derive(Clone, Copy)]
pub struct SvmModelRef<'a> {
    /// The formulation.
    pub svm_type: SvmType,
    /// The kernel.
    pub kernel: Kernel,
    /// Support vectors, row-major `n_sv x d`.
    pub sv: &'a [f64],
    /// Number of features.
    pub d: usize,
    /// Support vectors per class (classification), `[n_sv, n_sv]` otherwise.
    pub n_support: &'a [i32],
    /// `(n_classes - 1) x n_sv` (classification) or `1 x n_sv`, row-major.
    pub dual_coef: &'a [f64],
    /// `-rho` per classifier.
    pub intercept: &'a [f64],
    /// Platt's A per classifier (empty without probabilities).
    pub prob_a: &'a [f64],
    /// Platt's B per classifier.
    pub prob_b: &'a [f64],
}

impl SvmModelRef<'_> {
    /// Checks that the arrays fit together: `sv` is `n_sv x d_sv` (with
    /// `d_sv == d`), `dual_coef` is `coef_rows x coef_cols`, and the class
    /// counts, intercepts and Platt parameters agree with them. A model
    /// altered by hand (or forged) is refused instead of read out of bounds.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming the first array that disagrees.
    pub fn check(
        &self,
        n_sv: usize,
        d_sv: usize,
        coef_rows: usize,
        coef_cols: usize,
    ) -> Result<()> {
        let mismatch = |what: &str, expected: usize, got: usize| {
            Err(Error::ShapeMismatch {
                what: what.into(),
                expected,
                got,
            })
        };
        if d_sv != self.d {
            return mismatch("X features (the support vectors' n_features)", d_sv, self.d);
        }
        if self.sv.len() != n_sv * d_sv {
            return mismatch("support vector values", n_sv * d_sv, self.sv.len());
        }
        let counted: i64 = if self.svm_type.is_classifier() {
            if self.n_support.len() < 2 || self.n_support.iter().any(|&c| c < 0) {
                return Err(Error::InvalidParameter {
                    name: "_n_support",
                    reason: format!(
                        "needs a non-negative count for each of at least 2 classes, got {:?}",
                        self.n_support
                    ),
                });
            }
            self.n_support.iter().map(|&c| i64::from(c)).sum()
        } else {
            i64::from(self.n_support.first().copied().unwrap_or(-1))
        };
        if counted != n_sv as i64 {
            return mismatch(
                "support vectors counted by _n_support",
                n_sv,
                counted.max(0) as usize,
            );
        }
        let rows = if self.svm_type.is_classifier() {
            self.n_classes() - 1
        } else {
            1
        };
        if coef_rows != rows {
            return mismatch("dual_coef_ rows", rows, coef_rows);
        }
        if coef_cols != n_sv || self.dual_coef.len() != rows * n_sv {
            return mismatch("dual_coef_ columns (support vectors)", n_sv, coef_cols);
        }
        if self.intercept.len() != self.n_decision() {
            return mismatch(
                "intercept_ length (classifiers)",
                self.n_decision(),
                self.intercept.len(),
            );
        }
        for (what, a) in [("_probA", self.prob_a), ("_probB", self.prob_b)] {
            if !a.is_empty() && a.len() != self.n_decision() {
                return mismatch(what, self.n_decision(), a.len());
            }
        }
        Ok(())
    }

    /// Number of support vectors.
    pub fn n_sv(&self) -> usize {
        self.sv.len().checked_div(self.d).unwrap_or(0)
    }

    /// Number of classes (classification), else 2 as libsvm counts.
    pub fn n_classes(&self) -> usize {
        if self.svm_type.is_classifier() {
            self.n_support.len()
        } else {
            2
        }
    }

    /// Values per row of [`Self::raw_decision`].
    pub fn n_decision(&self) -> usize {
        if self.svm_type.is_classifier() {
            let k = self.n_classes();
            k * (k - 1) / 2
        } else {
            1
        }
    }

    /// libsvm's decision values, `n x n_decision()` row-major: for the
    /// classifier of classes `(a, b)`, positive means `a`.
    ///
    /// Fused and tiled: for each block of `BLOCK` queries, the support
    /// vectors of each class are taken a piece of `PIECE` at a time (their
    /// features in L2), and each query's dot products, kernel values and
    /// coefficient sums over the piece are computed while they are in L1.
    /// The arithmetic is that of one matrix product (faer's: a fused
    /// multiply-add per feature, in feature order, from zero) followed by
    /// the four-lane dot product ([`dot_finish`]) over each class's support
    /// vectors, whose four partial sums are carried from piece to piece: the bits do not depend on the
    /// pieces, the blocks or the thread count.
    pub fn raw_decision(&self, x: &[f64], n: usize) -> Vec<f64> {
        let width = self.n_decision();
        let mut out = vec![0.0; n * width];
        let (d, m) = (self.d, self.n_sv());
        let kernel = self.kernel;
        // Support vectors feature-major, as the solver keeps the training
        // rows: a piece's `f`-th feature is one contiguous run.
        let order: Vec<usize> = (0..m).collect();
        let sv_rows = KernelRows::new(kernel, self.sv, d, &order);
        let (svt, sq_sv) = (sv_rows.features(), sv_rows.sq_norms());
        // Class ranges of the support vectors (one range for one-class and
        // regression), and the coefficient rows every range is summed with.
        let (starts, coef_rows) = if self.svm_type.is_classifier() {
            let k = self.n_classes();
            let mut st = vec![0usize; k + 1];
            for c in 0..k {
                st[c + 1] = st[c] + self.n_support[c].max(0) as usize;
            }
            (st, k - 1)
        } else {
            (vec![0, m], 1)
        };
        let k = starts.len() - 1;
        out.par_chunks_mut(BLOCK * width).enumerate().for_each_init(
            || vec![0.0; PIECE],
            |kv, (b, out_block)| {
                let r0 = b * BLOCK;
                let rows = out_block.len() / width;
                let xb = &x[r0 * d..(r0 + rows) * d];
                let sq_x: Vec<f64> = if kernel.needs_norms() {
                    xb.chunks(d).map(sq_norm).collect()
                } else {
                    vec![0.0; rows]
                };
                // sums[(row * k + class) * coef_rows + coef row]: the
                // class's coefficient sum against that row of dual_coef_.
                let mut lanes = vec![[0.0f64; 4]; rows * k * coef_rows];
                let mut sums = vec![0.0f64; rows * k * coef_rows];
                for c in 0..k {
                    let (c0, c1) = (starts[c], starts[c + 1]);
                    let mut p0 = c0;
                    while p0 < c1 {
                        let p1 = (p0 + PIECE).min(c1);
                        let kv = &mut kv[..p1 - p0];
                        for (r, xr) in xb.chunks(d).enumerate() {
                            sv_dots(svt, m, p0, xr, kv);
                            kernel_values(kernel, kv, sq_x[r], &sq_sv[p0..p1]);
                            for q in 0..coef_rows {
                                let at = (r * k + c) * coef_rows + q;
                                let coef = &self.dual_coef[q * m + p0..q * m + p1];
                                if p1 < c1 {
                                    dot_lanes(&mut lanes[at], coef, kv);
                                } else {
                                    sums[at] = dot_finish(&mut lanes[at], coef, kv);
                                }
                            }
                        }
                        p0 = p1;
                    }
                }
                for (r, o) in out_block.chunks_mut(width).enumerate() {
                    let sum = |c: usize, q: usize| sums[(r * k + c) * coef_rows + q];
                    if !self.svm_type.is_classifier() {
                        o[0] = sum(0, 0) + self.intercept[0];
                        continue;
                    }
                    let mut p = 0;
                    for a in 0..k {
                        for bb in a + 1..k {
                            o[p] = (sum(a, bb - 1) + sum(bb, a)) + self.intercept[p];
                            p += 1;
                        }
                    }
                }
            },
        );
        out
    }

    /// libsvm's `predict`: the class index by one-vs-one votes (ties to the
    /// lowest index), `±1` for one-class, the value for regression.
    pub fn predict(&self, x: &[f64], n: usize) -> Vec<f64> {
        let dec = self.raw_decision(x, n);
        match self.svm_type {
            SvmType::EpsilonSvr | SvmType::NuSvr => dec,
            SvmType::OneClass => dec
                .iter()
                .map(|&v| if v > 0.0 { 1.0 } else { -1.0 })
                .collect(),
            SvmType::CSvc | SvmType::NuSvc => {
                let k = self.n_classes();
                let width = self.n_decision();
                dec.chunks(width.max(1))
                    .take(n)
                    .map(|row| {
                        let mut votes = vec![0usize; k];
                        let mut p = 0;
                        for a in 0..k {
                            for b in a + 1..k {
                                if row[p] > 0.0 {
                                    votes[a] += 1;
                                } else {
                                    votes[b] += 1;
                                }
                                p += 1;
                            }
                        }
                        let mut best = 0;
                        for c in 1..k {
                            if votes[c] > votes[best] {
                                best = c;
                            }
                        }
                        best as f64
                    })
                    .collect()
            }
        }
    }

    /// Class probabilities, `n x n_classes` row-major: Platt's sigmoid on
    /// each pairwise decision value, coupled by Wu, Lin and Weng's method 2,
    /// as libsvm's `predict_probability`.
    pub fn predict_proba(&self, x: &[f64], n: usize) -> Vec<f64> {
        let dec = self.raw_decision(x, n);
        let k = self.n_classes();
        let width = self.n_decision();
        let mut out = vec![0.0; n * k];
        const MIN_PROB: f64 = 1e-7;
        for (row, o) in dec.chunks(width.max(1)).zip(out.chunks_mut(k)) {
            let mut r = vec![vec![0.0; k]; k];
            let mut p = 0;
            for a in 0..k {
                for b in a + 1..k {
                    let v = sigmoid_predict(row[p], self.prob_a[p], self.prob_b[p])
                        .clamp(MIN_PROB, 1.0 - MIN_PROB);
                    r[a][b] = v;
                    r[b][a] = 1.0 - v;
                    p += 1;
                }
            }
            multiclass_probability(&r, o);
        }
        out
    }
}

crate::simd::multiversion! {
    /// Kernel values from dot products, in place.
    fn kernel_values(kernel: Kernel, dots: &mut [f64], sq_x: f64, sq_sv: &[f64]) -> ()
        => kernel_values_portable
}

#[inline(always)]
fn kernel_values_portable(kernel: Kernel, dots: &mut [f64], sq_x: f64, sq_sv: &[f64]) {
    apply_kernel(kernel, dots, sq_x, sq_sv);
}

crate::simd::multiversion! {
    /// `acc[j] = x · sv[p0 + j]`, a fused multiply-add per feature in
    /// feature order from zero (as faer's matrix product computes each
    /// value), four features a pass over the piece.
    fn sv_dots(svt: &[f64], m: usize, p0: usize, x: &[f64], acc: &mut [f64]) -> ()
        => sv_dots_portable
}

#[inline(always)]
fn sv_dots_portable(svt: &[f64], m: usize, p0: usize, x: &[f64], acc: &mut [f64]) {
    let n = acc.len();
    let col = |f: usize| &svt[f * m + p0..f * m + p0 + n];
    acc.fill(0.0);
    let mut f = 0;
    while f + 4 <= x.len() {
        let (a0, a1, a2, a3) = (x[f], x[f + 1], x[f + 2], x[f + 3]);
        let (c0, c1, c2, c3) = (col(f), col(f + 1), col(f + 2), col(f + 3));
        for j in 0..n {
            let s = c0[j].mul_add(a0, acc[j]);
            let s = c1[j].mul_add(a1, s);
            let s = c2[j].mul_add(a2, s);
            acc[j] = c3[j].mul_add(a3, s);
        }
        f += 4;
    }
    for (f, &a) in x.iter().enumerate().skip(f) {
        for (s, &c) in acc.iter_mut().zip(col(f)) {
            *s = c.mul_add(a, *s);
        }
    }
}

crate::simd::multiversion! {
    /// Adds `a_i b_i` to four interleaved partial sums (`a.len()` a
    /// multiple of 4): one piece of a longer dot product.
    fn dot_lanes(s: &mut [f64; 4], a: &[f64], b: &[f64]) -> () => dot_lanes_portable
}

#[inline(always)]
fn dot_lanes_portable(s: &mut [f64; 4], a: &[f64], b: &[f64]) {
    debug_assert!(a.len().is_multiple_of(4));
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
}

/// The last piece of a dot product whose earlier pieces [`dot_lanes`] summed
/// into `s`: its lanes, then the partial sums combined in a fixed order,
/// then the remainder. Over one piece from zero it is the plain `a · b`, the
/// same bits at every SIMD level.
fn dot_finish(s: &mut [f64; 4], a: &[f64], b: &[f64]) -> f64 {
    let whole = a.len() / 4 * 4;
    dot_lanes(s, &a[..whole], &b[..whole]);
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        t += x * y;
    }
    t
}

/// scikit-learn's `_ovr_decision_function(dec < 0, -dec, k)` of one row of
/// libsvm's pairwise decision values (`k` classes): the one-vs-one votes
/// plus the summed confidences squashed below one vote, in numpy's order of
/// operations (so the same bits). This is `decision_function` with
/// `decision_function_shape='ovr'` and more than two classes.
pub fn ovr_decision(dec: &[f64], k: usize) -> Vec<f64> {
    let mut votes = vec![0.0; k];
    let mut conf = vec![0.0; k];
    let mut p = 0;
    for i in 0..k {
        for j in i + 1..k {
            conf[i] -= -dec[p];
            conf[j] += -dec[p];
            if dec[p] < 0.0 {
                votes[j] += 1.0;
            } else {
                votes[i] += 1.0;
            }
            p += 1;
        }
    }
    (0..k)
        .map(|c| votes[c] + conf[c] / (3.0 * (conf[c].abs() + 1.0)))
        .collect()
}

/// The class scikit-learn's `break_ties=True` predicts from one row of
/// libsvm's pairwise decision values (`k` classes): the first largest of
/// [`ovr_decision`].
pub fn ovr_argmax(dec: &[f64], k: usize) -> usize {
    first_argmax(&ovr_decision(dec, k))
}

/// `1 / (1 + exp(A f + B))`, without cancellation.
pub(crate) fn sigmoid_predict(f: f64, a: f64, b: f64) -> f64 {
    let t = f * a + b;
    if t >= 0.0 {
        (-t).exp() / (1.0 + (-t).exp())
    } else {
        1.0 / (1.0 + t.exp())
    }
}

/// Platt's sigmoid fit by Newton's method with backtracking (Lin, Lin and
/// Weng 2007), libsvm's `sigmoid_train`; `labels > 0` is the positive class.
pub(crate) fn sigmoid_train(dec: &[f64], labels: &[f64]) -> (f64, f64) {
    let prior1 = labels.iter().filter(|&&v| v > 0.0).count() as f64;
    let prior0 = labels.len() as f64 - prior1;
    let (max_iter, min_step, sigma, eps) = (100, 1e-10, 1e-12, 1e-5);
    let hi = (prior1 + 1.0) / (prior1 + 2.0);
    let lo = 1.0 / (prior0 + 2.0);
    let t: Vec<f64> = labels
        .iter()
        .map(|&v| if v > 0.0 { hi } else { lo })
        .collect();
    let objective = |a: f64, b: f64| {
        dec.iter().zip(&t).fold(0.0, |s, (&f, &ti)| {
            let z = f * a + b;
            s + if z >= 0.0 {
                ti * z + (-z).exp().ln_1p()
            } else {
                (ti - 1.0) * z + z.exp().ln_1p()
            }
        })
    };
    let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
    let mut fval = objective(a, b);
    for _ in 0..max_iter {
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (sigma, sigma, 0.0, 0.0, 0.0);
        for (&f, &ti) in dec.iter().zip(&t) {
            let z = f * a + b;
            let (p, q) = if z >= 0.0 {
                let e = (-z).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = z.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += f * f * d2;
            h22 += d2;
            h21 += f * d2;
            let d1 = ti - p;
            g1 += f * d1;
            g2 += d1;
        }
        if g1.abs() < eps && g2.abs() < eps {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= min_step {
            let (na, nb) = (a + step * da, b + step * db);
            let nf = objective(na, nb);
            if nf < fval + 0.0001 * step * gd {
                a = na;
                b = nb;
                fval = nf;
                break;
            }
            step /= 2.0;
        }
        if step < min_step {
            break;
        }
    }
    (a, b)
}

/// Class probabilities from pairwise ones (`r[a][b]`: P(a | a or b)).
fn multiclass_probability(r: &[Vec<f64>], p: &mut [f64]) {
    let k = r.len();
    let max_iter = 100.max(k);
    let eps = 0.005 / k as f64;
    let mut q = vec![vec![0.0; k]; k];
    for t in 0..k {
        p[t] = 1.0 / k as f64;
        for j in 0..t {
            q[t][t] += r[j][t] * r[j][t];
            q[t][j] = q[j][t];
        }
        for j in t + 1..k {
            q[t][t] += r[j][t] * r[j][t];
            q[t][j] = -r[j][t] * r[t][j];
        }
    }
    let mut qp = vec![0.0; k];
    for _ in 0..max_iter {
        let mut pqp = 0.0;
        for t in 0..k {
            qp[t] = (0..k).fold(0.0, |s, j| s + q[t][j] * p[j]);
            pqp += p[t] * qp[t];
        }
        let max_error = (0..k).fold(0.0f64, |m, t| m.max((qp[t] - pqp).abs()));
        if max_error < eps {
            break;
        }
        for t in 0..k {
            let diff = (-qp[t] + pqp) / q[t][t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * q[t][t] + 2.0 * qp[t])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[t][j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}
