//! The area under the ROC curve of one binary problem, as scikit-learn's
//! `_binary_roc_auc_score` defines it: samples sorted by decreasing score,
//! tied scores one point of the curve, the trapezoidal area under the
//! normalised curve (or, with `max_fpr`, the area up to that false positive
//! rate, the last point linearly interpolated).
//!
//! The sort is parallel; the walk over the sorted samples is sequential and
//! sums with Neumaier compensation, so the result is within a few ulps of
//! the exact area, whatever the thread count (ties are summed per group, so
//! the order inside a group does not matter for unit weights; with weights,
//! the group totals may differ from scikit-learn's cumulative sums in the
//! last bits).

use crate::error::{Error, Result};
use rayon::prelude::*;

/// The area and the totals it was normalised by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocAuc {
    /// The (partial) area under the curve, not yet McClish-corrected.
    pub area: f64,
    /// Total weight of the positive samples (after dropping zero weights).
    pub positives: f64,
    /// Total weight of the negative samples.
    pub negatives: f64,
}

/// A key sorting scores in decreasing order; `-0.0` is `0.0` (they tie, as
/// `np.diff` finds them equal).
fn descending_key(score: f64) -> u64 {
    let s = if score == 0.0 { 0.0 } else { score };
    let bits = s.to_bits();
    // IEEE order as unsigned integers, then reversed.
    let ascending = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    !ascending
}

/// Neumaier's compensated sum.
#[derive(Default)]
struct Sum {
    total: f64,
    carry: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.total + x;
        if self.total.abs() >= x.abs() {
            self.carry += (self.total - t) + x;
        } else {
            self.carry += (x - t) + self.total;
        }
        self.total = t;
    }

    fn value(&self) -> f64 {
        self.total + self.carry
    }
}

/// The area under the ROC curve of `positive` (the positive class) ranked
/// by `score`, with optional sample weights (zero weights are dropped, as
/// scikit-learn does). `max_fpr` in (0, 1) gives the area up to that false
/// positive rate. With no positive or no negative weight the area is NaN
/// (the caller warns, as scikit-learn does).
///
/// # Errors
/// Lengths that differ, non-finite scores, negative or non-finite weights,
/// `max_fpr` outside (0, 1].
pub fn roc_auc(
    positive: &[bool],
    score: &[f64],
    weight: Option<&[f64]>,
    max_fpr: Option<f64>,
) -> Result<RocAuc> {
    let n = score.len();
    let mismatch = |what: &str, got: usize| Error::ShapeMismatch {
        what: format!("{what}: the number of samples"),
        expected: n,
        got,
    };
    if positive.len() != n {
        return Err(mismatch("y_true", positive.len()));
    }
    if let Some(w) = weight {
        if w.len() != n {
            return Err(mismatch("sample_weight", w.len()));
        }
        if let Some((index, &value)) = w
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(Error::InvalidSampleWeight { index, value });
        }
    }
    if let Some(m) = max_fpr {
        if !(m > 0.0 && m <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "max_fpr",
                reason: format!("Expected max_fpr in range (0, 1], got: {m}"),
            });
        }
    }
    if let Some(row) = score.iter().position(|s| !s.is_finite()) {
        return Err(Error::NonFinite {
            what: "y_score",
            kind: crate::error::NonFiniteKind::of(score[row]),
            dtype: "float64",
            row,
            col: 0,
        });
    }
    let idx_limit = u32::MAX as usize;
    if n > idx_limit {
        return Err(Error::InvalidParameter {
            name: "y_score",
            reason: format!("{n} samples; at most {idx_limit} are supported"),
        });
    }
    // Each class sorted on its own (by decreasing score; the weight breaks
    // ties so that the order, hence every sum, is the same for any thread
    // count), then one merge walk: no random access into the inputs after
    // the split, and half the bytes per sorted element without weights.
    let side = |want: bool| -> Side {
        match weight {
            None => {
                let mut keys: Vec<u64> = (0..n)
                    .into_par_iter()
                    .filter(|&i| positive[i] == want)
                    .map(|i| descending_key(score[i]))
                    .collect();
                keys.par_sort_unstable();
                Side::Unit(keys)
            }
            Some(w) => {
                let mut pairs: Vec<(u64, u64)> = (0..n)
                    .into_par_iter()
                    .filter(|&i| positive[i] == want && w[i] != 0.0)
                    .map(|i| (descending_key(score[i]), w[i].to_bits()))
                    .collect();
                pairs.par_sort_unstable();
                Side::Weighted(pairs)
            }
        }
    };
    let (p_side, n_side) = (side(true), side(false));
    let (t_total, f_total) = (p_side.total(), n_side.total());
    if t_total <= 0.0 || f_total <= 0.0 {
        return Ok(RocAuc {
            area: f64::NAN,
            positives: t_total,
            negatives: f_total,
        });
    }
    let limit = max_fpr.filter(|&m| m < 1.0);
    let mut area = Sum::default();
    let (mut tp, mut fp) = (Sum::default(), Sum::default());
    let (mut prev_fpr, mut prev_tpr) = (0.0f64, 0.0f64);
    let (mut i, mut j) = (0usize, 0usize);
    while i < p_side.len() || j < n_side.len() {
        // The next distinct score: the smaller key of the two heads.
        let key = match (p_side.key(i), n_side.key(j)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        while p_side.key(i) == Some(key) {
            tp.add(p_side.weight(i));
            i += 1;
        }
        while n_side.key(j) == Some(key) {
            fp.add(n_side.weight(j));
            j += 1;
        }
        let fpr = fp.value() / f_total;
        let tpr = tp.value() / t_total;
        if let Some(m) = limit {
            if fpr > m {
                // np.interp between the last point at or below max_fpr and
                // this one, then the last trapezoid up to max_fpr.
                let y = prev_tpr + (tpr - prev_tpr) * (m - prev_fpr) / (fpr - prev_fpr);
                area.add((m - prev_fpr) * (y + prev_tpr) / 2.0);
                break;
            }
        }
        area.add((fpr - prev_fpr) * (tpr + prev_tpr) / 2.0);
        prev_fpr = fpr;
        prev_tpr = tpr;
    }
    Ok(RocAuc {
        area: area.value(),
        positives: t_total,
        negatives: f_total,
    })
}

/// One class's samples sorted by decreasing score: keys alone (unit
/// weights) or with their weights.
enum Side {
    Unit(Vec<u64>),
    /// `(key, weight bits)`: non-negative weights sort as their bits do.
    Weighted(Vec<(u64, u64)>),
}

impl Side {
    fn len(&self) -> usize {
        match self {
            Side::Unit(k) => k.len(),
            Side::Weighted(p) => p.len(),
        }
    }

    fn key(&self, i: usize) -> Option<u64> {
        match self {
            Side::Unit(k) => k.get(i).copied(),
            Side::Weighted(p) => p.get(i).map(|&(k, _)| k),
        }
    }

    fn weight(&self, i: usize) -> f64 {
        match self {
            Side::Unit(_) => 1.0,
            Side::Weighted(p) => f64::from_bits(p[i].1),
        }
    }

    /// The class's total weight (exact for unit weights up to 2^53).
    fn total(&self) -> f64 {
        match self {
            Side::Unit(k) => k.len() as f64,
            Side::Weighted(p) => {
                let mut s = Sum::default();
                for &(_, w) in p {
                    s.add(f64::from_bits(w));
                }
                s.value()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The area as the mean over positive-negative pairs (ties count 1/2).
    fn pairs(positive: &[bool], score: &[f64], weight: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..score.len() {
            for j in 0..score.len() {
                if positive[i] && !positive[j] {
                    let w = weight[i] * weight[j];
                    den += w;
                    num += w * if score[i] > score[j] {
                        1.0
                    } else if score[i] == score[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        num / den
    }

    #[test]
    fn area_is_the_pairwise_probability_with_ties_and_weights() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for n in [2usize, 3, 17, 200] {
            // Both classes present: sample 0 positive, the last negative.
            let positive: Vec<bool> = (0..n)
                .map(|i| i + 1 < n && (i % 3 == 0 || next() < 0.3))
                .collect();
            // Few distinct scores: many ties, and -0.0 ties with 0.0.
            let score: Vec<f64> = (0..n)
                .map(|i| match i % 7 {
                    0 => -0.0,
                    1 => 0.0,
                    _ => (next() * 5.0).floor() - 2.0,
                })
                .collect();
            let weight: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 5 == 3 && i + 1 < n {
                        0.0
                    } else {
                        next() + 0.1
                    }
                })
                .collect();
            let ones = vec![1.0; n];
            let plain = roc_auc(&positive, &score, None, None).unwrap();
            assert!((plain.area - pairs(&positive, &score, &ones)).abs() < 1e-12);
            let weighted = roc_auc(&positive, &score, Some(&weight), None).unwrap();
            let want = pairs(&positive, &score, &weight);
            assert!(
                (weighted.area - want).abs() < 1e-12,
                "{n}: {} vs {want}",
                weighted.area
            );
        }
    }

    #[test]
    fn partial_area_interpolates_the_last_point() {
        // Scores 4 3 2 1 for labels 1 0 1 0: curve (0,0) (0,.5) (.5,.5) (.5,1) (1,1).
        let positive = [true, false, true, false];
        let score = [4.0, 3.0, 2.0, 1.0];
        let full = roc_auc(&positive, &score, None, None).unwrap().area;
        assert_eq!(full, 0.75);
        // Up to fpr 0.25: the segment (0,.5)-(.5,.5) at 0.25 is 0.5: area 0.125.
        let part = roc_auc(&positive, &score, None, Some(0.25)).unwrap().area;
        assert_eq!(part, 0.125);
        assert_eq!(
            roc_auc(&positive, &score, None, Some(1.0)).unwrap().area,
            0.75
        );
    }

    #[test]
    fn one_class_gives_nan_and_bad_input_an_error() {
        let r = roc_auc(&[true, true], &[1.0, 2.0], None, None).unwrap();
        assert!(r.area.is_nan() && r.negatives == 0.0);
        assert!(roc_auc(&[true], &[1.0, 2.0], None, None).is_err());
        assert!(roc_auc(&[true, false], &[f64::NAN, 2.0], None, None).is_err());
        assert!(roc_auc(&[true, false], &[1.0, 2.0], Some(&[1.0, -1.0]), None).is_err());
        assert!(roc_auc(&[true, false], &[1.0, 2.0], None, Some(0.0)).is_err());
    }
}
