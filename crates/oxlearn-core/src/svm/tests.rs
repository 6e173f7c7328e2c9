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

fn model<'a>(f: &'a SvmFit, p: &SvmParams, d: usize) -> SvmModelRef<'a> {
    SvmModelRef {
        svm_type: p.svm_type,
        kernel: p.kernel,
        sv: &f.support_vectors,
        d,
        n_support: &f.n_support,
        dual_coef: &f.dual_coef,
        intercept: &f.intercept,
        prob_a: &f.prob_a,
        prob_b: &f.prob_b,
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
        let m = model(&f, &p, d);
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
    let (ma, mb) = (model(&a, &p, d), model(&b, &tiny, d));
    let (da, db) = (ma.raw_decision(&x, n), mb.raw_decision(&x, n));
    for (u, v) in da.iter().zip(&db) {
        assert!((u - v).abs() < 1e-2, "{u} vs {v}");
    }
    assert_eq!(ma.predict(&x, n), mb.predict(&x, n));
}

#[test]
fn prediction_is_the_same_for_any_thread_count() {
    let (d, n) = (5, 700);
    let (x, y) = blobs(n, d, 3, 3);
    let p = params(SvmType::NuSvc, Kernel::Rbf { gamma: 0.2 });
    let f = fit(&x, n, d, &y, &[], &[], &p).unwrap();
    let m = model(&f, &p, d);
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
    let pred = model(&f, &p, 1).predict(&x, n);
    for (a, b) in pred.iter().zip(&y) {
        assert!((a - b).abs() <= p.epsilon + 1e-3, "{a} vs {b}");
    }
    p.svm_type = SvmType::NuSvr;
    let f = fit(&x, n, 1, &y, &[], &[], &p).unwrap();
    let pred = model(&f, &p, 1).predict(&x, n);
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
    let m = model(&f, &p, d);
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
    let out = model(&f, &p, d)
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
