//! Brute-force radius search, for data of many dimensions where trees
//! stop pruning.
//!
//! Euclidean: a tile of queries against a tile of points goes through one
//! matrix product, `‖x‖² − 2 x·y + ‖y‖²` on centred data, as a filter with a
//! rigorous rounding margin; every candidate it passes is then decided by
//! its exact, difference-based reduced distance (the same arithmetic as the
//! tree and as scikit-learn's `rdist`), so the answer does not depend on the
//! product's rounding. Other metrics: the exact distance of every pair,
//! vectorised across points.

use super::kdtree::scan_block;
use super::metric::{rdist_with, Euclid, Reduce};
use super::topk::TopK;
use crate::simd::multiversion;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Points per tile of the brute-force scan.
const TILE: usize = 1024;

/// The data of a brute-force search.
#[derive(Debug, Clone)]
pub struct BruteIndex {
    n: usize,
    d: usize,
    /// Coordinates, dimension-major: `xt[j * n + i]`.
    xt: Vec<f64>,
    /// Euclidean only: the column means, the centred data (n×d) and the
    /// squared norms of its rows.
    centred: Option<(Vec<f64>, Mat<f64>, Vec<f64>)>,
}

impl BruteIndex {
    /// The index of `x`, `n` rows of `d` coordinates (row-major, finite);
    /// `euclidean` prepares the matrix-product filter.
    pub fn build(x: &[f64], n: usize, d: usize, euclidean: bool) -> BruteIndex {
        let mut xt = vec![0.0; n * d];
        for (i, row) in x.chunks_exact(d.max(1)).enumerate().take(n) {
            for (j, &v) in row.iter().enumerate() {
                xt[j * n + i] = v;
            }
        }
        let centred = euclidean.then(|| {
            let mut mean = vec![0.0; d];
            for row in x.chunks_exact(d.max(1)).take(n) {
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            for m in &mut mean {
                *m /= n.max(1) as f64;
            }
            let xc = Mat::from_fn(n, d, |i, j| x[i * d + j] - mean[j]);
            let norms = (0..n)
                .map(|i| (0..d).map(|j| xc[(i, j)] * xc[(i, j)]).sum())
                .collect();
            (mean, xc, norms)
        });
        BruteIndex { n, d, xt, centred }
    }
}

/// Radius search of each row of `rows` (row-major) against `index`, exact
/// reduced distance `<= r_red`; appends sorted indices to `out` and counts
/// to `lens`, returns the number found. `x` is the data, row-major.
pub(crate) fn radius_rows_euclidean(
    index: &BruteIndex,
    x: &[f64],
    rows: &[f64],
    r_red: f64,
    lens: &mut Vec<u32>,
    out: &mut Vec<u32>,
) -> usize {
    let (n, d) = (index.n, index.d);
    let Some((mean, xc, norms)) = &index.centred else {
        return radius_rows_direct(index, Euclid, rows, r_red, lens, out);
    };
    let nq = rows.len() / d.max(1);
    let qc = Mat::from_fn(nq, d, |i, j| rows[i * d + j] - mean[j]);
    let qn: Vec<f64> = (0..nq)
        .map(|i| (0..d).map(|j| qc[(i, j)] * qc[(i, j)]).sum())
        .collect();
    // The product's value differs from the exact squared distance of the
    // centred points by at most about (d + 2) u (‖x‖² + ‖y‖²), and centring
    // (one rounding per coordinate) moves the distance by at most about
    // 2 u (‖x‖² + ‖y‖² + r²) near the radius; the margin is four times
    // their sum, so no neighbour is ever filtered out.
    let slack = 4.0 * (d as f64 + 4.0) * f64::EPSILON;
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); nq];
    let mut g = Mat::<f64>::zeros(nq, TILE.min(n));
    for t0 in (0..n).step_by(TILE) {
        let t1 = (t0 + TILE).min(n);
        let mut gt = g.as_mut().subcols_mut(0, t1 - t0);
        matmul(
            gt.as_mut(),
            Accum::Replace,
            qc.as_ref(),
            xc.as_ref().subrows(t0, t1 - t0).transpose(),
            1.0,
            Par::Seq,
        );
        let filter = Filter {
            qn: &qn,
            xn: &norms[t0..t1],
            r_red,
            slack,
            t0,
            rows,
            x,
            d,
        };
        candidates(Euclid, &filter, gt.as_ref(), &mut lists);
    }
    let first = out.len();
    for l in lists {
        lens.push(l.len() as u32);
        out.extend_from_slice(&l);
    }
    out.len() - first
}

/// What the exact check of one tile needs besides the product.
struct Filter<'a> {
    /// Squared norms of the centred queries.
    qn: &'a [f64],
    /// Squared norms of the tile's centred points.
    xn: &'a [f64],
    r_red: f64,
    /// Relative margin of the filter.
    slack: f64,
    /// Index of the tile's first point.
    t0: usize,
    /// The queries, row-major, uncentred.
    rows: &'a [f64],
    /// The data, row-major, uncentred.
    x: &'a [f64],
    d: usize,
}

multiversion! {
    /// Exact check of the pairs of one tile that pass the product's filter;
    /// returns how many were neighbours.
    fn candidates<M: Reduce>(
        m: M,
        f: &Filter<'_>,
        g: MatRef<'_, f64>,
        lists: &mut [Vec<u32>],
    ) -> usize
    => candidates_portable
}

#[inline(always)]
fn candidates_portable<M: Reduce>(
    m: M,
    f: &Filter<'_>,
    g: MatRef<'_, f64>,
    lists: &mut [Vec<u32>],
) -> usize {
    let d = f.d;
    let mut found = 0;
    for (t, &nt) in f.xn.iter().enumerate() {
        let col = g.col(t);
        let point = &f.x[(f.t0 + t) * d..(f.t0 + t + 1) * d];
        for (i, &ni) in f.qn.iter().enumerate() {
            let approx = ni + nt - 2.0 * col[i];
            if approx <= f.r_red + f.slack * (ni + nt + f.r_red) {
                let q = &f.rows[i * d..(i + 1) * d];
                if rdist_with(m, q, point) <= f.r_red {
                    lists[i].push((f.t0 + t) as u32);
                    found += 1;
                }
            }
        }
    }
    found
}

multiversion! {
    /// Exact reduced distance of every pair, vectorised across points.
    pub(crate) fn radius_rows_direct<M: Reduce>(
        index: &BruteIndex,
        m: M,
        rows: &[f64],
        r_red: f64,
        lens: &mut Vec<u32>,
        out: &mut Vec<u32>,
    ) -> usize
    => radius_rows_direct_portable
}

#[inline(always)]
fn radius_rows_direct_portable<M: Reduce>(
    index: &BruteIndex,
    m: M,
    rows: &[f64],
    r_red: f64,
    lens: &mut Vec<u32>,
    out: &mut Vec<u32>,
) -> usize {
    let (n, d) = (index.n, index.d);
    let mut acc = vec![0.0; TILE.min(n)];
    let first = out.len();
    for q in rows.chunks_exact(d.max(1)) {
        let from = out.len();
        for t0 in (0..n).step_by(TILE) {
            let acc = &mut acc[..(n - t0).min(TILE)];
            scan_block(m, q, &index.xt, n, t0, acc);
            for (k, &a) in acc.iter().enumerate() {
                if a <= r_red {
                    out.push((t0 + k) as u32);
                }
            }
        }
        lens.push((out.len() - from) as u32);
    }
    out.len() - first
}

/// Points per tile of the fused k-nearest kernel (its product tile, points
/// × queries of one chunk, stays in cache).
const KNN_TILE: usize = 512;

/// k-nearest search of each row of `rows` (row-major) against `index`:
/// appends each query's `k` best `(reduced distance, index)`, best first,
/// to `rds` and `idx`; returns the number of queries. `x` is the data,
/// row-major. Euclidean: each tile of points goes through one matrix
/// product with the chunk's queries, used only as a filter against each
/// query's running k-th best (with a rigorous rounding margin); candidates
/// that pass are ranked by their exact, difference-based distance. The full
/// distance matrix is never formed.
pub(crate) fn knn_rows_euclidean(
    index: &BruteIndex,
    x: &[f64],
    rows: &[f64],
    k: usize,
    rds: &mut Vec<f64>,
    idx: &mut Vec<u32>,
) -> usize {
    let (n, d) = (index.n, index.d);
    let Some((mean, xc, norms)) = &index.centred else {
        return knn_rows_direct(index, Euclid, rows, k, rds, idx);
    };
    let nq = rows.len() / d.max(1);
    let qc = Mat::from_fn(nq, d, |i, j| rows[i * d + j] - mean[j]);
    let qn: Vec<f64> = (0..nq)
        .map(|i| (0..d).map(|j| qc[(i, j)] * qc[(i, j)]).sum())
        .collect();
    // As in the radius filter (see there): four times the product's and
    // the centring's rounding bounds.
    let slack = 4.0 * (d as f64 + 4.0) * f64::EPSILON;
    let mut best: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
    let mut g = Mat::<f64>::zeros(KNN_TILE.min(n), nq);
    for t0 in (0..n).step_by(KNN_TILE) {
        let t1 = (t0 + KNN_TILE).min(n);
        let mut gt = g.as_mut().subrows_mut(0, t1 - t0);
        matmul(
            gt.as_mut(),
            Accum::Replace,
            xc.as_ref().subrows(t0, t1 - t0),
            qc.as_ref().transpose(),
            1.0,
            Par::Seq,
        );
        let xn = &norms[t0..t1];
        let max_n = xn.iter().fold(0.0f64, |a, &b| a.max(b));
        let tile = KnnTile {
            qn: &qn,
            xn,
            max_n,
            slack,
            t0,
            rows,
            x,
            d,
        };
        knn_tile(Euclid, &tile, gt.as_ref(), &mut best);
    }
    for b in &mut best {
        b.drain_sorted(rds, idx);
    }
    nq
}

/// What the exact check of one k-nearest tile needs besides the product.
struct KnnTile<'a> {
    qn: &'a [f64],
    xn: &'a [f64],
    /// Largest squared norm of the tile's points (bounds the margin).
    max_n: f64,
    slack: f64,
    t0: usize,
    rows: &'a [f64],
    x: &'a [f64],
    d: usize,
}

multiversion! {
    /// Offers the candidates of one tile (product `g`: points × queries)
    /// that pass the filter to each query's running top-k.
    fn knn_tile<M: Reduce>(
        m: M,
        f: &KnnTile<'_>,
        g: MatRef<'_, f64>,
        best: &mut [TopK],
    ) -> usize
    => knn_tile_portable
}

#[inline(always)]
fn knn_tile_portable<M: Reduce>(
    m: M,
    f: &KnnTile<'_>,
    g: MatRef<'_, f64>,
    best: &mut [TopK],
) -> usize {
    let d = f.d;
    let mut checked = 0;
    let mut buf = Vec::new();
    for (i, (&ni, b)) in f.qn.iter().zip(best.iter_mut()).enumerate() {
        let col = match g.col(i).try_as_col_major() {
            Some(c) => c.as_slice(),
            None => {
                buf.clear();
                buf.extend((0..g.nrows()).map(|t| g[(t, i)]));
                &buf[..]
            }
        };
        let q = &f.rows[i * d..(i + 1) * d];
        let mut bound = b.bound();
        // approx = ni + nt - 2 g <= bound + slack (ni + nt + bound), with
        // nt bounded by the tile's largest norm in the margin.
        let mut thr = bound + f.slack * (ni + f.max_n + bound) - ni;
        // Blocks of 16 points: a branch-free minimum first (it vectorises),
        // so the scalar check runs only on blocks holding a candidate.
        const B: usize = 16;
        let len = f.xn.len();
        let mut t0 = 0;
        while t0 < len {
            let t1 = (t0 + B).min(len);
            let mut low = f64::INFINITY;
            for (&nt, &gt) in f.xn[t0..t1].iter().zip(&col[t0..t1]) {
                let v = nt - 2.0 * gt;
                low = if v < low { v } else { low };
            }
            if low <= thr {
                for t in t0..t1 {
                    if f.xn[t] - 2.0 * col[t] <= thr {
                        let j = f.t0 + t;
                        let rd = rdist_with(m, q, &f.x[j * d..(j + 1) * d]);
                        checked += 1;
                        if rd <= bound {
                            b.push(rd, j as u32);
                            bound = b.bound();
                            thr = bound + f.slack * (ni + f.max_n + bound) - ni;
                        }
                    }
                }
            }
            t0 = t1;
        }
    }
    checked
}

multiversion! {
    /// k-nearest search with the exact reduced distance of every pair,
    /// vectorised across points.
    pub(crate) fn knn_rows_direct<M: Reduce>(
        index: &BruteIndex,
        m: M,
        rows: &[f64],
        k: usize,
        rds: &mut Vec<f64>,
        idx: &mut Vec<u32>,
    ) -> usize
    => knn_rows_direct_portable
}

#[inline(always)]
fn knn_rows_direct_portable<M: Reduce>(
    index: &BruteIndex,
    m: M,
    rows: &[f64],
    k: usize,
    rds: &mut Vec<f64>,
    idx: &mut Vec<u32>,
) -> usize {
    let (n, d) = (index.n, index.d);
    let mut acc = vec![0.0; TILE.min(n)];
    let mut best = TopK::new(k);
    let mut nq = 0;
    for q in rows.chunks_exact(d.max(1)) {
        nq += 1;
        for t0 in (0..n).step_by(TILE) {
            let acc = &mut acc[..(n - t0).min(TILE)];
            scan_block(m, q, &index.xt, n, t0, acc);
            for (t, &a) in acc.iter().enumerate() {
                if a <= best.bound() {
                    best.push(a, (t0 + t) as u32);
                }
            }
        }
        best.drain_sorted(rds, idx);
    }
    nq
}
