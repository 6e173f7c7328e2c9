//! Out-of-bag predictions of a bootstrapped forest: each training row is
//! predicted by the trees whose bootstrap sample left it out (scikit-learn's
//! `oob_score`). A tree's in-bag rows are recomputed from its seed with the
//! same draws that grew it ([`super::rng::bootstrap_counts`]).

use super::rng::bootstrap_counts;
use super::{bins, ForestRef, TREE_LEAF};
use crate::error::Error;
use crate::linalg::ChunkPlan;
use crate::Real;
use faer::MatRef;
use rayon::prelude::*;

/// Per tree, one bit per row: set when the row is in the tree's bootstrap sample.
fn in_bag_bits(seeds: &[u64], n: usize, n_bootstrap: usize) -> Vec<Vec<u64>> {
    seeds
        .par_iter()
        .map(|&seed| {
            let counts = bootstrap_counts(seed, n, n_bootstrap);
            let mut bits = vec![0u64; n.div_ceil(64)];
            for (i, &c) in counts.iter().enumerate() {
                if c > 0 {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            bits
        })
        .collect()
}

/// Out-of-bag predictions of the training rows `x` (`n_rows ×
/// value_stride`, row-major) and, per row, the number of trees that left it
/// out. A row's prediction is the mean of those trees' leaf values (zeros
/// when no tree left it out). Trees are summed in tree order: the result is
/// the same for any thread count.
///
/// `seeds` are the trees' seeds and `n_bootstrap` the draws per tree, as
/// the forest was grown with ([`super::ForestParams`]); `forest` must have
/// passed [`ForestRef::validate`].
pub fn oob_predict<T: Real>(
    forest: &ForestRef<'_>,
    x: MatRef<'_, T>,
    seeds: &[u64],
    n_bootstrap: usize,
) -> crate::Result<(Vec<f64>, Vec<u32>)> {
    if x.ncols() != forest.n_features {
        return Err(Error::ShapeMismatch {
            what: "X features (the forest was fitted with a different number)".into(),
            expected: forest.n_features,
            got: x.ncols(),
        });
    }
    let nt = forest.n_trees();
    if seeds.len() != nt {
        return Err(Error::ShapeMismatch {
            what: "tree seeds (one per tree)".into(),
            expected: nt,
            got: seeds.len(),
        });
    }
    let (n, p) = (x.nrows(), x.ncols());
    let k = forest.value_stride();
    let in_bag = in_bag_bits(seeds, n, n_bootstrap);
    let plan = ChunkPlan::new(n, p, 256);
    let chunks: Vec<(Vec<f64>, Vec<u32>)> = (0..plan.n_chunks())
        .into_par_iter()
        .map(|c| {
            let r = plan.range(c);
            let mut out = vec![0.0; r.len() * k];
            let mut counts = vec![0u32; r.len()];
            let mut row = vec![0.0; p];
            for (li, i) in r.enumerate() {
                for j in 0..p {
                    row[j] = bins::to_tree_value(x[(i, j)]);
                }
                for t in 0..nt {
                    if in_bag[t][i / 64] >> (i % 64) & 1 == 1 {
                        continue;
                    }
                    let base = forest.tree_offsets[t] as usize;
                    let leaf = base + leaf_of(forest, base, &row);
                    for (o, &v) in out[li * k..(li + 1) * k]
                        .iter_mut()
                        .zip(&forest.value[leaf * k..(leaf + 1) * k])
                    {
                        *o += v;
                    }
                    counts[li] += 1;
                }
                if counts[li] > 0 {
                    let m = counts[li] as f64;
                    for o in &mut out[li * k..(li + 1) * k] {
                        *o /= m;
                    }
                }
            }
            (out, counts)
        })
        .collect();
    let mut out = Vec::with_capacity(n * k);
    let mut counts = Vec::with_capacity(n);
    for (o, c) in chunks {
        out.extend(o);
        counts.extend(c);
    }
    Ok((out, counts))
}

/// The leaf (local to the tree starting at `base`) that `row` reaches.
fn leaf_of(f: &ForestRef<'_>, base: usize, row: &[f64]) -> usize {
    let mut node = 0usize;
    loop {
        let g = base + node;
        if f.left[g] == TREE_LEAF {
            return node;
        }
        // `validate` guarantees feature < n_features and children in range.
        node = if row[f.feature[g] as usize] <= f.threshold[g] {
            f.left[g] as usize
        } else {
            f.right[g] as usize
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::{apply_forest, fit_forest, Criterion, ForestParams, Targets};
    use super::*;
    use crate::ensemble::rng::Rng;
    use faer::Mat;

    fn data(n: usize) -> (Mat<f64>, Vec<u32>) {
        let mut rng = Rng::new(5);
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let x = Mat::from_fn(n, 4, |_, _| u());
        let y = (0..n).map(|i| u32::from(x[(i, 0)] > 0.1)).collect();
        (x, y)
    }

    fn params(n_trees: usize, n_bootstrap: usize) -> ForestParams {
        ForestParams {
            criterion: Criterion::Gini,
            max_depth: Some(6),
            min_samples_split: 2,
            min_samples_leaf: 1,
            min_weight_fraction_leaf: 0.0,
            max_features: 2,
            max_leaf_nodes: None,
            min_impurity_decrease: 0.0,
            bootstrap: true,
            n_bootstrap,
            extra: false,
            max_bins: 256,
            seeds: (0..n_trees as u64).map(|t| 77 + 13 * t).collect(),
        }
    }

    #[test]
    fn out_of_bag_rows_are_those_the_tree_did_not_grow_on() {
        let (x, y) = data(300);
        let p = params(12, 240);
        let t = Targets::Classes {
            y: &y,
            n_classes: &[2],
        };
        let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
        let fr = forest.view();
        // The root of each tree counts its distinct in-bag rows.
        for (ti, &seed) in p.seeds.iter().enumerate() {
            let counts = bootstrap_counts(seed, 300, 240);
            let root = forest.tree_offsets[ti] as usize;
            let in_bag = counts.iter().filter(|&&c| c > 0).count() as i64;
            assert_eq!(forest.n_node_samples[root], in_bag, "tree {ti}");
        }
        let (oob, n_oob) = oob_predict(&fr, x.as_ref(), &p.seeds, 240).unwrap();
        // The mean leaf value over exactly the trees that left the row out.
        let leaves = apply_forest(&fr, x.as_ref()).unwrap();
        let bags: Vec<Vec<u32>> = p
            .seeds
            .iter()
            .map(|&s| bootstrap_counts(s, 300, 240))
            .collect();
        let mut some_without = false;
        for i in 0..300 {
            let mut sum = [0.0; 2];
            let mut m = 0;
            for ti in 0..12 {
                if bags[ti][i] == 0 {
                    let g = forest.tree_offsets[ti] as usize + leaves[i * 12 + ti] as usize;
                    sum[0] += forest.value[2 * g];
                    sum[1] += forest.value[2 * g + 1];
                    m += 1;
                }
            }
            assert_eq!(n_oob[i], m);
            some_without |= m == 0;
            if m > 0 {
                assert_eq!(oob[2 * i], sum[0] / m as f64);
                assert_eq!(oob[2 * i + 1], sum[1] / m as f64);
            } else {
                assert_eq!(&oob[2 * i..2 * i + 2], &[0.0, 0.0]);
            }
        }
        let _ = some_without;
        // Same bits for any thread count.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| oob_predict(&fr, x.as_ref(), &p.seeds, 240).unwrap());
        assert_eq!(one, (oob, n_oob));
    }

    #[test]
    fn errors_name_the_problem() {
        let (x, y) = data(50);
        let p = params(3, 50);
        let t = Targets::Classes {
            y: &y,
            n_classes: &[2],
        };
        let (forest, _) = fit_forest(x.as_ref(), t, None, &p).unwrap();
        let err = oob_predict(&forest.view(), x.as_ref(), &p.seeds[..2], 50).unwrap_err();
        assert!(err.to_string().contains("seeds"), "{err}");
        let x3 = Mat::<f64>::zeros(5, 3);
        let err = oob_predict(&forest.view(), x3.as_ref(), &p.seeds, 50).unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
    }
}
