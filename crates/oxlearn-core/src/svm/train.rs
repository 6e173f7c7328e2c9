//! libsvm's formulations on top of the solver: C- and ν-classification
//! (one-vs-one over sorted class labels), one-class, ε- and ν-regression,
//! per-sample weights, and Platt's probabilities from an internal 5-fold
//! cross-validation.

use super::kernel::KernelRows;
use super::predict::{sigmoid_train, SvmModelRef};
use super::solver::{solve, QMatrix, Solution};
use super::{SvmFit, SvmParams, SvmType};
use crate::error::{Error, Result};

/// One binary (or one-class, or regression) problem: rows of `x` by index.
struct Problem<'a> {
    x: &'a [f64],
    d: usize,
    rows: Vec<usize>,
    /// ±1 for classification, the target for regression.
    y: Vec<f64>,
    w: Vec<f64>,
}

struct TrainedOne {
    /// Signed coefficients `y_i alpha_i` (regression: `alpha_i - alpha_i*`).
    coef: Vec<f64>,
    rho: f64,
    iterations: usize,
    hit_max_iter: bool,
}

fn cache_bytes(p: &SvmParams) -> usize {
    (p.cache_size_mb.max(0.0) * (1u64 << 20) as f64) as usize
}

fn unpack(sol: Solution) -> (Vec<f64>, f64, f64, usize, bool) {
    (sol.alpha, sol.rho, sol.r, sol.iterations, sol.hit_max_iter)
}

/// libsvm's `svm_train_one`, with `(cp, cn)` the C of the +1 and -1 class.
fn train_one(prob: &Problem, p: &SvmParams, cp: f64, cn: f64) -> TrainedOne {
    let l = prob.rows.len();
    let bytes = cache_bytes(p);
    let rows = KernelRows::new(p.kernel, prob.x, prob.d, &prob.rows);
    match p.svm_type {
        SvmType::CSvc => {
            let y: Vec<i8> = prob
                .y
                .iter()
                .map(|&v| if v > 0.0 { 1 } else { -1 })
                .collect();
            let c: Vec<f64> = (0..l)
                .map(|i| prob.w[i] * if y[i] == 1 { cp } else { cn })
                .collect();
            let yf = y.iter().map(|&v| f32::from(v)).collect();
            let (alpha, rho, _, it, hit) = unpack(solve(
                QMatrix::direct(rows, Some(yf), bytes),
                &vec![-1.0; l],
                &y,
                vec![0.0; l],
                &c,
                p.tol,
                p.shrinking,
                p.max_iter,
                false,
            ));
            let coef = alpha
                .iter()
                .zip(&y)
                .map(|(a, &s)| a * f64::from(s))
                .collect();
            TrainedOne {
                coef,
                rho,
                iterations: it,
                hit_max_iter: hit,
            }
        }
        SvmType::NuSvc => {
            let y: Vec<i8> = prob
                .y
                .iter()
                .map(|&v| if v > 0.0 { 1 } else { -1 })
                .collect();
            let c = prob.w.clone();
            let nu_l: f64 = c.iter().map(|&ci| p.nu * ci).sum();
            let (mut sum_pos, mut sum_neg) = (nu_l / 2.0, nu_l / 2.0);
            let alpha0: Vec<f64> = (0..l)
                .map(|i| {
                    let s = if y[i] == 1 {
                        &mut sum_pos
                    } else {
                        &mut sum_neg
                    };
                    let a = c[i].min(*s);
                    *s -= a;
                    a
                })
                .collect();
            let yf = y.iter().map(|&v| f32::from(v)).collect();
            let (alpha, rho, r, it, hit) = unpack(solve(
                QMatrix::direct(rows, Some(yf), bytes),
                &vec![0.0; l],
                &y,
                alpha0,
                &c,
                p.tol,
                p.shrinking,
                p.max_iter,
                true,
            ));
            let coef = alpha
                .iter()
                .zip(&y)
                .map(|(a, &s)| a * f64::from(s) / r)
                .collect();
            TrainedOne {
                coef,
                rho: rho / r,
                iterations: it,
                hit_max_iter: hit,
            }
        }
        SvmType::OneClass => {
            let c = prob.w.clone();
            let mut nu_l: f64 = c.iter().map(|&ci| ci * p.nu).sum();
            let mut alpha0 = vec![0.0; l];
            for i in 0..l {
                if nu_l <= 0.0 {
                    break;
                }
                alpha0[i] = c[i].min(nu_l);
                nu_l -= alpha0[i];
            }
            let (alpha, rho, _, it, hit) = unpack(solve(
                QMatrix::direct(rows, None, bytes),
                &vec![0.0; l],
                &vec![1; l],
                alpha0,
                &c,
                p.tol,
                p.shrinking,
                p.max_iter,
                false,
            ));
            TrainedOne {
                coef: alpha,
                rho,
                iterations: it,
                hit_max_iter: hit,
            }
        }
        SvmType::EpsilonSvr | SvmType::NuSvr => {
            let nu = p.svm_type == SvmType::NuSvr;
            let c: Vec<f64> = (0..2 * l).map(|k| prob.w[k % l] * p.c).collect();
            let y: Vec<i8> = (0..2 * l).map(|k| if k < l { 1 } else { -1 }).collect();
            let lin: Vec<f64> = (0..2 * l)
                .map(|k| {
                    let (t, pos) = (prob.y[k % l], k < l);
                    match (nu, pos) {
                        (false, true) => p.epsilon - t,
                        (false, false) => p.epsilon + t,
                        (true, true) => -t,
                        (true, false) => t,
                    }
                })
                .collect();
            let mut alpha0 = vec![0.0; 2 * l];
            if nu {
                let mut sum: f64 = c[..l].iter().map(|&ci| ci * p.nu).sum::<f64>() / 2.0;
                for i in 0..l {
                    let a = sum.min(c[i]);
                    alpha0[i] = a;
                    alpha0[i + l] = a;
                    sum -= a;
                }
            }
            let (alpha, rho, _, it, hit) = unpack(solve(
                QMatrix::doubled(rows, bytes),
                &lin,
                &y,
                alpha0,
                &c,
                p.tol,
                p.shrinking,
                p.max_iter,
                nu,
            ));
            TrainedOne {
                coef: (0..l).map(|i| alpha[i] - alpha[i + l]).collect(),
                rho,
                iterations: it,
                hit_max_iter: hit,
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) for the cross-validation
/// shuffle: libsvm's own stream cannot be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by rejection.
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }
}

/// Platt's `(A, B)` for one binary problem from 5-fold cross-validated
/// decision values, as libsvm's `svm_binary_svc_probability`.
fn binary_probability(
    prob: &Problem,
    p: &SvmParams,
    cp: f64,
    cn: f64,
    rng: &mut Rng,
    status: &mut bool,
) -> (f64, f64) {
    let l = prob.rows.len();
    let mut perm: Vec<usize> = (0..l).collect();
    for i in 0..l {
        let j = i + rng.below(l - i);
        perm.swap(i, j);
    }
    let mut dec = vec![0.0; l];
    let folds = 5;
    for f in 0..folds {
        let (begin, end) = (f * l / folds, (f + 1) * l / folds);
        let train: Vec<usize> = perm[..begin].iter().chain(&perm[end..]).copied().collect();
        let pos = train.iter().filter(|&&k| prob.y[k] > 0.0).count();
        let neg = train.len() - pos;
        let held = &perm[begin..end];
        if pos == 0 || neg == 0 {
            let v = if pos > 0 {
                1.0
            } else if neg > 0 {
                -1.0
            } else {
                0.0
            };
            for &k in held {
                dec[k] = v;
            }
            continue;
        }
        // The fold's model, without zero-weight samples (libsvm's train
        // removes them).
        let keep: Vec<usize> = train.into_iter().filter(|&k| prob.w[k] > 0.0).collect();
        let sub = Problem {
            x: prob.x,
            d: prob.d,
            rows: keep.iter().map(|&k| prob.rows[k]).collect(),
            y: keep.iter().map(|&k| prob.y[k]).collect(),
            w: keep.iter().map(|&k| prob.w[k]).collect(),
        };
        let has_both = sub.y.iter().any(|&v| v > 0.0) && sub.y.iter().any(|&v| v <= 0.0);
        if !has_both {
            let v = if sub.y.first().is_some_and(|&v| v > 0.0) {
                1.0
            } else {
                -1.0
            };
            for &k in held {
                dec[k] = v;
            }
            continue;
        }
        let sub_params = SvmParams {
            probability: false,
            ..p.clone()
        };
        let one = train_one(&sub, &sub_params, cp, cn);
        *status |= one.hit_max_iter;
        let (sv, coef): (Vec<usize>, Vec<f64>) = sub
            .rows
            .iter()
            .zip(&one.coef)
            .filter(|(_, &a)| a != 0.0)
            .map(|(&r, &a)| (r, a))
            .unzip();
        let sv_x: Vec<f64> = sv
            .iter()
            .flat_map(|&r| prob.x[r * prob.d..(r + 1) * prob.d].iter().copied())
            .collect();
        let q_x: Vec<f64> = held
            .iter()
            .flat_map(|&k| {
                let r = prob.rows[k];
                prob.x[r * prob.d..(r + 1) * prob.d].iter().copied()
            })
            .collect();
        let model = SvmModelRef {
            svm_type: SvmType::OneClass, // one coefficient row, sum - rho
            kernel: p.kernel,
            sv: &sv_x,
            d: prob.d,
            n_support: &[sv.len() as i32; 2],
            dual_coef: &coef,
            intercept: &[-one.rho],
            prob_a: &[],
            prob_b: &[],
        };
        let values = model.raw_decision(&q_x, held.len());
        for (&k, v) in held.iter().zip(values) {
            dec[k] = v;
        }
    }
    let labels: Vec<f64> = prob.y.clone();
    sigmoid_train(&dec, &labels)
}

/// The data-dependent checks of libsvm's `svm_check_parameter`, with its
/// messages (scikit-learn raises them as they are).
fn check(p: &SvmParams, y: &[f64], w: &[f64]) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidParameter {
        name: "sample_weight",
        reason: reason.into(),
    };
    if p.svm_type == SvmType::NuSvc {
        let mut labels: Vec<(i64, f64)> = Vec::new();
        for (&yi, &wi) in y.iter().zip(w) {
            match labels.iter_mut().find(|(l, _)| *l == yi as i64) {
                Some((_, s)) => *s += wi,
                None => labels.push((yi as i64, wi)),
            }
        }
        for a in 0..labels.len() {
            for b in a + 1..labels.len() {
                let (n1, n2) = (labels[a].1, labels[b].1);
                if p.nu * (n1 + n2) / 2.0 > n1.min(n2) {
                    return Err(Error::InvalidParameter {
                        name: "nu",
                        reason: "specified nu is infeasible".into(),
                    });
                }
            }
        }
    }
    let kept: Vec<f64> = y
        .iter()
        .zip(w)
        .filter(|(_, &wi)| wi > 0.0)
        .map(|(&v, _)| v)
        .collect();
    if kept.is_empty() {
        return Err(invalid(
            "Invalid input - all samples have zero or negative weights.",
        ));
    }
    if p.svm_type == SvmType::CSvc && kept.len() != y.len() && kept.iter().all(|&v| v == kept[0]) {
        return Err(invalid(
            "Invalid input - all samples with positive weights belong to the same class.",
        ));
    }
    Ok(())
}

/// Fits an SVM on the row-major `n x d` matrix `x`. `y` holds class indices
/// (`0..n_classes`, as floats) for classification, targets for regression;
/// `sample_weight` is empty or one weight per row; `class_weight` one
/// multiplier of `C` per class index (classification).
pub(crate) fn fit(
    x: &[f64],
    n: usize,
    d: usize,
    y: &[f64],
    sample_weight: &[f64],
    class_weight: &[f64],
    p: &SvmParams,
) -> Result<SvmFit> {
    let w: Vec<f64> = if sample_weight.is_empty() {
        vec![1.0; n]
    } else {
        sample_weight.to_vec()
    };
    check(p, y, &w)?;
    let kept: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
    let mut rng = Rng(p.seed);
    let mut status = false;
    if !p.svm_type.is_classifier() {
        let prob = Problem {
            x,
            d,
            rows: kept.clone(),
            y: kept.iter().map(|&i| y[i]).collect(),
            w: kept.iter().map(|&i| w[i]).collect(),
        };
        let one = train_one(&prob, p, 0.0, 0.0);
        let (support, coef): (Vec<usize>, Vec<f64>) = kept
            .iter()
            .zip(&one.coef)
            .filter(|(_, &a)| a.abs() > 0.0)
            .map(|(&i, &a)| (i, a))
            .unzip();
        return Ok(SvmFit::new(
            x,
            d,
            support,
            // scikit-learn's layout for one-class and regression.
            vec![one.coef.iter().filter(|a| a.abs() > 0.0).count() as i32; 2],
            coef,
            vec![-one.rho],
            (Vec::new(), Vec::new()),
            one.hit_max_iter,
            vec![one.iterations as i32],
        ));
    }
    // Group the kept rows by class label, labels ascending, each class in
    // row order.
    let mut labels: Vec<i64> = kept.iter().map(|&i| y[i] as i64).collect();
    labels.sort_unstable();
    labels.dedup();
    let k = labels.len();
    if k < 2 {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: "Invalid input - all samples with positive weights belong to the same class."
                .into(),
        });
    }
    let class_of = |i: usize| labels.binary_search(&(y[i] as i64)).unwrap_or(0);
    let mut grouped: Vec<Vec<usize>> = vec![Vec::new(); k];
    for &i in &kept {
        grouped[class_of(i)].push(i);
    }
    let weighted_c: Vec<f64> = labels
        .iter()
        .map(|&lab| {
            let cw = usize::try_from(lab)
                .ok()
                .and_then(|c| class_weight.get(c))
                .copied()
                .unwrap_or(1.0);
            p.c * cw
        })
        .collect();
    let n_pairs = k * (k - 1) / 2;
    let mut models = Vec::with_capacity(n_pairs);
    let (mut prob_a, mut prob_b) = (Vec::new(), Vec::new());
    let mut iters = Vec::with_capacity(n_pairs.max(1));
    for a in 0..k {
        for b in a + 1..k {
            let rows: Vec<usize> = grouped[a].iter().chain(&grouped[b]).copied().collect();
            let prob = Problem {
                x,
                d,
                y: (0..rows.len())
                    .map(|t| if t < grouped[a].len() { 1.0 } else { -1.0 })
                    .collect(),
                w: rows.iter().map(|&i| w[i]).collect(),
                rows,
            };
            if p.probability {
                let (pa, pb) = binary_probability(
                    &prob,
                    p,
                    weighted_c[a],
                    weighted_c[b],
                    &mut rng,
                    &mut status,
                );
                prob_a.push(pa);
                prob_b.push(pb);
            }
            let one = train_one(&prob, p, weighted_c[a], weighted_c[b]);
            status |= one.hit_max_iter;
            iters.push(one.iterations as i32);
            models.push(one);
        }
    }
    // A row is a support vector if any pair gave it a nonzero coefficient.
    let mut nonzero: Vec<Vec<bool>> = grouped.iter().map(|g| vec![false; g.len()]).collect();
    let mut pair = 0;
    for a in 0..k {
        for b in a + 1..k {
            let coef = &models[pair].coef;
            let na = grouped[a].len();
            for (t, &c) in coef.iter().enumerate() {
                if c.abs() > 0.0 {
                    if t < na {
                        nonzero[a][t] = true;
                    } else {
                        nonzero[b][t - na] = true;
                    }
                }
            }
            pair += 1;
        }
    }
    let n_support: Vec<i32> = nonzero
        .iter()
        .map(|nz| nz.iter().filter(|&&z| z).count() as i32)
        .collect();
    let mut support = Vec::new();
    for (g, nz) in grouped.iter().zip(&nonzero) {
        support.extend(g.iter().zip(nz).filter(|(_, &z)| z).map(|(&i, _)| i));
    }
    let total: usize = support.len();
    let mut start = vec![0usize; k];
    for c in 1..k {
        start[c] = start[c - 1] + n_support[c - 1] as usize;
    }
    // Coefficients of classifier (a, b): a's in row b - 1, b's in row a.
    let mut dual = vec![0.0; (k - 1) * total];
    let mut pair = 0;
    for a in 0..k {
        for b in a + 1..k {
            let coef = &models[pair].coef;
            let na = grouped[a].len();
            let mut q = start[a];
            for t in 0..na {
                if nonzero[a][t] {
                    dual[(b - 1) * total + q] = coef[t];
                    q += 1;
                }
            }
            let mut q = start[b];
            for t in 0..grouped[b].len() {
                if nonzero[b][t] {
                    dual[a * total + q] = coef[na + t];
                    q += 1;
                }
            }
            pair += 1;
        }
    }
    Ok(SvmFit::new(
        x,
        d,
        support,
        n_support,
        dual,
        models.iter().map(|m| -m.rho).collect(),
        (prob_a, prob_b),
        status,
        iters,
    ))
}
