//! Prediction on input with missing values (NaN), as scikit-learn's trees
//! do it: at each split a NaN goes to the child `missing_go_to_left` names.
//!
//! Trees grown on missing values store that flag per node (the format's
//! optional `missing_go_to_left`); trees grown without them send a NaN to
//! the child that received more training samples (scikit-learn's splitter:
//! `missing_go_to_left = n_left > n_right`), which `n_node_samples` gives.
//! Python predicts such input with scikit-learn's trees, so the sums here
//! follow scikit-learn's arithmetic (trees added in order, then divided by
//! their number), and the binary answers as Python does, to the bit.

use super::{ForestRef, TREE_LEAF};
use crate::error::Error;
use crate::Real;
use faer::MatRef;
use rayon::prelude::*;

/// The child a NaN goes to at every node: `stored` (one flag per node,
/// nonzero for left) when the trees were grown on missing values, else
/// left where the left child holds more training samples than the right.
/// Leaves get `false`. Fails when an array's length is not the node count;
/// run [`ForestRef::validate`] first (children are read by index).
pub fn missing_go_to_left(
    forest: &ForestRef<'_>,
    n_node_samples: &[i64],
    stored: Option<&[u8]>,
) -> crate::Result<Vec<bool>> {
    let n = forest.feature.len();
    let bad = |name: &str, len: usize| Error::InvalidParameter {
        name: "forest",
        reason: format!("{name} has {len} entries, expected {n}"),
    };
    if let Some(s) = stored {
        if s.len() != n {
            return Err(bad("missing_go_to_left", s.len()));
        }
        return Ok(s.iter().map(|&v| v != 0).collect());
    }
    if n_node_samples.len() != n {
        return Err(bad("n_node_samples", n_node_samples.len()));
    }
    let mut out = vec![false; n];
    for t in 0..forest.n_trees() {
        let base = forest.tree_offsets[t] as usize;
        let end = forest.tree_offsets[t + 1] as usize;
        for g in base..end {
            if forest.left[g] != TREE_LEAF {
                let (l, r) = (
                    base + forest.left[g] as usize,
                    base + forest.right[g] as usize,
                );
                out[g] = n_node_samples[l] > n_node_samples[r];
            }
        }
    }
    Ok(out)
}

/// The leaf (global node index) of one row in tree `t`, comparing the row's
/// float32 values with the float64 thresholds as scikit-learn does.
fn leaf_of(forest: &ForestRef<'_>, go_left: &[bool], t: usize, row: &[f32]) -> usize {
    let base = forest.tree_offsets[t] as usize;
    let mut g = base;
    while forest.left[g] != TREE_LEAF {
        let v = row[forest.feature[g] as usize];
        let left = if v.is_nan() {
            go_left[g]
        } else {
            f64::from(v) <= forest.threshold[g]
        };
        g = base
            + if left {
                forest.left[g]
            } else {
                forest.right[g]
            } as usize;
    }
    g
}

/// scikit-learn's forest prediction of `x`, which may hold NaN (infinity
/// is the caller's to refuse): the mean over trees of the leaf values,
/// row-major `n_rows × n_outputs × max_n_classes`, summed in tree order and
/// divided by the tree count. `go_left` comes from [`missing_go_to_left`].
/// Run [`ForestRef::validate`] first.
pub fn predict_forest_missing<T: Real>(
    forest: &ForestRef<'_>,
    go_left: &[bool],
    x: MatRef<'_, T>,
) -> crate::Result<Vec<f64>> {
    super::check_traversal(forest, None, x)?;
    if go_left.len() != forest.feature.len() {
        return Err(Error::InvalidParameter {
            name: "forest",
            reason: format!(
                "missing_go_to_left has {} entries, expected {}",
                go_left.len(),
                forest.feature.len()
            ),
        });
    }
    let (n, p) = (x.nrows(), x.ncols());
    let k = forest.value_stride();
    let nt = forest.n_trees();
    let mut out = vec![0.0; n * k];
    if k == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(k).enumerate().for_each(|(i, o)| {
        let row: Vec<f32> = (0..p).map(|j| x[(i, j)].to_f64() as f32).collect();
        for t in 0..nt {
            let g = leaf_of(forest, go_left, t, &row);
            for (o, &v) in o.iter_mut().zip(&forest.value[g * k..(g + 1) * k]) {
                *o += v;
            }
        }
        for o in o.iter_mut() {
            *o /= nt as f64;
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree: root splits feature 0 at 0.5; left leaf (3 samples) value
    /// 1, right leaf (5 samples) value 2.
    type Stump = (Vec<i64>, Vec<i32>, Vec<f64>, Vec<i32>, Vec<i32>, Vec<f64>);

    fn stump() -> Stump {
        (
            vec![0, 3],
            vec![0, -2, -2],
            vec![0.5, -2.0, -2.0],
            vec![1, -1, -1],
            vec![2, -1, -1],
            vec![0.0, 1.0, 2.0],
        )
    }

    /// The single-output forest of one [`stump`].
    fn forest(s: &Stump) -> ForestRef<'_> {
        let (off, feat, thr, left, right, value) = s;
        ForestRef {
            n_features: 1,
            n_outputs: 1,
            max_n_classes: 1,
            tree_offsets: off,
            feature: feat,
            threshold: thr,
            left,
            right,
            value,
        }
    }

    #[test]
    fn nan_goes_where_scikit_learn_sends_it() {
        let s = stump();
        let f = forest(&s);
        f.validate().unwrap();
        let x = [0.2, 0.9, f64::NAN];
        let xm = MatRef::from_row_major_slice(&x, 3, 1);
        // Grown without missing values: to the child with more samples.
        let counts = missing_go_to_left(&f, &[8, 3, 5], None).unwrap();
        assert_eq!(counts, [false, false, false]);
        assert_eq!(
            predict_forest_missing(&f, &counts, xm).unwrap(),
            [1.0, 2.0, 2.0]
        );
        let counts = missing_go_to_left(&f, &[8, 5, 3], None).unwrap();
        assert_eq!(
            predict_forest_missing(&f, &counts, xm).unwrap(),
            [1.0, 2.0, 1.0]
        );
        // Stored flags win over the counts.
        let stored = missing_go_to_left(&f, &[8, 5, 3], Some(&[0, 0, 0])).unwrap();
        assert_eq!(
            predict_forest_missing(&f, &stored, xm).unwrap(),
            [1.0, 2.0, 2.0]
        );
        assert!(missing_go_to_left(&f, &[8, 5], None).is_err());
        assert!(missing_go_to_left(&f, &[8, 5, 3], Some(&[1])).is_err());
        assert!(predict_forest_missing(&f, &[true], xm).is_err());
    }

    #[test]
    fn finite_rows_agree_with_the_fast_traversal() {
        let s = stump();
        let f = forest(&s);
        // 0.5 as float32 is 0.5: on the threshold goes left, as the fast path.
        let x = [0.5, 0.5000001, -1e30, 1e30];
        let xm = MatRef::from_row_major_slice(&x, 4, 1);
        let go = missing_go_to_left(&f, &[8, 3, 5], None).unwrap();
        assert_eq!(
            predict_forest_missing(&f, &go, xm).unwrap(),
            super::super::predict_forest(&f, xm).unwrap()
        );
    }
}
