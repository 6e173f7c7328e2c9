//! Exact nearest-neighbour search: a kd-tree and a brute-force kernel over
//! one [`Metric`] enum, behind [`NeighborIndex`].
//!
//! Every distance that decides membership is computed exactly as
//! scikit-learn's `DistanceMetric.rdist` computes it (coordinate differences
//! accumulated in dimension order, in `f64`), whichever engine runs, so a
//! point exactly at the radius is a neighbour exactly when it is one in
//! scikit-learn's trees. Queries run in parallel over fixed chunks of query
//! points; each query's answer is a set (sorted indices), so results do not
//! depend on the thread count, the chunk size, the engine or the leaf size.

mod brute;
mod kdtree;
mod lof;
pub(crate) mod metric;
mod pairwise;
mod predict;
mod topk;

pub use brute::BruteIndex;
pub use kdtree::{KdTree, DEFAULT_LEAF_SIZE};
pub use lof::lof_score_samples;
pub use metric::Metric;
pub use pairwise::{pairwise_distances, unit_rows, PairwiseMetric};
pub use predict::{vote, weighted_mean, Weights};

use crate::error::NonFiniteKind;
use crate::{Error, Real, Result};
use faer::MatRef;
use metric::with_reduce;
use rayon::prelude::*;

/// Query points per parallel chunk when not specified.
pub const DEFAULT_QUERY_CHUNK: usize = 256;

/// Largest number of features for which [`Algorithm::Auto`] builds a tree
/// (scikit-learn switches to brute force above 15).
pub const AUTO_TREE_MAX_FEATURES: usize = 16;

/// Which engine answers queries. All give the same answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// A kd-tree for few features, brute force for many.
    Auto,
    /// The kd-tree.
    KdTree,
    /// Brute force.
    Brute,
}

impl Algorithm {
    /// Parses scikit-learn's `algorithm` parameter (`"ball_tree"` gets the
    /// kd-tree: answers are the same, only speed differs).
    pub fn from_name(name: &str) -> Result<Algorithm> {
        match name {
            "auto" => Ok(Algorithm::Auto),
            "kd_tree" | "ball_tree" => Ok(Algorithm::KdTree),
            "brute" => Ok(Algorithm::Brute),
            other => Err(Error::InvalidParameter {
                name: "algorithm",
                reason: format!("{other:?}; use \"auto\", \"kd_tree\", \"ball_tree\" or \"brute\""),
            }),
        }
    }
}

/// How to build a [`NeighborIndex`].
#[derive(Debug, Clone, Copy)]
pub struct IndexParams {
    /// Tree or brute force.
    pub algorithm: Algorithm,
    /// Most points per kd-tree leaf (`0`: [`DEFAULT_LEAF_SIZE`]).
    pub leaf_size: usize,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams {
            algorithm: Algorithm::Auto,
            leaf_size: 0,
        }
    }
}

/// Neighbour lists of a set of queries, compressed: the neighbours of query
/// `i` are `indices[offsets[i]..offsets[i + 1]]`, in increasing order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Neighborhoods {
    /// `n_queries + 1` offsets into `indices`.
    pub offsets: Vec<usize>,
    /// Indices of the fitted points.
    pub indices: Vec<u32>,
}

impl Neighborhoods {
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no queries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Neighbours of query `i`, sorted.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Concatenates per-chunk `(lengths, indices)` in chunk order.
    fn concat(parts: Vec<(Vec<u32>, Vec<u32>)>) -> Neighborhoods {
        let n: usize = parts.iter().map(|p| p.0.len()).sum();
        let total: usize = parts.iter().map(|p| p.1.len()).sum();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(total);
        offsets.push(0);
        for (lens, idx) in parts {
            for l in lens {
                let last = offsets[offsets.len() - 1];
                offsets.push(last + l as usize);
            }
            indices.extend_from_slice(&idx);
        }
        Neighborhoods { offsets, indices }
    }
}

enum Engine {
    Tree(KdTree),
    Brute(Box<BruteIndex>),
}

/// The `k` nearest fitted points of each query, row-major (`n_queries × k`),
/// nearest first; ties in distance go to the smaller index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KNeighbors {
    /// Neighbours per query.
    pub k: usize,
    /// Distances (not reduced).
    pub distances: Vec<f64>,
    /// Indices of the fitted points.
    pub indices: Vec<u32>,
}

impl KNeighbors {
    /// The cosine distances of unit rows from their euclidean ones:
    /// `0.5 d²` (= 1 - cos), computed as `(0.5 d) d`, numpy's order for
    /// `0.5 * dist * dist`. The search over unit rows is the cosine search.
    pub fn euclidean_to_cosine(&mut self) {
        for d in &mut self.distances {
            *d = 0.5 * *d * *d;
        }
    }
}

/// Fitted points, ready for exact radius and k-nearest queries.
pub struct NeighborIndex {
    metric: Metric,
    n: usize,
    d: usize,
    /// The points, row-major, `f64`.
    data: Vec<f64>,
    engine: Engine,
    /// The algorithm asked for.
    algorithm: Algorithm,
    /// [`Algorithm::Auto`] with a tree: a brute-force index built on the
    /// first k-nearest query set the tree turns out to prune poorly for.
    brute_knn: std::sync::OnceLock<Box<BruteIndex>>,
}

/// Queries sampled to measure how well a tree prunes.
const PRUNE_SAMPLE: usize = 64;

/// [`Algorithm::Auto`] sends euclidean k-nearest queries to brute force
/// when the tree computes the distances of more than this fraction of the
/// points per query (measured on a sample of the queries): a scanned point
/// costs the tree about ten times what a point costs the brute-force
/// product filter (timed on scikit-learn's make_blobs and
/// make_classification data, 8 and 10 features), so past about 1/10 the
/// tree loses.
const TREE_MAX_SCANNED_FRACTION: f64 = 1.0 / 8.0;

/// The engine answering one k-nearest query set.
#[derive(Clone, Copy)]
enum KnnEngine<'a> {
    Tree(&'a KdTree),
    Brute(&'a BruteIndex),
}

/// Copies `x` into a row-major `f64` array, failing on NaN or infinity
/// (named `what`, with the first offending position).
pub fn rows_f64<T: Real>(x: MatRef<'_, T>, what: &'static str) -> Result<Vec<f64>> {
    let (n, d) = x.shape();
    let mut out = vec![0.0; n * d];
    if d == 0 {
        return Ok(out);
    }
    let rows_per_chunk = crate::linalg::auto_chunk_rows(d);
    out.par_chunks_mut(rows_per_chunk * d)
        .enumerate()
        .try_for_each(|(c, chunk)| {
            let r0 = c * rows_per_chunk;
            for (k, row) in chunk.chunks_exact_mut(d).enumerate() {
                let i = r0 + k;
                match x.row(i).try_as_row_major() {
                    Some(r) => {
                        for (o, &v) in row.iter_mut().zip(r.as_slice()) {
                            *o = v.to_f64();
                        }
                    }
                    None => {
                        for (j, o) in row.iter_mut().enumerate() {
                            *o = x[(i, j)].to_f64();
                        }
                    }
                }
                if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        what,
                        kind: NonFiniteKind::of(row[j]),
                        dtype: T::DTYPE,
                        row: i,
                        col: j,
                    });
                }
            }
            Ok(())
        })?;
    Ok(out)
}

/// Fails unless there are at least one point and one feature and the point
/// count fits the `u32` indices of neighbour lists.
fn check_size(n: usize, d: usize, what: &'static str) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::EmptyInput { what });
    }
    if n > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: what,
            reason: format!(
                "{n} samples; exact neighbour search supports at most {} samples",
                u32::MAX
            ),
        });
    }
    Ok(())
}

fn check_radius(radius: f64) -> Result<()> {
    if radius.is_nan() || radius < 0.0 {
        return Err(Error::InvalidParameter {
            name: "radius",
            reason: format!("{radius}; the radius must be a non-negative number"),
        });
    }
    Ok(())
}

impl NeighborIndex {
    /// Indexes the rows of `x` (n×d, finite) for queries with `metric`.
    pub fn build<T: Real>(x: MatRef<'_, T>, metric: Metric, params: IndexParams) -> Result<Self> {
        let (n, d) = x.shape();
        check_size(n, d, "X")?;
        let data = rows_f64(x, "X")?;
        Ok(Self::from_rows(data, n, d, metric, params))
    }

    /// Indexes `data`, `n` rows of `d` finite coordinates, row-major.
    fn from_rows(data: Vec<f64>, n: usize, d: usize, metric: Metric, p: IndexParams) -> Self {
        let tree = match p.algorithm {
            Algorithm::KdTree => true,
            Algorithm::Brute => false,
            Algorithm::Auto => d <= AUTO_TREE_MAX_FEATURES,
        };
        let engine = if tree {
            Engine::Tree(KdTree::build(&data, n, d, p.leaf_size))
        } else {
            Engine::Brute(Box::new(BruteIndex::build(
                &data,
                n,
                d,
                metric == Metric::Euclidean,
            )))
        };
        NeighborIndex {
            metric,
            n,
            d,
            data,
            engine,
            algorithm: p.algorithm,
            brute_knn: std::sync::OnceLock::new(),
        }
    }

    /// The indexed points, row-major `f64` (n_points × n_features).
    pub fn points(&self) -> &[f64] {
        &self.data
    }

    /// Number of indexed points.
    pub fn n_points(&self) -> usize {
        self.n
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.d
    }

    /// The metric of the queries.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Whether queries use the kd-tree.
    pub fn uses_tree(&self) -> bool {
        matches!(self.engine, Engine::Tree(_))
    }

    /// Answers one chunk of queries (row-major) into `(lengths, indices)`.
    fn chunk(&self, rows: &[f64], r_red: f64) -> (Vec<u32>, Vec<u32>) {
        let mut lens = Vec::with_capacity(rows.len() / self.d.max(1));
        let mut out = Vec::new();
        let metric = self.metric;
        let exact_bounds = !matches!(metric, Metric::Minkowski(_));
        match &self.engine {
            Engine::Tree(t) => with_reduce!(metric, |m| kdtree::radius_rows(
                t,
                m,
                exact_bounds,
                rows,
                r_red,
                &mut lens,
                &mut out
            )),
            Engine::Brute(b) => match metric {
                Metric::Euclidean => {
                    brute::radius_rows_euclidean(b, &self.data, rows, r_red, &mut lens, &mut out)
                }
                _ => with_reduce!(metric, |m| brute::radius_rows_direct(
                    b, m, rows, r_red, &mut lens, &mut out
                )),
            },
        };
        (lens, out)
    }

    /// The indexed points within distance `radius` (inclusive) of each row
    /// of `queries`, over parallel chunks of `chunk_rows` queries (`0`:
    /// [`DEFAULT_QUERY_CHUNK`]).
    pub fn radius_neighbors<T: Real>(
        &self,
        queries: MatRef<'_, T>,
        radius: f64,
        chunk_rows: usize,
    ) -> Result<Neighborhoods> {
        check_radius(radius)?;
        if queries.ncols() != self.d {
            return Err(Error::ShapeMismatch {
                what: "number of features of the queries vs the fitted data".into(),
                expected: self.d,
                got: queries.ncols(),
            });
        }
        let q = rows_f64(queries, "X")?;
        let r_red = self.metric.reduced(radius);
        let chunk = if chunk_rows == 0 {
            DEFAULT_QUERY_CHUNK
        } else {
            chunk_rows
        };
        let parts: Vec<_> = q
            .par_chunks(chunk * self.d)
            .map(|rows| self.chunk(rows, r_red))
            .collect();
        Ok(Neighborhoods::concat(parts))
    }

    /// Fails unless `queries` has the fitted number of features.
    fn check_queries(&self, ncols: usize) -> Result<()> {
        if ncols != self.d {
            return Err(Error::ShapeMismatch {
                what: "number of features of the queries vs the fitted data".into(),
                expected: self.d,
                got: ncols,
            });
        }
        Ok(())
    }

    /// The engine for the k-nearest queries `q` (row-major): the index's
    /// own, except that [`Algorithm::Auto`] moves euclidean queries from a
    /// tree that prunes poorly for them (measured on a sample) to brute
    /// force. Answers are the same either way; only speed differs.
    fn knn_engine(&self, q: &[f64], k: usize) -> KnnEngine<'_> {
        let tree = match &self.engine {
            Engine::Tree(t) => t,
            Engine::Brute(b) => return KnnEngine::Brute(b),
        };
        if let Some(b) = self.brute_knn.get() {
            return KnnEngine::Brute(b);
        }
        let d = self.d.max(1);
        let nq = q.len() / d;
        if self.algorithm != Algorithm::Auto
            || self.metric != Metric::Euclidean
            || nq < 4 * PRUNE_SAMPLE
        {
            return KnnEngine::Tree(tree);
        }
        let step = nq / PRUNE_SAMPLE;
        let mut rows = Vec::with_capacity(PRUNE_SAMPLE * d);
        for i in 0..PRUNE_SAMPLE {
            rows.extend_from_slice(&q[i * step * d..(i * step + 1) * d]);
        }
        let (mut rds, mut idx) = (Vec::new(), Vec::new());
        let scanned = kdtree::knn_rows(tree, metric::Euclid, true, &rows, k, &mut rds, &mut idx);
        if (scanned as f64) <= TREE_MAX_SCANNED_FRACTION * (PRUNE_SAMPLE * self.n) as f64 {
            return KnnEngine::Tree(tree);
        }
        KnnEngine::Brute(self.brute_knn.get_or_init(|| {
            Box::new(BruteIndex::build_ordered(
                &self.data,
                self.n,
                self.d,
                tree.order(),
            ))
        }))
    }

    /// Answers one chunk of k-nearest queries (row-major).
    /// `first`: the stored position to start a brute-force scan at.
    fn knn_chunk(
        &self,
        engine: KnnEngine<'_>,
        rows: &[f64],
        k: usize,
        first: usize,
    ) -> (Vec<f64>, Vec<u32>) {
        let nq = rows.len() / self.d.max(1);
        let mut rds = Vec::with_capacity(nq * k);
        let mut idx = Vec::with_capacity(nq * k);
        let metric = self.metric;
        let exact_bounds = !matches!(metric, Metric::Minkowski(_));
        match engine {
            KnnEngine::Tree(t) => with_reduce!(metric, |m| kdtree::knn_rows(
                t,
                m,
                exact_bounds,
                rows,
                k,
                &mut rds,
                &mut idx
            )),
            KnnEngine::Brute(b) => match metric {
                Metric::Euclidean => {
                    brute::knn_rows_euclidean(b, &self.data, rows, k, first, &mut rds, &mut idx)
                }
                _ => with_reduce!(metric, |m| brute::knn_rows_direct(
                    b, m, rows, k, &mut rds, &mut idx
                )),
            },
        };
        for r in &mut rds {
            *r = metric.from_reduced(*r);
        }
        (rds, idx)
    }

    /// The `k` nearest indexed points of each row of `queries` (exact, ties
    /// to the smaller index), over parallel chunks of `chunk_rows` queries
    /// (`0`: [`DEFAULT_QUERY_CHUNK`]).
    pub fn kneighbors<T: Real>(
        &self,
        queries: MatRef<'_, T>,
        k: usize,
        chunk_rows: usize,
    ) -> Result<KNeighbors> {
        if k == 0 || k > self.n {
            return Err(Error::InvalidParameter {
                name: "n_neighbors",
                reason: format!(
                    "{k}; it must be between 1 and the number of fitted samples, {}",
                    self.n
                ),
            });
        }
        self.check_queries(queries.ncols())?;
        let q = rows_f64(queries, "X")?;
        let chunk = if chunk_rows == 0 {
            DEFAULT_QUERY_CHUNK
        } else {
            chunk_rows
        };
        let engine = self.knn_engine(&q, k);
        if let Engine::Tree(tree) = &self.engine {
            let ordered = match engine {
                KnnEngine::Brute(b) => b.is_ordered(),
                KnnEngine::Tree(_) => q.len() / self.d >= 2 * chunk,
            };
            if ordered {
                return Ok(self.kneighbors_ordered(tree, engine, &q, k, chunk));
            }
        }
        let parts: Vec<_> = q
            .par_chunks(chunk * self.d)
            .map(|rows| self.knn_chunk(engine, rows, k, 0))
            .collect();
        let mut out = KNeighbors {
            k,
            distances: Vec::with_capacity(q.len() / self.d * k),
            indices: Vec::with_capacity(q.len() / self.d * k),
        };
        for (r, i) in parts {
            out.distances.extend_from_slice(&r);
            out.indices.extend_from_slice(&i);
        }
        Ok(out)
    }

    /// k-nearest queries `q` (row-major) sorted by the tree position of
    /// their leaf and chunked in that order: consecutive queries of the tree
    /// walk the same nodes and leaves (cache-friendly), and a brute-force
    /// index stored in the tree's order starts each chunk's scan at its own
    /// neighbourhood. Each query's answer is its exact k best, so the
    /// grouping changes only speed; answers are put back in query order.
    fn kneighbors_ordered(
        &self,
        tree: &KdTree,
        engine: KnnEngine<'_>,
        q: &[f64],
        k: usize,
        chunk: usize,
    ) -> KNeighbors {
        let d = self.d;
        let nq = q.len() / d;
        let home: Vec<u32> = q
            .par_chunks(d)
            .map(|r| tree.home_position(r) as u32)
            .collect();
        let mut perm: Vec<u32> = (0..nq as u32).collect();
        perm.sort_unstable_by_key(|&i| (home[i as usize], i));
        let parts: Vec<_> = perm
            .par_chunks(chunk)
            .map(|ids| {
                let mut rows = Vec::with_capacity(ids.len() * d);
                for &i in ids {
                    rows.extend_from_slice(&q[i as usize * d..(i as usize + 1) * d]);
                }
                let first = home[ids[ids.len() / 2] as usize] as usize;
                self.knn_chunk(engine, &rows, k, first)
            })
            .collect();
        let mut out = KNeighbors {
            k,
            distances: vec![0.0; nq * k],
            indices: vec![0; nq * k],
        };
        for (ids, (r, ix)) in perm.chunks(chunk).zip(parts) {
            for (t, &i) in ids.iter().enumerate() {
                let i = i as usize;
                out.distances[i * k..(i + 1) * k].copy_from_slice(&r[t * k..(t + 1) * k]);
                out.indices[i * k..(i + 1) * k].copy_from_slice(&ix[t * k..(t + 1) * k]);
            }
        }
        out
    }

    /// The distances of the neighbour lists `nb` of the rows of `queries`
    /// (as [`Self::radius_neighbors`] returns them), in `nb.indices` order.
    pub fn distances_of<T: Real>(
        &self,
        queries: MatRef<'_, T>,
        nb: &Neighborhoods,
    ) -> Result<Vec<f64>> {
        self.check_queries(queries.ncols())?;
        if nb.len() != queries.nrows() {
            return Err(Error::ShapeMismatch {
                what: "neighbour lists vs queries".into(),
                expected: queries.nrows(),
                got: nb.len(),
            });
        }
        let q = rows_f64(queries, "X")?;
        let d = self.d;
        let metric = self.metric;
        let mut out = vec![0.0; nb.indices.len()];
        let mut rest = &mut out[..];
        let mut pieces = Vec::with_capacity(nb.len());
        for i in 0..nb.len() {
            let (a, b) = rest.split_at_mut(nb.offsets[i + 1] - nb.offsets[i]);
            pieces.push((i, a));
            rest = b;
        }
        pieces
            .into_par_iter()
            .with_min_len(64)
            .for_each(|(i, dst)| {
                let qi = &q[i * d..(i + 1) * d];
                for (o, &j) in dst.iter_mut().zip(nb.row(i)) {
                    let j = j as usize;
                    *o = metric.from_reduced(metric.rdist(qi, &self.data[j * d..(j + 1) * d]));
                }
            });
        Ok(out)
    }

    /// The neighbours of every indexed point among the indexed points (each
    /// point is its own neighbour), as [`Self::radius_neighbors`] of the data.
    pub fn radius_neighbors_self(&self, radius: f64, chunk_rows: usize) -> Result<Neighborhoods> {
        check_radius(radius)?;
        let r_red = self.metric.reduced(radius);
        let chunk = if chunk_rows == 0 {
            DEFAULT_QUERY_CHUNK
        } else {
            chunk_rows
        };
        let Engine::Tree(tree) = &self.engine else {
            let parts: Vec<_> = self
                .data
                .par_chunks(chunk * self.d)
                .map(|rows| self.chunk(rows, r_red))
                .collect();
            return Ok(Neighborhoods::concat(parts));
        };
        // Queries in tree order: consecutive queries are close, so they walk
        // the same nodes (cache-friendly); answers are then put back in the
        // points' own order.
        let n = self.n;
        let parts: Vec<_> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let range = c * chunk..((c + 1) * chunk).min(n);
                let mut rows = Vec::new();
                tree.rows_in_tree_order(range, &mut rows);
                self.chunk(&rows, r_red)
            })
            .collect();
        let order = tree.order();
        let mut lens = vec![0usize; n];
        let mut pos = 0;
        for (l, _) in &parts {
            for &len in l {
                lens[order[pos] as usize] = len as usize;
                pos += 1;
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for &l in &lens {
            offsets.push(offsets[offsets.len() - 1] + l);
        }
        let mut indices = vec![0u32; offsets[n]];
        let mut pos = 0;
        for (l, idx) in &parts {
            let mut from = 0;
            for &len in l {
                let at = offsets[order[pos] as usize];
                indices[at..at + len as usize].copy_from_slice(&idx[from..from + len as usize]);
                from += len as usize;
                pos += 1;
            }
        }
        Ok(Neighborhoods { offsets, indices })
    }
}

/// Neighbourhoods from a precomputed square distance matrix: `j` is a
/// neighbour of `i` when `dist[i, j] <= radius`, compared in the matrix's
/// own dtype (as numpy compares a float32 array with a Python float).
pub fn radius_neighbors_precomputed<T: Real>(
    dist: MatRef<'_, T>,
    radius: f64,
    chunk_rows: usize,
) -> Result<Neighborhoods> {
    check_radius(radius)?;
    let (n, m) = dist.shape();
    check_size(n, m, "X")?;
    if n != m {
        return Err(Error::ShapeMismatch {
            what: "columns of the precomputed distance matrix vs its rows (it must be square)"
                .into(),
            expected: n,
            got: m,
        });
    }
    let r = T::from_f64(radius);
    let chunk = if chunk_rows == 0 {
        DEFAULT_QUERY_CHUNK
    } else {
        chunk_rows
    };
    let parts: Vec<_> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut lens = Vec::new();
            let mut out = Vec::new();
            for i in c * chunk..((c + 1) * chunk).min(n) {
                let from = out.len();
                let row = dist.row(i);
                for j in 0..m {
                    if row[j] <= r {
                        out.push(j as u32);
                    }
                }
                lens.push((out.len() - from) as u32);
            }
            (lens, out)
        })
        .collect();
    Ok(Neighborhoods::concat(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        // A small deterministic generator (xorshift), clustered and with
        // duplicates: every fifth point repeats the previous one.
        let mut s = seed | 1;
        let mut out = Vec::with_capacity(n * d);
        for i in 0..n {
            if i % 5 == 4 {
                let prev = out[(i - 1) * d..i * d].to_vec();
                out.extend(prev);
                continue;
            }
            let centre = (i % 3) as f64 * 4.0;
            for _ in 0..d {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                out.push(centre + (s % 10_000) as f64 / 2500.0 - 2.0);
            }
        }
        out
    }

    fn reference(x: &[f64], d: usize, metric: Metric, radius: f64) -> Neighborhoods {
        let r_red = metric.reduced(radius);
        let parts = x
            .chunks_exact(d)
            .map(|q| {
                let idx: Vec<u32> = x
                    .chunks_exact(d)
                    .enumerate()
                    .filter(|(_, p)| metric.rdist(q, p) <= r_red)
                    .map(|(i, _)| i as u32)
                    .collect();
                (vec![idx.len() as u32], idx)
            })
            .collect();
        Neighborhoods::concat(parts)
    }

    #[test]
    fn engines_agree_with_reference_for_every_metric() {
        for (n, d) in [(700, 3), (300, 24), (90, 1)] {
            let x = data(n, d, 7 + d as u64);
            let xm = MatRef::from_row_major_slice(&x, n, d);
            for metric in [
                Metric::Euclidean,
                Metric::Manhattan,
                Metric::Chebyshev,
                Metric::Minkowski(3.0),
                Metric::Minkowski(1.5),
            ] {
                // A radius at a pair's exact distance (about 3% of pairs
                // within it): ties at the boundary are part of the test.
                let mut all: Vec<f64> = x
                    .chunks_exact(d)
                    .flat_map(|a| x.chunks_exact(d).map(move |b| metric.rdist(a, b)))
                    .collect();
                let k = all.len() * 3 / 100;
                let (_, &mut r_red, _) = all.select_nth_unstable_by(k, f64::total_cmp);
                let radius = metric.from_reduced(r_red);
                let expected = reference(&x, d, metric, radius);
                assert!(
                    expected.indices.len() > 3 * n / 2,
                    "radius too small to test"
                );
                for algorithm in [Algorithm::Auto, Algorithm::KdTree, Algorithm::Brute] {
                    for leaf_size in [1, 5, 40] {
                        let params = IndexParams {
                            algorithm,
                            leaf_size,
                        };
                        let index = NeighborIndex::build(xm, metric, params).unwrap();
                        let got = index.radius_neighbors_self(radius, 64).unwrap();
                        assert_eq!(got, expected, "{metric:?} {algorithm:?} {leaf_size}");
                        let q = index.radius_neighbors(xm, radius, 33).unwrap();
                        assert_eq!(q, expected, "{metric:?} {algorithm:?} queries");
                    }
                }
            }
        }
    }

    /// The k nearest by sorting all (reduced distance, index) pairs.
    fn knn_reference(x: &[f64], q: &[f64], d: usize, metric: Metric, k: usize) -> KNeighbors {
        let mut out = KNeighbors {
            k,
            ..KNeighbors::default()
        };
        for qi in q.chunks_exact(d) {
            let mut all: Vec<(f64, u32)> = x
                .chunks_exact(d)
                .enumerate()
                .map(|(i, p)| (metric.rdist(qi, p), i as u32))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(rd, i) in &all[..k] {
                out.distances.push(metric.from_reduced(rd));
                out.indices.push(i);
            }
        }
        out
    }

    #[test]
    fn kneighbors_match_reference_for_every_metric_with_ties() {
        for (n, d, coarse) in [
            (700, 3, false),
            (500, 24, false),
            (300, 5, true),
            (400, 20, true),
        ] {
            let x: Vec<f64> = if coarse {
                // Small integers: many exact ties in distance.
                (0..n * d).map(|k| ((k * 7 + k / 13) % 3) as f64).collect()
            } else {
                data(n, d, 5 + d as u64)
            };
            let q: Vec<f64> = x.iter().step_by(3).take(60 * d).map(|v| v + 0.25).collect();
            let xm = MatRef::from_row_major_slice(&x, n, d);
            for metric in [
                Metric::Euclidean,
                Metric::Manhattan,
                Metric::Chebyshev,
                Metric::Minkowski(3.0),
            ] {
                for k in [1, 5, 17] {
                    for queries in [&x[..], &q[..]] {
                        let nq = queries.len() / d;
                        let expected = knn_reference(&x, queries, d, metric, k);
                        let qm = MatRef::from_row_major_slice(queries, nq, d);
                        for algorithm in [Algorithm::KdTree, Algorithm::Brute, Algorithm::Auto] {
                            for leaf_size in [1, 7, 40] {
                                let params = IndexParams {
                                    algorithm,
                                    leaf_size,
                                };
                                let index = NeighborIndex::build(xm, metric, params).unwrap();
                                let got = index.kneighbors(qm, k, 37).unwrap();
                                assert_eq!(
                                    got.indices, expected.indices,
                                    "{metric:?} {algorithm:?} {k}"
                                );
                                assert_eq!(got.distances, expected.distances);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The brute-force filter (single precision when the scale allows,
    /// double otherwise) keeps every true neighbour at any scale and offset:
    /// tiny coordinates (`f32` underflow), huge ones (past the single
    /// precision range), a large common offset (cancellation), and the
    /// 20-D integer grid (exact ties).
    #[test]
    fn brute_kneighbors_exact_at_any_scale() {
        let (n, d) = (600, 20);
        let base = data(n, d, 13);
        let grid: Vec<f64> = (0..n * d).map(|k| ((k * 7 + k / 13) % 3) as f64).collect();
        let cases: Vec<(Vec<f64>, &str)> = vec![
            (base.iter().map(|v| v * 1e-25).collect(), "tiny"),
            (base.iter().map(|v| v * 1e-42).collect(), "subnormal"),
            (base.iter().map(|v| v * 1e20).collect(), "huge"),
            (base.iter().map(|v| v + 1e9).collect(), "offset"),
            (
                base.iter().map(|v| v * 1e-3 + 1e4).collect(),
                "offset small",
            ),
            (grid, "grid"),
        ];
        for (x, what) in &cases {
            let xm = MatRef::from_row_major_slice(x, n, d);
            let q: Vec<f64> = x[..90 * d].iter().rev().copied().collect();
            let qm = MatRef::from_row_major_slice(&q, 90, d);
            let index = NeighborIndex::build(
                xm,
                Metric::Euclidean,
                IndexParams {
                    algorithm: Algorithm::Brute,
                    leaf_size: 0,
                },
            )
            .unwrap();
            for k in [1, 4, 30] {
                for (queries, qmat) in [(&x[..], xm), (&q[..], qm)] {
                    let want = knn_reference(x, queries, d, Metric::Euclidean, k);
                    let got = index.kneighbors(qmat, k, 50).unwrap();
                    assert_eq!(got.indices, want.indices, "{what} k={k}");
                    assert_eq!(got.distances, want.distances, "{what} k={k}");
                }
            }
        }
    }

    /// Auto on data a tree prunes poorly (10-D, few points per dimension
    /// split): queries move to the tree-ordered brute-force index, with the
    /// same answers for the data itself, new queries, any chunk size and
    /// thread count; data a tree prunes well stay on the tree.
    #[test]
    fn auto_moves_poorly_pruned_queries_to_brute_force() {
        let (n, d) = (3000, 10);
        let x = data(n, d, 21);
        let xm = MatRef::from_row_major_slice(&x, n, d);
        let q: Vec<f64> = x.iter().map(|v| v * 0.9 + 0.05).collect();
        let qm = MatRef::from_row_major_slice(&q, n, d);
        for k in [1, 7, 21] {
            let index =
                NeighborIndex::build(xm, Metric::Euclidean, IndexParams::default()).unwrap();
            assert!(index.uses_tree());
            let want = knn_reference(&x, &x, d, Metric::Euclidean, k);
            let run = |threads, chunk| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| index.kneighbors(xm, k, chunk).unwrap())
            };
            assert_eq!(run(1, 0), want, "k={k}");
            if k == 21 {
                assert!(index.brute_knn.get().is_some(), "brute force not chosen");
            }
            assert_eq!(run(3, 37), want);
            let got = index.kneighbors(qm, k, 100).unwrap();
            assert_eq!(got, knn_reference(&x, &q, d, Metric::Euclidean, k));
        }
        // A 2-D grid of many points: the tree prunes well and keeps the queries.
        let (n, d) = (20_000, 2);
        let x: Vec<f64> = (0..n)
            .flat_map(|i| [(i % 141) as f64 * 0.7, (i / 141) as f64 * 1.3])
            .collect();
        let xm = MatRef::from_row_major_slice(&x, n, d);
        let index = NeighborIndex::build(xm, Metric::Euclidean, IndexParams::default()).unwrap();
        let got = index.kneighbors(xm.subrows(0, 500), 5, 0).unwrap();
        assert!(index.brute_knn.get().is_none());
        assert_eq!(
            got,
            knn_reference(&x, &x[..500 * d], d, Metric::Euclidean, 5)
        );
    }

    #[test]
    fn kneighbors_independent_of_thread_count_and_checks_k() {
        let (n, d) = (2000, 18);
        let x = data(n, d, 9);
        let xm = MatRef::from_row_major_slice(&x, n, d);
        for algorithm in [Algorithm::KdTree, Algorithm::Brute, Algorithm::Auto] {
            let index = NeighborIndex::build(
                xm,
                Metric::Euclidean,
                IndexParams {
                    algorithm,
                    leaf_size: 0,
                },
            )
            .unwrap();
            let run = |threads| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| index.kneighbors(xm, 6, 100).unwrap())
            };
            let one = run(1);
            assert_eq!(run(3), one);
            assert_eq!(index.kneighbors(xm, 6, 0).unwrap(), one);
            assert!(index.kneighbors(xm, 0, 0).is_err());
            let e = index.kneighbors(xm, n + 1, 0).unwrap_err();
            assert!(e.to_string().contains(&format!("{}", n + 1)), "{e}");
        }
    }

    #[test]
    fn kneighbors_of_queries_whose_distances_overflow() {
        // A coordinate of 1e300 overflows the squared distances (and the
        // brute-force filter's norms) to infinity: every query still gets k
        // neighbours, at infinite distance, ties to the smaller index.
        let (n, d, k) = (300, 6, 5);
        let x = data(n, d, 4);
        let xm = MatRef::from_row_major_slice(&x, n, d);
        let mut q = x.clone();
        q[5 * d] = 1e300;
        q[7 * d + 2] = -1e300;
        let qm = MatRef::from_row_major_slice(&q, n, d);
        for metric in [Metric::Euclidean, Metric::Manhattan, Metric::Minkowski(3.0)] {
            for algorithm in [Algorithm::KdTree, Algorithm::Brute, Algorithm::Auto] {
                let index = NeighborIndex::build(
                    xm,
                    metric,
                    IndexParams {
                        algorithm,
                        leaf_size: 0,
                    },
                )
                .unwrap();
                for chunk in [0, 64] {
                    let nb = index.kneighbors(qm, k, chunk).unwrap();
                    assert_eq!(nb.indices.len(), n * k);
                    if metric != Metric::Manhattan {
                        for row in [5, 7] {
                            let dist = &nb.distances[row * k..(row + 1) * k];
                            assert!(dist.iter().all(|v| v.is_infinite()), "{dist:?}");
                            assert_eq!(nb.indices[row * k..(row + 1) * k], [0, 1, 2, 3, 4]);
                        }
                    }
                    assert_eq!(nb, knn_reference(&x, &q, d, metric, k));
                }
            }
        }
    }

    #[test]
    fn distances_of_radius_lists() {
        let (n, d) = (300, 3);
        let x = data(n, d, 2);
        let xm = MatRef::from_row_major_slice(&x, n, d);
        let index = NeighborIndex::build(xm, Metric::Manhattan, IndexParams::default()).unwrap();
        let nb = index.radius_neighbors(xm, 1.0, 0).unwrap();
        let dist = index.distances_of(xm, &nb).unwrap();
        for i in 0..n {
            for (t, &j) in nb.row(i).iter().enumerate() {
                let want = Metric::Manhattan.rdist(
                    &x[i * d..(i + 1) * d],
                    &x[j as usize * d..(j as usize + 1) * d],
                );
                assert_eq!(dist[nb.offsets[i] + t], want);
                assert!(want <= 1.0);
            }
        }
    }

    #[test]
    fn exact_radius_on_integer_grid_in_many_dimensions() {
        // 20-D integer points: the brute-force product filter sees exact
        // ties at distance 1 and 2 and must keep them.
        let (n, d) = (400, 20);
        let x: Vec<f64> = (0..n * d).map(|k| ((k * 7 + k / 13) % 3) as f64).collect();
        let xm = MatRef::from_row_major_slice(&x, n, d);
        for radius in [1.0, 2.0, 3.0_f64.sqrt()] {
            let expected = reference(&x, d, Metric::Euclidean, radius);
            for algorithm in [Algorithm::KdTree, Algorithm::Brute] {
                let index = NeighborIndex::build(
                    xm,
                    Metric::Euclidean,
                    IndexParams {
                        algorithm,
                        leaf_size: 8,
                    },
                )
                .unwrap();
                assert_eq!(index.radius_neighbors_self(radius, 0).unwrap(), expected);
            }
        }
    }

    #[test]
    fn independent_of_thread_count() {
        let (n, d) = (3000, 4);
        let x = data(n, d, 3);
        let xm = MatRef::from_row_major_slice(&x, n, d);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    NeighborIndex::build(xm, Metric::Euclidean, IndexParams::default())
                        .unwrap()
                        .radius_neighbors_self(0.5, 100)
                        .unwrap()
                })
        };
        let one = run(1);
        assert_eq!(run(3), one);
        assert_eq!(run(4), one);
    }

    #[test]
    fn any_layout_and_dtype() {
        let (n, d) = (200, 3);
        let x = data(n, d, 11);
        let xt: Vec<f64> = (0..n * d).map(|k| x[(k % n) * d + k / n]).collect();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let rows = rows_f64(MatRef::from_row_major_slice(&x, n, d), "X").unwrap();
        assert_eq!(rows, x);
        let cols = rows_f64(MatRef::from_column_major_slice(&xt, n, d), "X").unwrap();
        assert_eq!(cols, x);
        let narrow = rows_f64(MatRef::from_row_major_slice(&x32, n, d), "X").unwrap();
        assert!(narrow.iter().zip(&x).all(|(&a, &b)| a == b as f32 as f64));
    }

    #[test]
    fn errors_name_the_problem() {
        let mut x = vec![0.0f32; 12];
        x[7] = f32::NAN;
        let xm = MatRef::from_row_major_slice(&x, 4, 3);
        let e = NeighborIndex::build(xm, Metric::Euclidean, IndexParams::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("row 2, column 1"), "{e}");
        let ok = vec![0.0f64; 12];
        let index = NeighborIndex::build(
            MatRef::from_row_major_slice(&ok, 4, 3),
            Metric::Euclidean,
            IndexParams::default(),
        )
        .unwrap();
        assert!(index.radius_neighbors_self(-1.0, 0).is_err());
        let two = vec![0.0f64; 4];
        let e = index
            .radius_neighbors(MatRef::from_row_major_slice(&two, 2, 2), 1.0, 0)
            .unwrap_err();
        assert!(matches!(
            e,
            Error::ShapeMismatch {
                expected: 3,
                got: 2,
                ..
            }
        ));
        let empty: Vec<f64> = vec![];
        assert!(NeighborIndex::build(
            MatRef::from_row_major_slice(&empty, 0, 3),
            Metric::Euclidean,
            IndexParams::default()
        )
        .is_err());
        assert!(Algorithm::from_name("octree").is_err());
    }

    #[test]
    fn precomputed_thresholds_in_the_matrix_dtype() {
        let dist = [0.0f32, 0.3, 0.5, 0.3, 0.0, 0.31, 0.5, 0.31, 0.0];
        let nb = radius_neighbors_precomputed(MatRef::from_row_major_slice(&dist, 3, 3), 0.3, 2)
            .unwrap();
        assert_eq!(nb.row(0), &[0, 1]);
        assert_eq!(nb.row(1), &[0, 1]);
        assert_eq!(nb.row(2), &[2]);
        let rect = [0.0f64; 6];
        assert!(
            radius_neighbors_precomputed(MatRef::from_row_major_slice(&rect, 2, 3), 1.0, 0)
                .is_err()
        );
    }
}
