//! Quantile binning: each feature's values are mapped once per fit to at most
//! `max_bins` u8 bins whose edges are real midpoints between distinct values,
//! so a split "bin <= k" is the split "x <= edges[k]" on raw X at prediction.

use crate::error::{Error, NonFiniteKind};
use crate::Real;
use faer::MatRef;
use rayon::prelude::*;

/// The value trees compare: X rounded to float32, as scikit-learn's trees
/// see it, so the thresholds and the traversal agree with a scikit-learn tree
/// built from the same arrays.
#[inline(always)]
pub fn to_tree_value<T: Real>(v: T) -> f64 {
    v.to_f64() as f32 as f64
}

/// Binned training data, column-major, with the real edge of every bin.
#[derive(Debug, Clone)]
pub struct Binned {
    /// Rows.
    pub n_rows: usize,
    /// `codes[f * n_rows + i]`: bin of X[i, f].
    pub codes: Vec<u8>,
    /// `edges[f][k]`: x <= edges[f][k] exactly when the bin is <= k.
    pub edges: Vec<Vec<f64>>,
}

/// Midpoint of `a < b` that stays strictly below `b` (as scikit-learn's).
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a / 2.0 + b / 2.0;
    if m >= b || !m.is_finite() {
        a
    } else {
        m
    }
}

/// The edges of one feature from its values: midpoints between distinct
/// values, at most `max_bins - 1`, placed at quantiles of the weighted-by-count
/// distribution when there are more distinct values than bins.
fn feature_edges(mut v: Vec<f64>, max_bins: usize) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &x in &v {
        match distinct.last_mut() {
            Some((d, c)) if *d == x => *c += 1,
            _ => distinct.push((x, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| midpoint(w[0].0, w[1].0))
            .collect();
    }
    let mut edges = Vec::with_capacity(max_bins - 1);
    let mut cum = 0usize;
    let mut next_q = 1usize;
    for j in 0..distinct.len() - 1 {
        cum += distinct[j].1;
        // An edge after value j when the cumulative count passes the next quantile.
        if cum * max_bins >= next_q * n {
            edges.push(midpoint(distinct[j].0, distinct[j + 1].0));
            while next_q * n <= cum * max_bins {
                next_q += 1;
            }
            if edges.len() == max_bins - 1 {
                break;
            }
        }
    }
    edges
}

/// Bins every column of `x` (parallel over features; the result does not
/// depend on the thread count). Edges come from the rows of positive
/// `weight` only (all rows when `None`): rows of zero weight take no part in
/// the fit, as in scikit-learn, so they must not move the thresholds.
pub fn bin_matrix<T: Real>(
    x: MatRef<'_, T>,
    weight: Option<&[f64]>,
    max_bins: usize,
) -> crate::Result<Binned> {
    if !(2..=256).contains(&max_bins) {
        return Err(Error::InvalidParameter {
            name: "max_bins",
            reason: format!("must be in [2, 256], got {max_bins}"),
        });
    }
    let (n, p) = (x.nrows(), x.ncols());
    if n == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    let cols: Vec<crate::Result<(Vec<u8>, Vec<f64>)>> = (0..p)
        .into_par_iter()
        .map(|f| {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                let a = to_tree_value(x[(i, f)]);
                if !a.is_finite() {
                    return Err(Error::NonFinite {
                        what: "X",
                        kind: if a.is_nan() {
                            NonFiniteKind::NaN
                        } else {
                            NonFiniteKind::Infinity
                        },
                        dtype: T::DTYPE,
                        row: i,
                        col: f,
                    });
                }
                v.push(a);
            }
            let used: Vec<f64> = match weight {
                Some(w) => v
                    .iter()
                    .zip(w)
                    .filter(|(_, &wi)| wi > 0.0)
                    .map(|(&a, _)| a)
                    .collect(),
                None => v.clone(),
            };
            let edges = feature_edges(used, max_bins);
            let codes = v
                .iter()
                .map(|&a| edges.partition_point(|&e| e < a) as u8)
                .collect();
            Ok((codes, edges))
        })
        .collect();
    let mut codes = Vec::with_capacity(n * p);
    let mut edges = Vec::with_capacity(p);
    for c in cols {
        let (cc, e) = c?;
        codes.extend_from_slice(&cc);
        edges.push(e);
    }
    Ok(Binned {
        n_rows: n,
        codes,
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_midpoints() {
        let e = feature_edges(vec![3.0, 1.0, 2.0, 1.0], 256);
        assert_eq!(e, vec![1.5, 2.5]);
    }

    #[test]
    fn many_values_capped_and_consistent() {
        let v: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_000) as f64).collect();
        let x = faer::Mat::from_fn(v.len(), 1, |i, _| v[i]);
        let b = bin_matrix(x.as_ref(), None, 256).unwrap();
        assert!(b.edges[0].len() <= 255 && b.edges[0].len() > 200);
        for (i, &a) in v.iter().enumerate() {
            let code = b.codes[i] as usize;
            // x <= edges[k] exactly when code <= k.
            for (k, &e) in b.edges[0].iter().enumerate() {
                assert_eq!(a <= e, code <= k);
            }
        }
    }

    #[test]
    fn rejects_nan() {
        let x = faer::Mat::from_fn(3, 1, |i, _| if i == 1 { f64::NAN } else { 1.0 });
        assert!(matches!(
            bin_matrix(x.as_ref(), None, 256),
            Err(Error::NonFinite { row: 1, .. })
        ));
    }
}
