//! The input-space affinities `P` of t-SNE: per-row Gaussian conditional
//! probabilities whose precision is found by binary search on the perplexity
//! (scikit-learn's `_binary_search_perplexity`), symmetrised and normalised
//! as `_joint_probabilities` (dense, for the exact gradient) and
//! `_joint_probabilities_nn` (sparse over the k nearest neighbours, for
//! Barnes–Hut) do.
//!
//! The squared distances are rounded to `f32` before the search, as
//! scikit-learn rounds them: the search then takes the same steps, so its
//! precisions, and `P`, agree with scikit-learn's to `f32` precision. The
//! probabilities themselves are kept in `f64`.

use crate::neighbors::{IndexParams, Metric, NeighborIndex};
use crate::{Error, Real, Result};
use faer::MatRef;
use rayon::prelude::*;

/// Binary-search steps per row (scikit-learn's `n_steps`).
const N_STEPS: usize = 100;
/// Tolerance on the entropy in nats: scikit-learn's `PERPLEXITY_TOLERANCE`,
/// a C `float` there, hence its `f32` value.
const PERPLEXITY_TOLERANCE: f64 = 1e-5_f32 as f64;
/// What a row's sum of probabilities becomes when every one underflows
/// (scikit-learn's `EPSILON_DBL`, also a C `float`).
const EPSILON_DBL: f64 = 1e-8_f32 as f64;

/// Rows per parallel task of the binary search: fixed, so results never
/// depend on the thread count (each row is independent anyway; only the
/// order of the precision sum matters, and that is row order).
const SEARCH_CHUNK: usize = 64;

/// Sparse joint probabilities in CSR form (`n × n`, symmetric, summing to 1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseP {
    /// Number of samples.
    pub n: usize,
    /// `n + 1` row offsets into `indices` and `data`.
    pub indptr: Vec<usize>,
    /// Column of each entry; increasing within a row.
    pub indices: Vec<u32>,
    /// `p_ij` of each entry.
    pub data: Vec<f64>,
}

impl SparseP {
    /// Checks the CSR structure: `n + 1` non-decreasing offsets from 0 to the
    /// number of entries, columns below `n`, finite non-negative values.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidParameter { name: "P", reason };
        let nnz = self.data.len();
        if self.indptr.len() != self.n + 1 || self.indices.len() != nnz {
            return Err(bad(format!(
                "{} row offsets, {} columns and {nnz} values for {} samples; a CSR matrix \
                 needs n + 1 offsets and one column per value",
                self.indptr.len(),
                self.indices.len(),
                self.n
            )));
        }
        if self.indptr.first() != Some(&0)
            || self.indptr.last() != Some(&nnz)
            || self.indptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(bad(format!(
                "row offsets must rise from 0 to the number of entries, {nnz}"
            )));
        }
        if let Some(&j) = self.indices.iter().find(|&&j| j as usize >= self.n) {
            return Err(bad(format!(
                "column {j} is out of range for {} samples",
                self.n
            )));
        }
        if let Some(&v) = self.data.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(bad(format!(
                "holds {v}; probabilities must be finite and non-negative"
            )));
        }
        Ok(())
    }
}

/// The desired entropy of a row, `ln(perplexity)`, with the perplexity
/// rounded to `f32` as scikit-learn's Cython signature rounds it.
fn desired_entropy(perplexity: f64) -> Result<f64> {
    let p32 = perplexity as f32;
    if !(perplexity.is_finite() && perplexity > 0.0 && p32 > 0.0 && p32.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "perplexity",
            reason: format!("{perplexity}; it must be a positive, finite number"),
        });
    }
    Ok((p32 as f64).ln())
}

/// Conditional probabilities of one row (into `out`) from its squared
/// distances `sqd`, leaving out position `skip` (the point itself, for full
/// rows); returns the precision `beta` found.
#[inline(always)]
fn search_row(sqd: &[f32], skip: Option<usize>, desired_entropy: f64, out: &mut [f64]) -> f64 {
    let mut beta_min = f64::NEG_INFINITY;
    let mut beta_max = f64::INFINITY;
    let mut beta = 1.0f64;
    out.fill(0.0);
    for _ in 0..N_STEPS {
        let mut sum_pi = 0.0;
        for (j, (&d, p)) in sqd.iter().zip(out.iter_mut()).enumerate() {
            if Some(j) != skip {
                *p = (-(d as f64) * beta).exp();
                sum_pi += *p;
            }
        }
        if sum_pi == 0.0 {
            sum_pi = EPSILON_DBL;
        }
        let mut sum_disti_pi = 0.0;
        for (&d, p) in sqd.iter().zip(out.iter_mut()) {
            *p /= sum_pi;
            sum_disti_pi += d as f64 * *p;
        }
        let entropy = sum_pi.ln() + beta * sum_disti_pi;
        let diff = entropy - desired_entropy;
        if diff.abs() <= PERPLEXITY_TOLERANCE {
            break;
        }
        if diff > 0.0 {
            beta_min = beta;
            beta = if beta_max == f64::INFINITY {
                beta * 2.0
            } else {
                (beta + beta_max) / 2.0
            };
        } else {
            beta_max = beta;
            beta = if beta_min == f64::NEG_INFINITY {
                beta / 2.0
            } else {
                (beta + beta_min) / 2.0
            };
        }
    }
    beta
}

crate::simd::multiversion! {
    /// [`search_row`] over consecutive rows of `width` distances (into
    /// `out`); `first`: the index of the first row when rows are full (the
    /// diagonal is left out). Returns the precisions, in row order.
    fn search_rows(
        sqd: &[f32],
        width: usize,
        first: Option<usize>,
        target: f64,
        out: &mut [f64],
    ) -> Vec<f64>
    => search_rows_portable
}

#[inline(always)]
fn search_rows_portable(
    sqd: &[f32],
    width: usize,
    first: Option<usize>,
    target: f64,
    out: &mut [f64],
) -> Vec<f64> {
    out.chunks_exact_mut(width)
        .zip(sqd.chunks_exact(width))
        .enumerate()
        .map(|(r, (row, d))| search_row(d, first.map(|f| f + r), target, row))
        .collect()
}

/// The conditional probabilities of `n` rows of `width` squared distances
/// each (row-major), rows in parallel; `full` rows (`width == n`) leave out
/// the diagonal. Returns them with the sum of the precisions (row order),
/// from which scikit-learn reports the mean sigma.
pub fn conditional_probabilities(
    sqd: &[f32],
    n: usize,
    width: usize,
    full: bool,
    perplexity: f64,
) -> Result<(Vec<f64>, f64)> {
    let target = desired_entropy(perplexity)?;
    if sqd.len() != n * width || (full && width != n) {
        return Err(Error::ShapeMismatch {
            what: "squared distances vs rows × neighbours".into(),
            expected: n * width,
            got: sqd.len(),
        });
    }
    let mut p = vec![0.0f64; n * width];
    if width == 0 {
        return Ok((p, 0.0));
    }
    let betas: Vec<Vec<f64>> = p
        .par_chunks_mut(SEARCH_CHUNK * width)
        .enumerate()
        .map(|(c, out)| {
            let first = c * SEARCH_CHUNK;
            let d = &sqd[first * width..(first * width + out.len())];
            search_rows(d, width, full.then_some(first), target, out)
        })
        .collect();
    if let Some(v) = p.iter().find(|v| !v.is_finite()) {
        return Err(non_finite_probabilities(*v));
    }
    let beta_sum = betas.iter().flatten().fold(0.0, |a, &b| a + b);
    Ok((p, beta_sum))
}

fn non_finite_probabilities(v: f64) -> Error {
    Error::NumericalFailure(format!(
        "a conditional probability is {v}: the squared distances hold NaN; check the \
         distances (or X) for NaN"
    ))
}

/// Dense joint probabilities from the dense conditional ones `cond`
/// (`n × n`, zero diagonal): `max((c_ij + c_ji) / Σ, eps)` off the diagonal,
/// zero on it, as scikit-learn's `_joint_probabilities`.
pub fn joint_probabilities(cond: &[f64], n: usize) -> Result<Vec<f64>> {
    if cond.len() != n * n {
        return Err(Error::ShapeMismatch {
            what: "conditional probabilities vs n × n".into(),
            expected: n * n,
            got: cond.len(),
        });
    }
    // Σ_ij (c_ij + c_ji) = 2 Σ_ij c_ij, summed in row-major order.
    let sum_p = (2.0 * cond.iter().fold(0.0, |a, &b| a + b)).max(f64::EPSILON);
    let mut p = vec![0.0f64; n * n];
    p.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        for (j, v) in row.iter_mut().enumerate() {
            if j != i {
                *v = ((cond[i * n + j] + cond[j * n + i]) / sum_p).max(f64::EPSILON);
            }
        }
    });
    Ok(p)
}

/// Sparse joint probabilities from the conditional probabilities of each
/// row's neighbours (`cond[i * k + t]` for column `cols[i * k + t]`, columns
/// increasing within a row): `(C + Cᵀ) / Σ`, as scikit-learn's
/// `_joint_probabilities_nn` (an entry whose sum is exactly zero is not
/// stored, as scipy drops it).
pub fn joint_probabilities_nn(cond: &[f64], cols: &[u32], n: usize, k: usize) -> Result<SparseP> {
    if cond.len() != n * k || cols.len() != n * k {
        return Err(Error::ShapeMismatch {
            what: "neighbour probabilities vs rows × neighbours".into(),
            expected: n * k,
            got: cond.len().min(cols.len()),
        });
    }
    if let Some(&j) = cols.iter().find(|&&j| j as usize >= n) {
        return Err(Error::InvalidParameter {
            name: "neighbors",
            reason: format!("index {j} is out of range for {n} samples"),
        });
    }
    // Cᵀ in CSR: a counting sort by column keeps the source rows increasing.
    let mut t_ptr = vec![0usize; n + 1];
    for &j in cols {
        t_ptr[j as usize + 1] += 1;
    }
    for i in 0..n {
        t_ptr[i + 1] += t_ptr[i];
    }
    let mut fill = t_ptr.clone();
    let mut t_idx = vec![0u32; cols.len()];
    let mut t_val = vec![0.0f64; cols.len()];
    for i in 0..n {
        for t in i * k..(i + 1) * k {
            let j = cols[t] as usize;
            t_idx[fill[j]] = i as u32;
            t_val[fill[j]] = cond[t];
            fill[j] += 1;
        }
    }
    // Row i of C + Cᵀ: the merge of two column-sorted lists.
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(2 * cols.len());
    let mut data = Vec::with_capacity(2 * cols.len());
    indptr.push(0);
    for i in 0..n {
        let (a_idx, a_val) = (&cols[i * k..(i + 1) * k], &cond[i * k..(i + 1) * k]);
        let (b_idx, b_val) = (
            &t_idx[t_ptr[i]..t_ptr[i + 1]],
            &t_val[t_ptr[i]..t_ptr[i + 1]],
        );
        if a_idx.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidParameter {
                name: "neighbors",
                reason: format!(
                    "the neighbours of row {i} are not strictly increasing; each row must \
                     list distinct neighbours by index"
                ),
            });
        }
        let (mut a, mut b) = (0, 0);
        while a < a_idx.len() || b < b_idx.len() {
            let (j, v) = if b == b_idx.len() || (a < a_idx.len() && a_idx[a] < b_idx[b]) {
                a += 1;
                (a_idx[a - 1], a_val[a - 1])
            } else if a == a_idx.len() || b_idx[b] < a_idx[a] {
                b += 1;
                (b_idx[b - 1], b_val[b - 1])
            } else {
                a += 1;
                b += 1;
                (a_idx[a - 1], a_val[a - 1] + b_val[b - 1])
            };
            if v != 0.0 {
                indices.push(j);
                data.push(v);
            }
        }
        indptr.push(indices.len());
    }
    let sum_p = data.iter().fold(0.0, |a, &b| a + b).max(f64::EPSILON);
    for v in &mut data {
        *v /= sum_p;
    }
    Ok(SparseP {
        n,
        indptr,
        indices,
        data,
    })
}

/// The `k` nearest neighbours of every row of `x` among the other rows
/// (squared euclidean), as scikit-learn's `kneighbors_graph` of the training
/// data: `k + 1` are searched and the point itself is dropped (or, when
/// duplicates crowd it out, the first one). Returns `(columns, squared
/// distances)`, `n × k` row-major, columns increasing within each row (the
/// order `sort_indices` gives scikit-learn's graph). The squared distances
/// are the exact coordinate-difference sums, rounded to `f32`.
pub fn knn_sqeuclidean<T: Real>(x: MatRef<'_, T>, k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let n = x.nrows();
    if k == 0 || k >= n {
        return Err(Error::InvalidParameter {
            name: "n_neighbors",
            reason: format!(
                "{k}; it must be between 1 and n_samples - 1 = {}",
                n.max(1) - 1
            ),
        });
    }
    let index = NeighborIndex::build(x, Metric::Euclidean, IndexParams::default())?;
    let nb = index.kneighbors(x, k + 1, 0)?;
    let points = index.points();
    let d = index.n_features();
    let mut cols = vec![0u32; n * k];
    let mut sqd = vec![0.0f32; n * k];
    cols.par_chunks_mut(k)
        .zip(sqd.par_chunks_mut(k))
        .enumerate()
        .for_each(|(i, (c, s))| {
            let found = &nb.indices[i * (k + 1)..(i + 1) * (k + 1)];
            let drop = found.iter().position(|&j| j as usize == i).unwrap_or(0);
            let mut t = 0;
            for (pos, &j) in found.iter().enumerate() {
                if pos != drop {
                    c[t] = j;
                    t += 1;
                }
            }
            c.sort_unstable();
            let xi = &points[i * d..(i + 1) * d];
            for (o, &j) in s.iter_mut().zip(c.iter()) {
                let j = j as usize;
                *o = Metric::Euclidean.rdist(xi, &points[j * d..(j + 1) * d]) as f32;
            }
        });
    Ok((cols, sqd))
}

/// The dense squared euclidean distances of the rows of `x` (`n × n`,
/// row-major), exact coordinate-difference sums rounded to `f32`.
pub fn pairwise_sqeuclidean<T: Real>(x: MatRef<'_, T>) -> Result<Vec<f32>> {
    let n = x.nrows();
    let mut out = vec![0.0f32; n * n];
    crate::neighbors::pairwise_distances(
        x,
        x,
        crate::neighbors::PairwiseMetric::Metric(Metric::Euclidean),
        true,
        true,
        &mut out,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_reaches_the_perplexity() {
        // Row 0 of 5 points on a line: the entropy of the row is ln(2).
        let sqd: Vec<f32> = vec![0.0, 1.0, 4.0, 9.0, 16.0];
        let mut out = vec![0.0; 5];
        let target = desired_entropy(2.0).unwrap();
        let beta = search_row(&sqd, Some(0), target, &mut out);
        assert_eq!(out[0], 0.0);
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let h: f64 = -out
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|p| p * p.ln())
            .sum::<f64>();
        assert!((h - 2f64.ln()).abs() < 1e-4, "entropy {h}");
        assert!(beta > 0.0);
    }

    #[test]
    fn nn_joint_is_symmetric_and_normalised() {
        // Three points, one neighbour each: 0->1, 1->0, 2->1.
        let cond = [1.0, 1.0, 1.0];
        let cols = [1u32, 0, 1];
        let p = joint_probabilities_nn(&cond, &cols, 3, 1).unwrap();
        p.check().unwrap();
        assert_eq!(p.indptr, vec![0, 1, 3, 4]);
        assert_eq!(p.indices, vec![1, 0, 2, 1]);
        assert_eq!(p.data, vec![2.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0]);
        assert!(joint_probabilities_nn(&cond, &[1, 0, 3], 3, 1).is_err());
    }

    #[test]
    fn knn_drops_the_point_itself_and_keeps_the_k_nearest() {
        // Integer points with many tied distances, and a duplicated point.
        let n = 60;
        let mut x: Vec<f64> = (0..n * 2).map(|t| ((t * 7) % 5) as f64).collect();
        x[2] = x[0];
        x[3] = x[1];
        let m = MatRef::from_row_major_slice(&x, n, 2);
        let k = 9;
        let (cols, sqd) = knn_sqeuclidean(m, k).unwrap();
        for i in 0..n {
            let row = &cols[i * k..(i + 1) * k];
            assert!(
                row.windows(2).all(|w| w[0] < w[1]),
                "row {i} sorted and distinct"
            );
            assert!(!row.contains(&(i as u32)), "row {i} holds itself");
            let d =
                |j: usize| (x[2 * i] - x[2 * j]).powi(2) + (x[2 * i + 1] - x[2 * j + 1]).powi(2);
            let mut all: Vec<f64> = (0..n).filter(|&j| j != i).map(d).collect();
            all.sort_by(f64::total_cmp);
            let mut got: Vec<f64> = sqd[i * k..(i + 1) * k].iter().map(|&v| v as f64).collect();
            got.sort_by(f64::total_cmp);
            assert_eq!(got, all[..k].to_vec(), "row {i}");
            for (t, &j) in row.iter().enumerate() {
                assert_eq!(sqd[i * k + t] as f64, d(j as usize));
            }
        }
        assert!(knn_sqeuclidean(m, n).is_err());
        assert!(knn_sqeuclidean(m, 0).is_err());
    }

    #[test]
    fn bad_perplexity_is_refused() {
        for p in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(conditional_probabilities(&[0.0; 4], 2, 2, true, p).is_err());
        }
    }

    #[test]
    fn nan_distances_are_an_error() {
        let sqd = [0.0, f32::NAN, f32::NAN, 0.0];
        assert!(matches!(
            conditional_probabilities(&sqd, 2, 2, true, 1.5),
            Err(Error::NumericalFailure(_))
        ));
    }
}
