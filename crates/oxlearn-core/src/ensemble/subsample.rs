//! `class_weight='balanced_subsample'`: each tree weighs the classes of its
//! own bootstrap sample (scikit-learn's `compute_sample_weight("balanced",
//! y, indices=bootstrap)`), so every tree is grown with its own weights.

use super::rng::bootstrap_counts;
use super::{bin_matrix, fit_forest_binned, Forest, ForestParams, Targets};
use crate::error::Error;
use crate::Real;
use faer::MatRef;
use rayon::prelude::*;

/// Balanced class weights of one bootstrap sample, per row: for each
/// output, `n_bootstrap / (classes drawn × draws of the row's class)`, 0 for
/// a class the sample does not contain; multiplied over outputs.
pub(crate) fn subsample_class_weights(y: &[u32], n_classes: &[usize], counts: &[u32]) -> Vec<f64> {
    let n = counts.len();
    let n_outputs = n_classes.len();
    let mut w = vec![1.0; n];
    for (k, &nc) in n_classes.iter().enumerate() {
        let mut drawn = vec![0u64; nc];
        for i in 0..n {
            drawn[y[i * n_outputs + k] as usize] += u64::from(counts[i]);
        }
        let total: u64 = drawn.iter().sum();
        let present = drawn.iter().filter(|&&c| c > 0).count() as f64;
        for i in 0..n {
            let c = drawn[y[i * n_outputs + k] as usize];
            w[i] *= if c > 0 {
                total as f64 / (present * c as f64)
            } else {
                0.0
            };
        }
    }
    w
}

/// [`super::fit_forest`] with `class_weight='balanced_subsample'`
/// (classification with bootstrap only): the features are binned once, then
/// each tree is grown from its seed with `sample_weight` times its own
/// sample's balanced class weights. The trees equal those the shared path
/// would grow with these weights, so the forest is thread-count independent.
pub fn fit_forest_balanced_subsample<T: Real>(
    x: MatRef<'_, T>,
    targets: Targets<'_>,
    sample_weight: Option<&[f64]>,
    params: &ForestParams,
) -> crate::Result<(Forest, Vec<f64>)> {
    let (y, n_classes) = match targets {
        Targets::Classes { y, n_classes } => (y, n_classes),
        Targets::Values { .. } => {
            return Err(Error::InvalidParameter {
                name: "class_weight",
                reason: "'balanced_subsample' needs class labels (a classifier)".into(),
            })
        }
    };
    if !params.bootstrap {
        return Err(Error::InvalidParameter {
            name: "class_weight",
            reason: "'balanced_subsample' weighs each bootstrap sample; bootstrap is off".into(),
        });
    }
    let n = x.nrows();
    if let Some(w) = sample_weight {
        if w.len() != n {
            return Err(Error::ShapeMismatch {
                what: "sample_weight length".into(),
                expected: n,
                got: w.len(),
            });
        }
    }
    if y.len() != n * n_classes.len() || n_classes.is_empty() {
        return Err(Error::ShapeMismatch {
            what: "encoded y entries".into(),
            expected: n * n_classes.len().max(1),
            got: y.len(),
        });
    }
    if let Some((i, &c)) = y
        .iter()
        .enumerate()
        .find(|&(i, &c)| c as usize >= n_classes[i % n_classes.len()])
    {
        return Err(Error::InvalidParameter {
            name: "y",
            reason: format!("class index {c} at entry {i} exceeds the class count"),
        });
    }
    let binned = bin_matrix(x, sample_weight, params.max_bins)?;
    let trees: Vec<crate::Result<(Forest, Vec<f64>)>> = params
        .seeds
        .par_iter()
        .map(|&seed| {
            // The same draws the tree's growth makes from this seed.
            let counts = bootstrap_counts(seed, n, params.n_bootstrap);
            let mut w = subsample_class_weights(y, n_classes, &counts);
            if let Some(sw) = sample_weight {
                for (a, b) in w.iter_mut().zip(sw) {
                    *a *= b;
                }
            }
            let one = ForestParams {
                seeds: vec![seed],
                ..params.clone()
            };
            fit_forest_binned(&binned, targets, Some(&w), &one)
        })
        .collect();
    let mut forest: Option<Forest> = None;
    let mut importances = vec![0.0; binned.edges.len()];
    for t in trees {
        let (tree, imp) = t?;
        // A one-tree forest's importances are that tree's (normalised).
        for (a, b) in importances.iter_mut().zip(&imp) {
            *a += b;
        }
        match forest.as_mut() {
            None => forest = Some(tree),
            Some(f) => append(f, tree),
        }
    }
    let forest = forest.ok_or(Error::InvalidParameter {
        name: "n_estimators",
        reason: "at least one tree is required".into(),
    })?;
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        for a in &mut importances {
            *a /= total;
        }
    }
    Ok((forest, importances))
}

/// Appends the trees of `b` to `a` (same features, outputs and classes).
fn append(a: &mut Forest, b: Forest) {
    let base = a.feature.len() as i64;
    a.tree_offsets
        .extend(b.tree_offsets.iter().skip(1).map(|&o| o + base));
    a.feature.extend(b.feature);
    a.threshold.extend(b.threshold);
    a.left.extend(b.left);
    a.right.extend(b.right);
    a.impurity.extend(b.impurity);
    a.n_node_samples.extend(b.n_node_samples);
    a.weighted_n_node_samples.extend(b.weighted_n_node_samples);
    a.value.extend(b.value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_balance_the_drawn_classes() {
        // Rows 0..4 of class 0, row 4 of class 1; draws: class 0 six times, class 1 twice.
        let y = [0, 0, 0, 0, 1];
        let counts = [2, 1, 3, 0, 2];
        let w = subsample_class_weights(&y, &[2], &counts);
        // 8 draws, 2 classes: 8 / (2 * 6) and 8 / (2 * 2).
        assert_eq!(w, vec![8.0 / 12.0, 8.0 / 12.0, 8.0 / 12.0, 8.0 / 12.0, 2.0]);
        // A class the sample misses weighs 0; two outputs multiply.
        let w = subsample_class_weights(&[0, 1, 1, 0], &[2, 2], &[1, 0]);
        assert_eq!(w, vec![1.0, 0.0]);
    }
}

#[cfg(test)]
mod forest_tests {
    use super::super::{Criterion, ForestParams, Targets};
    use super::*;
    use crate::ensemble::rng::Rng;
    use faer::Mat;

    #[test]
    fn each_tree_is_grown_with_its_sample_weights() {
        // Imbalanced classes: 90% class 0.
        let mut rng = Rng::new(3);
        let x = Mat::from_fn(400, 3, |_, _| (rng.below(1000) as f64) / 1000.0);
        let y: Vec<u32> = (0..400).map(|i| u32::from(x[(i, 0)] > 0.9)).collect();
        let params = ForestParams {
            criterion: Criterion::Gini,
            max_depth: Some(3),
            min_samples_split: 2,
            min_samples_leaf: 1,
            min_weight_fraction_leaf: 0.0,
            max_features: 3,
            max_leaf_nodes: None,
            min_impurity_decrease: 0.0,
            bootstrap: true,
            n_bootstrap: 400,
            extra: false,
            max_bins: 256,
            seeds: vec![5, 6, 7, 8],
        };
        let t = Targets::Classes {
            y: &y,
            n_classes: &[2],
        };
        let (forest, imp) = fit_forest_balanced_subsample(x.as_ref(), t, None, &params).unwrap();
        forest.validate().unwrap();
        assert_eq!(forest.n_trees(), 4);
        assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Each tree equals the one the shared path grows with that tree's weights.
        for (ti, &seed) in params.seeds.iter().enumerate() {
            let counts = bootstrap_counts(seed, 400, 400);
            let w = subsample_class_weights(&y, &[2], &counts);
            let one = ForestParams {
                seeds: vec![seed],
                ..params.clone()
            };
            let (alone, _) = super::super::fit_forest(x.as_ref(), t, Some(&w), &one).unwrap();
            let (a, b) = (
                forest.tree_offsets[ti] as usize,
                forest.tree_offsets[ti + 1] as usize,
            );
            assert_eq!(&forest.threshold[a..b], &alone.threshold[..]);
            assert_eq!(&forest.value[2 * a..2 * b], &alone.value[..]);
            // Balanced: the root's weighted class fractions are equal.
            assert!((alone.value[0] - 0.5).abs() < 1e-12, "{}", alone.value[0]);
        }
        let reg = Targets::Values {
            y: &[0.0; 400],
            n_outputs: 1,
        };
        assert!(fit_forest_balanced_subsample(x.as_ref(), reg, None, &params).is_err());
    }
}
