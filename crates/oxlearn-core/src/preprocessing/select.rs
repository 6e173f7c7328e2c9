//! Feature selection: which columns `VarianceThreshold` and `SelectKBest`
//! keep, and keeping them.

use super::rows_of;
use crate::error::{Error, Result};

/// `VarianceThreshold`'s support: `variances_ > threshold` (NaN: dropped).
pub fn variance_mask(variances: &[f64], threshold: f64) -> Vec<bool> {
    variances.iter().map(|&v| v > threshold).collect()
}

/// `SelectKBest._get_support_mask`: `k = None` is `"all"`; otherwise the
/// last `k` of a stable ascending sort of the scores, NaN scores counted
/// as the lowest finite value of their dtype (`_clean_nans`; `float32`
/// when `scores_` is float32), so ties keep the later columns.
pub fn k_best_mask(scores: &[f64], k: Option<usize>, float32: bool) -> Vec<bool> {
    let n = scores.len();
    let Some(k) = k else {
        return vec![true; n];
    };
    let lowest = if float32 {
        f64::from(f32::MIN)
    } else {
        f64::MIN
    };
    let clean: Vec<f64> = scores
        .iter()
        .map(|&s| if s.is_nan() { lowest } else { s })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    // Stable, as numpy's kind="mergesort"; -0.0 and 0.0 compare equal in both.
    order.sort_by(|&a, &b| {
        clean[a]
            .partial_cmp(&clean[b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut mask = vec![false; n];
    for &i in &order[n - k.min(n)..] {
        mask[i] = true;
    }
    mask
}

/// The columns of row-major `x` (`mask.len()` columns) where `mask` is
/// true, row-major.
pub fn select_columns(x: &[f64], mask: &[bool]) -> Result<Vec<f64>> {
    let cols = mask.len();
    let rows = rows_of(x, cols, "selector input")?;
    let keep: Vec<usize> = (0..cols).filter(|&j| mask[j]).collect();
    let mut out = Vec::with_capacity(rows.checked_mul(keep.len()).ok_or_else(|| {
        Error::InvalidParameter {
            name: "selector",
            reason: "output size overflows".into(),
        }
    })?);
    for row in x.chunks_exact(cols.max(1)) {
        out.extend(keep.iter().map(|&j| row[j]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_best_keeps_the_last_of_ties_and_drops_nan_first() {
        // python: s = SelectKBest(k=2); s.scores_ = np.array([1., nan, 3., 3.])
        // s._get_support_mask() -> [False, False, True, True]
        let s = [1.0, f64::NAN, 3.0, 3.0];
        assert_eq!(k_best_mask(&s, Some(2), false), [false, false, true, true]);
        // Ties: [2., 2., 2.], k=1 -> [False, False, True] (stable sort, last k).
        assert_eq!(
            k_best_mask(&[2.0, 2.0, 2.0], Some(1), false),
            [false, false, true]
        );
        assert_eq!(k_best_mask(&s, Some(0), false), [false; 4]);
        assert_eq!(k_best_mask(&s, None, false), [true; 4]);
        // NaN sorts below -inf? No: it becomes the lowest finite value,
        // above -inf.
        assert_eq!(
            k_best_mask(&[f64::NEG_INFINITY, f64::NAN], Some(1), false),
            [false, true]
        );
        assert_eq!(k_best_mask(&[1.0], Some(5), false), [true]);
    }

    #[test]
    fn selects_columns() {
        assert_eq!(
            variance_mask(&[0.0, 0.5, f64::NAN], 0.1),
            [false, true, false]
        );
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            select_columns(&x, &[true, false, true]).unwrap(),
            [1.0, 3.0, 4.0, 6.0]
        );
        assert!(select_columns(&x, &[true; 4]).is_err());
        assert_eq!(select_columns(&x, &[false; 3]).unwrap(), Vec::<f64>::new());
    }
}
