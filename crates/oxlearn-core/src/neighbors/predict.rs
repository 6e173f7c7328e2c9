//! Predictions from k-nearest neighbours: class votes and (weighted) means,
//! with scikit-learn's weights and arithmetic order (neighbours summed
//! nearest first), so results are bit-identical for any thread count.

use super::KNeighbors;
use crate::{Error, Result};
use rayon::prelude::*;

/// Queries per parallel chunk of a prediction.
const CHUNK: usize = 512;

/// How neighbours are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Every neighbour counts 1.
    Uniform,
    /// `1 / distance`; when some neighbours are at distance 0 (their inverse
    /// overflows), those count 1 and the others 0, as scikit-learn does.
    Distance,
}

impl Weights {
    /// Parses scikit-learn's `weights` names.
    pub fn from_name(name: &str) -> Result<Weights> {
        match name {
            "uniform" => Ok(Weights::Uniform),
            "distance" => Ok(Weights::Distance),
            other => Err(Error::InvalidParameter {
                name: "weights",
                reason: format!("{other:?}; use \"uniform\" or \"distance\""),
            }),
        }
    }

    /// The weights of one query's neighbours, into `w`.
    fn fill(self, dist: &[f64], w: &mut [f64]) {
        match self {
            Weights::Uniform => w.fill(1.0),
            Weights::Distance => {
                for (o, &d) in w.iter_mut().zip(dist) {
                    *o = 1.0 / d;
                }
                if w.iter().any(|v| v.is_infinite()) {
                    for o in w.iter_mut() {
                        *o = if o.is_infinite() { 1.0 } else { 0.0 };
                    }
                }
            }
        }
    }
}

fn check_labels(nb: &KNeighbors, n_fit: usize, n_labels: usize) -> Result<()> {
    if n_labels != n_fit {
        return Err(Error::ShapeMismatch {
            what: "number of training targets vs fitted samples".into(),
            expected: n_fit,
            got: n_labels,
        });
    }
    if let Some(&bad) = nb.indices.iter().find(|&&i| i as usize >= n_fit) {
        return Err(Error::InvalidParameter {
            name: "indices",
            reason: format!("{bad}; neighbour indices must be below {n_fit}"),
        });
    }
    Ok(())
}

/// Class probabilities (`n_queries × n_classes`, row-major) of the
/// neighbours `nb`: the (weighted) share of each class among a query's
/// neighbours. `y` holds the class number (`0..n_classes`) of each fitted
/// point.
pub fn vote(nb: &KNeighbors, y: &[i64], n_classes: usize, weights: Weights) -> Result<Vec<f64>> {
    check_labels(nb, y.len(), y.len())?;
    if let Some(&bad) = y.iter().find(|&&c| c < 0 || c as usize >= n_classes) {
        return Err(Error::InvalidParameter {
            name: "y",
            reason: format!("class number {bad}; it must be in 0..{n_classes}"),
        });
    }
    let k = nb.k;
    let nq = nb.indices.len() / k.max(1);
    if let Some(&bad) = nb.indices.iter().find(|&&i| i as usize >= y.len()) {
        return Err(Error::InvalidParameter {
            name: "indices",
            reason: format!("{bad}; neighbour indices must be below {}", y.len()),
        });
    }
    let mut out = vec![0.0; nq * n_classes];
    out.par_chunks_mut(CHUNK * n_classes.max(1))
        .enumerate()
        .for_each(|(c, block)| {
            let mut w = vec![0.0; k];
            for (r, row) in block.chunks_exact_mut(n_classes.max(1)).enumerate() {
                let i = c * CHUNK + r;
                weights.fill(&nb.distances[i * k..(i + 1) * k], &mut w);
                for (t, &j) in nb.indices[i * k..(i + 1) * k].iter().enumerate() {
                    row[y[j as usize] as usize] += w[t];
                }
                let mut total = 0.0;
                for &v in row.iter() {
                    total += v;
                }
                if total == 0.0 {
                    total = 1.0;
                }
                for v in row.iter_mut() {
                    *v /= total;
                }
            }
        });
    Ok(out)
}

/// The (weighted) mean of the targets `y` (`n_fit × n_outputs`, row-major)
/// of each query's neighbours, `n_queries × n_outputs`.
pub fn weighted_mean(
    nb: &KNeighbors,
    y: &[f64],
    n_outputs: usize,
    weights: Weights,
) -> Result<Vec<f64>> {
    let n_out = n_outputs.max(1);
    let n_fit = y.len() / n_out;
    check_labels(nb, n_fit, y.len() / n_out)?;
    let k = nb.k;
    let nq = nb.indices.len() / k.max(1);
    let mut out = vec![0.0; nq * n_out];
    out.par_chunks_mut(CHUNK * n_out)
        .enumerate()
        .for_each(|(c, block)| {
            let mut w = vec![0.0; k];
            for (r, row) in block.chunks_exact_mut(n_out).enumerate() {
                let i = c * CHUNK + r;
                let idx = &nb.indices[i * k..(i + 1) * k];
                match weights {
                    Weights::Uniform => {
                        for &j in idx {
                            let yj = &y[j as usize * n_out..(j as usize + 1) * n_out];
                            for (o, &v) in row.iter_mut().zip(yj) {
                                *o += v;
                            }
                        }
                        for o in row.iter_mut() {
                            *o /= k as f64;
                        }
                    }
                    Weights::Distance => {
                        weights.fill(&nb.distances[i * k..(i + 1) * k], &mut w);
                        let mut denom = 0.0;
                        for &v in &w {
                            denom += v;
                        }
                        for (&j, &wt) in idx.iter().zip(&w) {
                            let yj = &y[j as usize * n_out..(j as usize + 1) * n_out];
                            for (o, &v) in row.iter_mut().zip(yj) {
                                *o += v * wt;
                            }
                        }
                        for o in row.iter_mut() {
                            *o /= denom;
                        }
                    }
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_and_means_follow_scikit_learn_weights() {
        let nb = KNeighbors {
            k: 3,
            distances: vec![0.0, 1.0, 2.0, 1.0, 2.0, 4.0],
            indices: vec![0, 1, 2, 2, 1, 0],
        };
        let y = [0i64, 1, 1];
        let p = vote(&nb, &y, 2, Weights::Uniform).unwrap();
        assert_eq!(p, vec![1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]);
        // A zero distance takes all the weight.
        let p = vote(&nb, &y, 2, Weights::Distance).unwrap();
        assert_eq!(&p[..2], &[1.0, 0.0]);
        let s = 1.0 + 0.5 + 0.25;
        assert_eq!(&p[2..], &[0.25 / s, 1.5 / s]);
        let yr = [1.0, 2.0, 4.0];
        let m = weighted_mean(&nb, &yr, 1, Weights::Uniform).unwrap();
        assert_eq!(m, vec![7.0 / 3.0, 7.0 / 3.0]);
        let m = weighted_mean(&nb, &yr, 1, Weights::Distance).unwrap();
        assert_eq!(m[0], 1.0);
        assert_eq!(m[1], (4.0 + 2.0 * 0.5 + 0.25) / s);
        assert!(vote(&nb, &[0, 5, 1], 2, Weights::Uniform).is_err());
        assert!(vote(&nb, &[0, 1], 2, Weights::Uniform).is_err());
        assert!(Weights::from_name("gaussian").is_err());
    }
}
