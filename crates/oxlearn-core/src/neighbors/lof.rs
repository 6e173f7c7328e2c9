//! `LocalOutlierFactor.score_samples` (novelty scores) from the neighbours
//! of new points, with scikit-learn's formulas: reachability distance
//! `max(d(x, o), k-distance(o))`, local reachability density
//! `1 / (mean reachability + 1e-10)`, score `-mean(lrd(o) / lrd(x))`.

use super::KNeighbors;
use crate::{Error, Result};

/// The novelty score of each query of `nb` (its `k` nearest fitted points),
/// given each fitted point's distance to its own k-th neighbour (`kth_fit`)
/// and its local reachability density (`lrd_fit`). Means are sequential
/// sums divided by `k`.
pub fn lof_score_samples(nb: &KNeighbors, kth_fit: &[f64], lrd_fit: &[f64]) -> Result<Vec<f64>> {
    let k = nb.k;
    let n_fit = kth_fit.len();
    if lrd_fit.len() != n_fit {
        return Err(Error::InvalidParameter {
            name: "lrd",
            reason: format!(
                "{} densities for {n_fit} fitted points (one each is needed)",
                lrd_fit.len()
            ),
        });
    }
    if k == 0 || nb.distances.len() != nb.indices.len() || !nb.indices.len().is_multiple_of(k) {
        return Err(Error::InvalidParameter {
            name: "neighbors",
            reason: format!(
                "{} distances and {} indices do not make rows of k = {k} neighbours",
                nb.distances.len(),
                nb.indices.len()
            ),
        });
    }
    if let Some(&bad) = nb.indices.iter().find(|&&i| i as usize >= n_fit) {
        return Err(Error::InvalidParameter {
            name: "neighbors",
            reason: format!("index {bad} is out of range for {n_fit} fitted points"),
        });
    }
    let kf = k as f64;
    Ok(nb
        .distances
        .chunks_exact(k)
        .zip(nb.indices.chunks_exact(k))
        .map(|(dist, ind)| {
            let mut reach = 0.0;
            for (&d, &i) in dist.iter().zip(ind) {
                reach += d.max(kth_fit[i as usize]);
            }
            let lrd = 1.0 / (reach / kf + 1e-10);
            let mut ratios = 0.0;
            for &i in ind {
                ratios += lrd_fit[i as usize] / lrd;
            }
            -(ratios / kf)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_and_errors() {
        let nb = KNeighbors {
            k: 2,
            distances: vec![1.0, 3.0],
            indices: vec![0, 1],
        };
        // reach = [max(1, 2), max(3, 0.5)] = [2, 3]: lrd = 1 / (2.5 + 1e-10).
        let s = lof_score_samples(&nb, &[2.0, 0.5], &[0.4, 0.2]).unwrap();
        let lrd = 1.0 / (2.5 + 1e-10);
        assert_eq!(s, vec![-((0.4 / lrd + 0.2 / lrd) / 2.0)]);
        let e = lof_score_samples(&nb, &[2.0], &[0.4]).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = lof_score_samples(&nb, &[2.0, 1.0], &[0.4]).unwrap_err();
        assert!(e.to_string().contains("1 densities for 2"), "{e}");
    }
}
