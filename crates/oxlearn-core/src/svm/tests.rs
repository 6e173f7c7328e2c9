use super::*;

fn blobs(n: usize, d: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    // A deterministic LCG: classes centred apart, with overlap.
    let mut s = seed;
    let mut u = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
    };
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        for f in 0..d {
            x.push(u() * 3.0 + if f == c % d { 1.5 } else { 0.0 });
        }
        y.push(c as f64);
    }
    (x, y)
}

fn params(t: SvmType, kernel: Kernel) -> SvmParams {
    SvmParams {
        svm_type: t,
        kernel,
        c: 1.0,
        nu: 0.5,
        epsilon: 0.1,
        tol: 1e-3,
        shrinking: true,
        probability: false,
        cache_size_mb: 200.0,
        max_iter: -1,
        seed: 7,
    }
}

/// The KKT conditions of the C-SVC dual hold within `tol` at the solution:
/// free coefficients sit on the margin, bounded ones are on the right side.
#[test]
fn c_svc_solution_satisfies_kkt() {
    let (d, n) = (4, 300);
    let (x, y) = blobs(n, d, 2, 1);
    for kernel in [
        Kernel::Linear,
        Kernel::Rbf { gamma: 0.3 },
        Kernel::Poly {
            degree: 3,
            gamma: 0.2,
            coef0: 1.0,
        },
    ] {
        let p = params(SvmType::CSvc, kernel);
        let f = fit(&x, n, d, &y, &[], &[], &p).unwrap();
        let m = f.model(&p, d);
        let dec = m.raw_decision(&x, n);
        let mut coef = vec![0.0; n];
        for (t, &i) in f.support.iter().enumerate() {
            coef[i as usize] = f.dual_coef[t];
        }
        for i in 0..n {
            // Class 0 is the positive side of libsvm's classifier (0, 1).
            let yi = if y[i] == 0.0 { 1.0 } else { -1.0 };
            let margin = yi * dec[i];
            let a = coef[i] * yi;
            assert!((-1e-12..=1.0 + 1e-12).contains(&a), "alpha {a}");
            if a <= 0.0 {
                assert!(margin >= 1.0 - 2e-3, "{kernel:?} row {i}: {margin}");
            } else if a >= 1.0 {
                assert!(margin <= 1.0 + 2e-3, "{kernel:?} row {i}: {margin}");
            } else {
                assert!((margin - 1.0).abs() <= 2e-3, "{kernel:?} row {i}: {margin}");
            }
        }
        // sum_i y_i alpha_i = 0.
        let s: f64 = f.dual_coef.iter().sum();
        assert!(s.abs() < 1e-9, "{s}");
    }
}

/// Shrinking and the cache size change the path, not the answer.
#[test]
fn shrinking_and_cache_size_do_not_change_the_solution() {
    let (d, n) = (3, 400);
    let (x, y) = blobs(n, d, 3, 2);
    let p = params(SvmType::CSvc, Kernel::Rbf { gamma: 0.5 });
    let a = fit(&x, n, d, &y, &[], &[], &p).unwrap();
    let tiny = SvmParams {
        shrinking: false,
        cache_size_mb: 0.001,
        ..p.clone()
    };
    let b = fit(&x, n, d, &y, &[], &[], &tiny).unwrap();
    let (ma, mb) = (a.model(&p, d), b.model(&tiny, d));
    let (da, db) = (ma.raw_decision(&x, n), mb.raw_decision(&x, n));
    for (u, v) in da.iter().zip(&db) {
        assert!((u - v).abs() < 1e-2, "{u} vs {v}");
    }
    assert_eq!(ma.predict(&x, n), mb.predict(&x, n));
}

/// Rows computed ahead (a cache with room for them) give every bit of a fit
/// that computes each row alone (a cache of about two rows): which rows are
/// computed when never changes a value.
#[test]
fn rows_computed_ahead_change_no_value() {
    let (d, n) = (3, 400);
    let (x, y) = blobs(n, d, 3, 2);
    let (x2, _) = blobs(n, d, 2, 5);
    let targets: Vec<f64> = x2.chunks(d).map(|r| r[0] - 2.0 * r[1]).collect();
    for (t, y) in [(SvmType::CSvc, &y), (SvmType::EpsilonSvr, &targets)] {
        let x = if t == SvmType::CSvc { &x } else { &x2 };
        let roomy = params(t, Kernel::Rbf { gamma: 0.5 });
        let two_rows = SvmParams {
            // One row of 400 f32 values is 1.6 kB: two fit, none ahead.
            cache_size_mb: 0.0033,
            ..roomy.clone()
        };
        let a = fit(x, n, d, y, &[], &[], &roomy).unwrap();
        let b = fit(x, n, d, y, &[], &[], &two_rows).unwrap();
        assert_eq!(a.support, b.support, "{t:?}");
        assert_eq!(a.n_iter, b.n_iter, "{t:?}");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.dual_coef), bits(&b.dual_coef), "{t:?}");
        assert_eq!(bits(&a.intercept), bits(&b.intercept), "{t:?}");
    }
}

#[test]
fn prediction_is_the_same_for_any_thread_count() {
    let (d, n) = (5, 700);
    let (x, y) = blobs(n, d, 3, 3);
    let p = params(SvmType::NuSvc, Kernel::Rbf { gamma: 0.2 });
    let f = fit(&x, n, d, &y, &[], &[], &p).unwrap();
    let m = f.model(&p, d);
    let one = crate::threads::run(Some(1), usize::MAX, || m.raw_decision(&x, n));
    let two = crate::threads::run(Some(2), usize::MAX, || m.raw_decision(&x, n));
    assert_eq!(one, two);
    let fit1 = crate::threads::run(Some(1), usize::MAX, || {
        fit(&x, n, d, &y, &[], &[], &p).unwrap()
    });
    let fit2 = crate::threads::run(Some(2), usize::MAX, || {
        fit(&x, n, d, &y, &[], &[], &p).unwrap()
    });
    assert_eq!(fit1.dual_coef, fit2.dual_coef);
    assert_eq!(fit1.support, fit2.support);
}

#[test]
fn regression_fits_a_line_within_epsilon() {
    let n = 200;
    let x: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let y: Vec<f64> = x.iter().map(|&v| 2.0 * v + 1.0).collect();
    let mut p = params(SvmType::EpsilonSvr, Kernel::Linear);
    p.c = 100.0;
    let f = fit(&x, n, 1, &y, &[], &[], &p).unwrap();
    let pred = f.model(&p, 1).predict(&x, n);
    for (a, b) in pred.iter().zip(&y) {
        assert!((a - b).abs() <= p.epsilon + 1e-3, "{a} vs {b}");
    }
    p.svm_type = SvmType::NuSvr;
    let f = fit(&x, n, 1, &y, &[], &[], &p).unwrap();
    let pred = f.model(&p, 1).predict(&x, n);
    for (a, b) in pred.iter().zip(&y) {
        assert!((a - b).abs() <= 0.2, "{a} vs {b}");
    }
}

#[test]
fn zero_weights_leave_rows_out_and_all_zero_is_refused() {
    let (d, n) = (2, 60);
    let (x, y) = blobs(n, d, 2, 4);
    let p = params(SvmType::CSvc, Kernel::Linear);
    let mut w = vec![1.0; n];
    w[0] = 0.0;
    w[1] = -1.0;
    let f = fit(&x, n, d, &y, &w, &[], &p).unwrap();
    assert!(!f.support.contains(&0) && !f.support.contains(&1));
    let err = fit(&x, n, d, &y, &vec![0.0; n], &[], &p).unwrap_err();
    assert!(
        err.to_string()
            .contains("all samples have zero or negative weights"),
        "{err}"
    );
    let mut nu = params(SvmType::NuSvc, Kernel::Linear);
    nu.nu = 0.99;
    let y_skew: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i < 5))).collect();
    let err = fit(&x, n, d, &y_skew, &[], &[], &nu).unwrap_err();
    assert!(
        err.to_string().contains("specified nu is infeasible"),
        "{err}"
    );
}

#[test]
fn probabilities_sum_to_one_and_follow_the_decision() {
    let (d, n) = (3, 300);
    let (x, y) = blobs(n, d, 3, 5);
    let mut p = params(SvmType::CSvc, Kernel::Rbf { gamma: 0.3 });
    p.probability = true;
    let f = fit(&x, n, d, &y, &[], &[], &p).unwrap();
    assert_eq!(f.prob_a.len(), 3);
    let m = f.model(&p, d);
    let proba = m.predict_proba(&x, n);
    let pred = m.predict(&x, n);
    let mut agree = 0;
    for (row, &c) in proba.chunks(3).zip(&pred) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let best = (0..3).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        agree += usize::from(best as f64 == c);
    }
    assert!(agree * 10 >= n * 9, "{agree}");
}

#[test]
fn one_class_keeps_about_nu_outside() {
    let (d, n) = (2, 400);
    let (x, _) = blobs(n, d, 1, 6);
    let mut p = params(SvmType::OneClass, Kernel::Rbf { gamma: 0.5 });
    p.nu = 0.2;
    let f = fit(&x, n, d, &vec![1.0; n], &[], &[], &p).unwrap();
    let out = f
        .model(&p, d)
        .predict(&x, n)
        .iter()
        .filter(|&&v| v < 0.0)
        .count();
    // nu bounds the fraction of outliers from above (and of SVs from below).
    assert!(out as f64 <= 0.2 * n as f64 + 2.0, "{out}");
    assert!(f.support.len() as f64 >= 0.2 * n as f64 - 1.0);
}

/// The cache's deferred swaps (applied row by row at `flush`) leave every
/// row as libsvm's swap-at-once does: rows moved, values exchanged, and a
/// row long enough for the smaller index but not the larger dropped.
#[test]
fn deferred_cache_swaps_equal_swapping_at_once() {
    use super::kernel::Cache;
    let l = 12;
    let lens = [0, 3, 12, 7, 1, 12, 0, 5, 9, 2, 12, 4];
    let mut cache = Cache::new(l, 1 << 20);
    let mut reference: Vec<Vec<f32>> = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let row: Vec<f32> = (0..len).map(|j| (100 * i + j) as f32).collect();
        if len > 0 {
            cache.get(i, len).0.copy_from_slice(&row);
        }
        reference.push(row);
    }
    let mut s = 7u64;
    for _ in 0..40 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (a, b) = (
            ((s >> 33) % l as u64) as usize,
            ((s >> 13) % l as u64) as usize,
        );
        cache.swap(a, b);
        let (a, b) = (a.min(b), a.max(b));
        if a == b {
            continue;
        }
        reference.swap(a, b);
        for row in reference.iter_mut() {
            if row.len() > a {
                if row.len() > b {
                    row.swap(a, b);
                } else {
                    row.clear();
                }
            }
        }
    }
    cache.flush();
    for (i, row) in reference.iter().enumerate() {
        assert_eq!(cache.row(i), &row[..], "row {i}");
    }
    assert!(reference.iter().any(Vec::is_empty) && reference.iter().any(|r| r.len() == 12));
}

/// Predict's fused pieces give the bits of one whole matrix product (faer's)
/// followed by one four-lane dot product per class over all its support
/// vectors: classes spanning several pieces, and pieces cut at class ends.
#[test]
fn fused_prediction_equals_one_matrix_product_then_sums() {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Mat, MatRef, Par};

    let (d, m, n) = (7, 2900, 37);
    let (sv, _) = blobs(m, d, 3, 11);
    let (x, _) = blobs(n, d, 3, 12);
    let (coef, _) = blobs(2 * m, 1, 1, 13);
    // Class ends inside a piece and tails of 1 and 2 values past the lanes.
    let n_support = [701, 1502, 697];
    let intercept = [0.25, -0.5, 0.125];
    for kernel in [
        Kernel::Linear,
        Kernel::Rbf { gamma: 0.3 },
        Kernel::Poly {
            degree: 3,
            gamma: 0.2,
            coef0: 1.0,
        },
        Kernel::Sigmoid {
            gamma: 0.01,
            coef0: 0.5,
        },
    ] {
        for (svm_type, n_support, rows) in [
            (SvmType::CSvc, &n_support[..], 2),
            (SvmType::EpsilonSvr, &[2900, 2900][..], 1),
        ] {
            let model = SvmModelRef {
                svm_type,
                kernel,
                sv: &sv,
                d,
                n_support,
                dual_coef: &coef[..rows * m],
                intercept: &intercept[..rows * (rows + 1) / 2],
                prob_a: &[],
                prob_b: &[],
            };
            let got = model.raw_decision(&x, n);
            // The reference: all kernel values at once, then whole sums.
            let mut g = Mat::<f64>::zeros(m, n);
            matmul(
                g.as_mut(),
                Accum::Replace,
                MatRef::from_row_major_slice(&sv, m, d),
                MatRef::from_row_major_slice(&x, n, d).transpose(),
                1.0,
                Par::Seq,
            );
            let sq_sv: Vec<f64> = sv.chunks(d).map(kernel::sq_norm).collect();
            let mut starts = vec![0];
            for &c in n_support.iter().take(if rows == 1 { 1 } else { 3 }) {
                starts.push(starts.last().unwrap() + c as usize);
            }
            let width = model.n_decision();
            for r in 0..n {
                let mut kv: Vec<f64> = (0..m).map(|j| g[(j, r)]).collect();
                let sq_x = kernel::sq_norm(&x[r * d..(r + 1) * d]);
                kernel::apply_kernel(kernel, &mut kv, sq_x, &sq_sv);
                // The four-lane dot product of the unfused predict.
                let dot = |a: &[f64], b: &[f64]| {
                    let mut s = [0.0f64; 4];
                    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
                    let (ta, tb) = (ca.remainder(), cb.remainder());
                    for (x, y) in ca.zip(cb) {
                        for k in 0..4 {
                            s[k] += x[k] * y[k];
                        }
                    }
                    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
                    for (x, y) in ta.iter().zip(tb) {
                        t += x * y;
                    }
                    t
                };
                let sum = |c: usize, q: usize| {
                    let (a, b) = (starts[c], starts[c + 1]);
                    dot(&coef[q * m + a..q * m + b], &kv[a..b])
                };
                let want: Vec<f64> = if rows == 1 {
                    vec![sum(0, 0) + intercept[0]]
                } else {
                    let mut w = vec![];
                    for a in 0..3 {
                        for b in a + 1..3 {
                            w.push((sum(a, b - 1) + sum(b, a)) + intercept[w.len()]);
                        }
                    }
                    w
                };
                let row = &got[r * width..(r + 1) * width];
                let same = row
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kernel:?} {svm_type:?} row {r}: {row:?} != {want:?}");
            }
        }
    }
}
