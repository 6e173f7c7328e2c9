use super::*;
use faer::Mat;

fn params(criterion: Criterion, n_trees: usize, max_features: usize) -> ForestParams {
    ForestParams {
        criterion,
        max_depth: None,
        min_samples_split: 2,
        min_samples_leaf: 1,
        min_weight_fraction_leaf: 0.0,
        max_features,
        max_leaf_nodes: None,
        min_impurity_decrease: 0.0,
        bootstrap: true,
        n_bootstrap: 0,
        extra: false,
        max_bins: 256,
        seeds: (0..n_trees as u64).map(|t| 1000 + t).collect(),
    }
}

/// Two noisy classes separated by x0 + x1 > 0, with three noise features.
fn blobs(n: usize) -> (Mat<f64>, Vec<u32>) {
    let mut rng = Rng::new(42);
    let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    let x = Mat::from_fn(n, 5, |_, _| u());
    let y = (0..n)
        .map(|i| u32::from(x[(i, 0)] + x[(i, 1)] > 0.0))
        .collect();
    (x, y)
}

#[test]
fn classifier_learns_and_is_valid() {
    let (x, y) = blobs(2000);
    let mut p = params(Criterion::Gini, 20, 2);
    p.n_bootstrap = 2000;
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    let (forest, imp) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    forest.validate().unwrap();
    assert_eq!(forest.n_trees(), 20);
    let (xt, yt) = {
        let mut rng = Rng::new(9);
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let x = Mat::from_fn(500, 5, |_, _| u());
        let y: Vec<u32> = (0..500)
            .map(|i| u32::from(x[(i, 0)] + x[(i, 1)] > 0.0))
            .collect();
        (x, y)
    };
    let proba = predict_forest(&forest.view(), xt.as_ref()).unwrap();
    let acc = (0..500)
        .filter(|&i| u32::from(proba[2 * i + 1] > proba[2 * i]) == yt[i])
        .count() as f64
        / 500.0;
    assert!(acc > 0.9, "accuracy {acc}");
    for i in 0..500 {
        assert!((proba[2 * i] + proba[2 * i + 1] - 1.0).abs() < 1e-12);
    }
    // The two informative features carry most of the importance.
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(imp[0] + imp[1] > 0.6, "{imp:?}");
}

#[test]
fn same_forest_whatever_the_thread_count() {
    let (x, y) = blobs(1500);
    for extra in [false, true] {
        let mut p = params(Criterion::Entropy, 8, 3);
        p.n_bootstrap = 1500;
        p.extra = extra;
        let t = Targets::Classes {
            y: &y,
            n_classes: &[2],
        };
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (f, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
                let pr = predict_forest(&f.view(), x.as_ref()).unwrap();
                (f, pr)
            })
        };
        let (f1, p1) = run(1);
        let (f3, p3) = run(3);
        assert_eq!(f1, f3);
        assert_eq!(
            p1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            p3.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn regression_fits_training_data_without_bootstrap() {
    let n = 400;
    let x = Mat::from_fn(n, 2, |i, j| ((i * (j + 3)) % 37) as f64);
    let y: Vec<f64> = (0..n).map(|i| x[(i, 0)] * 2.0 - x[(i, 1)]).collect();
    let mut p = params(Criterion::SquaredError, 3, 2);
    p.bootstrap = false;
    let t = Targets::Values {
        y: &y,
        n_outputs: 1,
    };
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    forest.validate().unwrap();
    let pred = predict_forest(&forest.view(), x.as_ref()).unwrap();
    for i in 0..n {
        assert!(
            (pred[i] - y[i]).abs() < 1e-9,
            "row {i}: {} vs {}",
            pred[i],
            y[i]
        );
    }
}

#[test]
fn limits_are_respected() {
    let (x, y) = blobs(1000);
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    let mut p = params(Criterion::Gini, 4, 5);
    p.n_bootstrap = 1000;
    p.max_leaf_nodes = Some(7);
    p.min_samples_leaf = 5;
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    for tr in 0..4 {
        let (a, b) = (
            forest.tree_offsets[tr] as usize,
            forest.tree_offsets[tr + 1] as usize,
        );
        let leaves = (a..b).filter(|&g| forest.left[g] == TREE_LEAF).count();
        assert_eq!(leaves, 7);
        assert_eq!(b - a, 13);
        for g in a..b {
            assert!(forest.n_node_samples[g] >= 5);
        }
    }
    p.max_leaf_nodes = None;
    p.max_depth = Some(2);
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    assert!(forest.n_trees() == 4 && forest.feature.len() <= 4 * 7);
    // A huge min_impurity_decrease leaves single-leaf trees.
    p.min_impurity_decrease = 10.0;
    let (forest, imp) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    assert_eq!(forest.feature.len(), 4);
    assert!(imp.iter().all(|&v| v == 0.0));
}

#[test]
fn multi_output_classification_values_have_padded_classes() {
    let (x, y0) = blobs(600);
    let y: Vec<u32> = y0
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| [a, (i % 3) as u32])
        .collect();
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2, 3],
    };
    let mut p = params(Criterion::Gini, 5, 5);
    p.n_bootstrap = 600;
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    assert_eq!(forest.max_n_classes, 3);
    assert_eq!(forest.value.len(), forest.feature.len() * 6);
    // Output 0 has two classes: its third slot is always 0.
    for node in 0..forest.feature.len() {
        assert_eq!(forest.value[node * 6 + 2], 0.0);
    }
}

#[test]
fn validate_rejects_bad_indices() {
    let (x, y) = blobs(300);
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    let mut p = params(Criterion::Gini, 2, 2);
    p.n_bootstrap = 300;
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    let mut f = forest.clone();
    f.left[0] = 10_000;
    assert!(f.validate().is_err());
    let mut f = forest.clone();
    f.left[0] = 0; // a cycle
    assert!(f.validate().is_err());
    let mut f = forest.clone();
    f.feature[0] = 5;
    assert!(f.validate().is_err());
    let mut f = forest.clone();
    f.tree_offsets[1] = 0;
    assert!(f.validate().is_err());
    let mut f = forest;
    f.value.pop();
    assert!(f.validate().is_err());
}

#[test]
fn errors_name_the_problem() {
    let (x, y) = blobs(50);
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    let mut p = params(Criterion::Gini, 2, 9);
    p.n_bootstrap = 50;
    assert!(matches!(
        fit_forest(x.as_ref(), t, None, &p),
        Err(Error::InvalidParameter {
            name: "max_features",
            ..
        })
    ));
    p.max_features = 2;
    let w = vec![-1.0; 50];
    assert!(matches!(
        fit_forest(x.as_ref(), t, Some(&w), &p),
        Err(Error::InvalidSampleWeight { index: 0, .. })
    ));
    let (f, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    let x3 = Mat::<f64>::zeros(2, 3);
    assert!(predict_forest(&f.view(), x3.as_ref()).is_err());
}

#[test]
fn float32_thresholds_compare_as_the_float64_ones() {
    let mut rng = Rng::new(3);
    let mut ts = vec![0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, f64::INFINITY];
    for _ in 0..10_000 {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        ts.push(u * 10f64.powi((rng.below(20) as i32) - 10));
    }
    for &t in &ts {
        let r = f32_at_most(t);
        // The largest float32 not above t: the next one up is above it.
        assert!(r as f64 <= t, "{t}: {r}");
        let up = if r == f32::MAX {
            f32::INFINITY
        } else if r >= 0.0 {
            f32::from_bits(if r == 0.0 { 1 } else { r.to_bits() + 1 })
        } else {
            f32::from_bits(r.to_bits() - 1)
        };
        assert!(up as f64 > t || t == f64::INFINITY, "{t}: {r} {up}");
    }
}

/// Leaf of one row by the plain float64 rule `x <= threshold`.
fn reference_leaf(f: &Forest, t: usize, row: &[f64]) -> usize {
    let base = f.tree_offsets[t] as usize;
    let mut node = 0usize;
    while f.left[base + node] != TREE_LEAF {
        let g = base + node;
        let x = bins::to_tree_value(row[f.feature[g] as usize]);
        node = if x <= f.threshold[g] {
            f.left[g] as usize
        } else {
            f.right[g] as usize
        };
    }
    node
}

#[test]
fn batched_traversal_matches_the_plain_rule() {
    let (x, y) = blobs(1200);
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    for extra in [false, true] {
        let mut p = params(Criterion::Gini, 6, 2);
        p.n_bootstrap = 1200;
        p.extra = extra;
        let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
        // Rows on thresholds exactly, just around them, and at random; 37 rows
        // (not a multiple of the lanes) and 5 (fewer than the lanes).
        let thr: Vec<(usize, f64)> = (0..forest.feature.len())
            .filter(|&g| forest.left[g] != TREE_LEAF)
            .map(|g| (forest.feature[g] as usize, forest.threshold[g]))
            .collect();
        for n in [37usize, 5] {
            let xt = Mat::from_fn(n, 5, |i, j| {
                let (f, v) = thr[(i * 7 + j * 3) % thr.len()];
                match (i + j) % 4 {
                    0 if f == j => v,
                    1 => v + 1e-9,
                    2 => v - 1e-9,
                    _ => x[((i * 13 + j) % 1200, j)],
                }
            });
            let leaves = apply_forest(&forest.view(), xt.as_ref()).unwrap();
            let proba = predict_forest(&forest.view(), xt.as_ref()).unwrap();
            for i in 0..n {
                let row: Vec<f64> = (0..5).map(|j| xt[(i, j)]).collect();
                let mut want = [0.0; 2];
                for tr in 0..forest.n_trees() {
                    let leaf = reference_leaf(&forest, tr, &row);
                    assert_eq!(leaves[i * forest.n_trees() + tr], leaf as i64);
                    let g = forest.tree_offsets[tr] as usize + leaf;
                    want[0] += forest.value[2 * g];
                    want[1] += forest.value[2 * g + 1];
                }
                for c in 0..2 {
                    let w = want[c] * (1.0 / forest.n_trees() as f64);
                    assert_eq!(proba[2 * i + c].to_bits(), w.to_bits());
                }
            }
        }
    }
}

#[test]
fn few_trees_split_rows_and_agree_with_the_plain_rule() {
    // One tree and 5000 rows: the rows are split over 4 tasks with one
    // thread, 5 with four; leaves and values must not depend on that.
    let (x, y) = blobs(5000);
    let t = Targets::Classes {
        y: &y,
        n_classes: &[2],
    };
    let mut p = params(Criterion::Gini, 1, 2);
    p.n_bootstrap = 5000;
    let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            (
                apply_forest(&forest.view(), x.as_ref()).unwrap(),
                predict_forest(&forest.view(), x.as_ref()).unwrap(),
            )
        })
    };
    let (a1, p1) = run(1);
    let (a4, p4) = run(4);
    assert_eq!(a1, a4);
    assert_eq!(
        p1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        p4.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    for i in 0..5000 {
        let row: Vec<f64> = (0..5).map(|j| x[(i, j)]).collect();
        let leaf = reference_leaf(&forest, 0, &row);
        assert_eq!(a4[i], leaf as i64);
        assert_eq!(p4[2 * i].to_bits(), forest.value[2 * leaf].to_bits());
    }
}

/// Mean of the trees' leaf values, one row and one tree at a time on the
/// forest's own arrays: summed in tree order from 0, times 1/n_trees.
fn reference_predict(f: &Forest, x: MatRef<'_, f64>) -> Vec<f64> {
    let k = f.value_stride();
    let mut out = vec![0.0; x.nrows() * k];
    for i in 0..x.nrows() {
        let row: Vec<f64> = (0..x.ncols()).map(|j| x[(i, j)]).collect();
        for t in 0..f.n_trees() {
            let g = f.tree_offsets[t] as usize + reference_leaf(f, t, &row);
            for c in 0..k {
                out[i * k + c] += f.value[g * k + c];
            }
        }
    }
    let inv = 1.0 / f.n_trees() as f64;
    out.iter_mut().for_each(|o| *o *= inv);
    out
}

#[test]
fn chunked_traversal_is_bit_identical_to_one_row_at_a_time() {
    // Row counts around the lanes (16), blocks of 1 row, 700 rows (which
    // divides no count) and the default; deep trees, stumps, one tree; 1, 2
    // and 6 values per leaf (6: three classes, two outputs); column- and
    // row-major X; one and three threads (trees, and rows of a tree, split
    // differently).
    let (x, y) = blobs(9000);
    let y3: Vec<u32> = (0..9000)
        .flat_map(|i| [y[i] + u32::from(x[(i, 2)] > 0.5), y[i]])
        .collect();
    let yv: Vec<f64> = (0..9000).map(|i| x[(i, 0)] * 3.0 - x[(i, 3)]).collect();
    let mut forests = vec![];
    for (n_trees, depth) in [(7, None), (5, Some(1)), (1, None)] {
        let mut p = params(Criterion::Gini, n_trees, 2);
        p.n_bootstrap = 3000;
        p.max_depth = depth;
        let t = Targets::Classes {
            y: &y[..3000],
            n_classes: &[2],
        };
        forests.push(fit_forest(x.subrows(0, 3000), t, None, &p).unwrap().0);
    }
    let mut p = params(Criterion::Gini, 3, 3);
    p.n_bootstrap = 3000;
    let t = Targets::Classes {
        y: &y3[..6000],
        n_classes: &[3, 2],
    };
    forests.push(fit_forest(x.subrows(0, 3000), t, None, &p).unwrap().0);
    let mut p = params(Criterion::SquaredError, 4, 5);
    p.n_bootstrap = 3000;
    let t = Targets::Values {
        y: &yv[..3000],
        n_outputs: 1,
    };
    forests.push(fit_forest(x.subrows(0, 3000), t, None, &p).unwrap().0);
    assert_eq!(
        forests.iter().map(|f| f.value_stride()).collect::<Vec<_>>(),
        [2, 2, 2, 6, 1]
    );
    for f in &forests {
        let packed = PackedForest::new(&f.view()).unwrap();
        for n in [1usize, 15, 16, 17, 1000, 9000] {
            let xs = x.subrows(9000 - n, n);
            let want: Vec<u64> = reference_predict(f, xs)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            let row_major: Vec<f64> = (0..n)
                .flat_map(|i| (0..5).map(move |j| xs[(i, j)]))
                .collect();
            let xr = MatRef::from_row_major_slice(&row_major, n, 5);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                for (xv, pk, bs) in [
                    (xs, None, 0),
                    (xr, Some(&packed), 0),
                    (xr, Some(&packed), 700),
                    (xs, Some(&packed), 1),
                ] {
                    if bs == 1 && n > 17 {
                        continue;
                    }
                    let (got, leaves) = pool.install(|| match bs {
                        0 => (
                            predict_forest_with(&f.view(), pk, xv).unwrap(),
                            apply_forest_with(&f.view(), pk, xv).unwrap(),
                        ),
                        _ => (
                            predict_blocks(&f.view(), &packed, xv, bs),
                            apply_blocks(&packed, xv, bs),
                        ),
                    });
                    let got: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
                    assert!(got == want, "{n} rows, {threads} threads, blocks of {bs}");
                    for i in (0..n).step_by(7) {
                        let row: Vec<f64> = (0..5).map(|j| xv[(i, j)]).collect();
                        for t in 0..f.n_trees() {
                            let leaf = reference_leaf(f, t, &row) as i64;
                            assert_eq!(leaves[i * f.n_trees() + t], leaf);
                        }
                    }
                }
            }
        }
    }
}
