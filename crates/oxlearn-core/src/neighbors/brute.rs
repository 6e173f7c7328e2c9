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
    /// Euclidean k-nearest filter in single precision (twice the product's
    /// speed): the centred data rounded to `f32` and the squared norms of
    /// the `f64` centred rows rounded to `f32`; `None` when the data's
    /// scale is outside what the filter's margin covers.
    single: Option<(Mat<f32>, Vec<f32>)>,
    /// Original index of each stored point when the points are stored in
    /// another order (k-nearest queries only; see [`BruteIndex::build_ordered`]).
    order: Option<Vec<u32>>,
    /// With `order`: the points in that order, row-major (the exact checks
    /// of a tile then read neighbouring memory).
    rows: Vec<f64>,
    /// With `order`: the bounding box of each k-nearest tile's points
    /// (lower then upper corner, `2 d` per tile), to skip tiles too far
    /// from a chunk of queries.
    tile_boxes: Vec<f64>,
}

/// Largest squared norm (centred) for which the single-precision filter is
/// used: products and sums then stay far from `f32` overflow.
const SINGLE_MAX_NORM: f64 = 1e30;

impl BruteIndex {
    /// The index of `x`, `n` rows of `d` coordinates (row-major, finite);
    /// `euclidean` prepares the matrix-product filter.
    pub fn build(x: &[f64], n: usize, d: usize, euclidean: bool) -> BruteIndex {
        Self::build_in(x, n, d, euclidean, None)
    }

    /// A euclidean index for k-nearest queries only, with the points stored
    /// in `order` (original indices; a kd-tree's order keeps near points in
    /// the same tiles, so a query's first tile can be its own neighbourhood).
    pub(crate) fn build_ordered(x: &[f64], n: usize, d: usize, order: &[u32]) -> BruteIndex {
        Self::build_in(x, n, d, true, Some(order))
    }

    /// Whether the points are stored in another order than the data's.
    pub(crate) fn is_ordered(&self) -> bool {
        self.order.is_some()
    }

    fn build_in(
        x: &[f64],
        n: usize,
        d: usize,
        euclidean: bool,
        order: Option<&[u32]>,
    ) -> BruteIndex {
        let src = |i: usize| order.map_or(i, |o| o[i] as usize);
        // The dimension-major copy serves the direct (non-product) scans,
        // which an ordered index never runs.
        let mut xt = vec![0.0; if order.is_some() { 0 } else { n * d }];
        if order.is_none() {
            for (i, row) in x.chunks_exact(d.max(1)).enumerate().take(n) {
                for (j, &v) in row.iter().enumerate() {
                    xt[j * n + i] = v;
                }
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
            let xc = Mat::from_fn(n, d, |i, j| x[src(i) * d + j] - mean[j]);
            let norms: Vec<f64> = (0..n)
                .map(|i| (0..d).map(|j| xc[(i, j)] * xc[(i, j)]).sum())
                .collect();
            (mean, xc, norms)
        });
        let single = centred.as_ref().and_then(|(_, xc, norms)| {
            let max_n = norms.iter().fold(0.0f64, |a, &b| a.max(b));
            (max_n <= SINGLE_MAX_NORM).then(|| {
                (
                    Mat::from_fn(n, d, |i, j| xc[(i, j)] as f32),
                    norms.iter().map(|&v| v as f32).collect(),
                )
            })
        });
        BruteIndex {
            n,
            d,
            xt,
            centred,
            single,
            order: order.map(<[u32]>::to_vec),
            rows: match order {
                Some(o) => o
                    .iter()
                    .flat_map(|&i| &x[i as usize * d..(i as usize + 1) * d])
                    .copied()
                    .collect(),
                None => Vec::new(),
            },
            tile_boxes: match order {
                Some(o) => o
                    .chunks(KNN_TILE)
                    .flat_map(|tile| {
                        let mut b = vec![f64::INFINITY; d];
                        b.resize(2 * d, f64::NEG_INFINITY);
                        for &i in tile {
                            let row = &x[i as usize * d..(i as usize + 1) * d];
                            for (j, &v) in row.iter().enumerate() {
                                b[j] = b[j].min(v);
                                b[d + j] = b[d + j].max(v);
                            }
                        }
                        b
                    })
                    .collect(),
                None => Vec::new(),
            },
        }
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
    debug_assert!(
        index.order.is_none(),
        "an ordered index answers k-nearest queries only"
    );
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
/// The tiles are taken in turn from the one holding stored position
/// `first` (wrapping around): with an ordered index, the position of the
/// queries' own neighbourhood, so that the first tile's cap is tight.
#[allow(clippy::too_many_arguments)]
pub(crate) fn knn_rows_euclidean(
    index: &BruteIndex,
    x: &[f64],
    rows: &[f64],
    k: usize,
    first: usize,
    rds: &mut Vec<f64>,
    idx: &mut Vec<u32>,
) -> usize {
    let (n, d) = (index.n, index.d);
    let Some((mean, xc, norms)) = &index.centred else {
        debug_assert!(index.order.is_none());
        return knn_rows_direct(index, Euclid, rows, k, rds, idx);
    };
    let order = index.order.as_deref();
    // The rows the exact checks read, in stored order.
    let x = if order.is_some() { &index.rows[..] } else { x };
    let nq = rows.len() / d.max(1);
    let qc = Mat::from_fn(nq, d, |i, j| rows[i * d + j] - mean[j]);
    let qn: Vec<f64> = (0..nq)
        .map(|i| (0..d).map(|j| qc[(i, j)] * qc[(i, j)]).sum())
        .collect();
    let mut best: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
    if let Some((xc32, norms32)) = &index.single {
        if qn.iter().all(|&v| v <= SINGLE_MAX_NORM) {
            knn_single(
                index, xc32, norms32, norms, x, rows, &qc, &qn, first, &mut best,
            );
            for b in &mut best {
                b.drain_sorted(rds, idx);
            }
            return nq;
        }
    }
    // As in the radius filter (see there): four times the product's and
    // the centring's rounding bounds.
    let slack = 4.0 * (d as f64 + 4.0) * f64::EPSILON;
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
            caps: None,
            xn,
            max_n,
            slack,
            t0,
            order,
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

/// What the exact check of one k-nearest tile needs besides the product
/// (elements `T`: `f64` for the double-precision filter of
/// [`knn_rows_euclidean`], `f32` for the single-precision one of
/// [`knn_single`]).
struct KnnTile<'a, T> {
    /// Squared norms of the centred queries (`f64`).
    qn: &'a [f64],
    /// Single precision only: per query, a proven upper bound of its k-th
    /// best reduced distance (from the first tile's filter values, see
    /// [`single_caps`]; infinity when unknown).
    caps: Option<&'a [f64]>,
    /// Squared norms of the tile's points.
    xn: &'a [T],
    /// Largest squared norm of the tile's points (`f64`; bounds the margin).
    max_n: f64,
    slack: f64,
    t0: usize,
    /// Original index of each stored point, if reordered.
    order: Option<&'a [u32]>,
    rows: &'a [f64],
    x: &'a [f64],
    d: usize,
}

/// What differs between the double- and single-precision k-nearest filters
/// ([`knn_tile_portable`] is one body for both): the product's element
/// type, the threshold a query's running bound gives, how a point is tested
/// against it, and the block size of the branch-free pre-count.
trait KnnFilter: Copy {
    /// Points per block whose passing points are counted before any is
    /// looked at; a block of more than [`SUB_BLOCK`] points holding one is
    /// counted again in sub-blocks of [`SUB_BLOCK`].
    const BLOCK: usize;
    /// The filter threshold of a query of squared norm `ni` whose running
    /// (capped) k-th best is `bound`, with the tile's largest norm `max_n`.
    fn threshold(bound: f64, slack: f64, ni: f64, max_n: f64) -> Self;
    /// Whether a point of squared norm `nt` and product `g` with the query
    /// passes threshold `thr` (goes to the exact check).
    fn passes(nt: Self, g: Self, thr: Self) -> bool;
}

/// Points per sub-block of a [`KnnFilter::BLOCK`] holding a candidate.
const SUB_BLOCK: usize = 16;

impl KnnFilter for f64 {
    // Blocks of 16 points: a branch-free test first (it vectorises), so the
    // scalar check runs only on blocks holding a candidate.
    const BLOCK: usize = SUB_BLOCK;

    #[inline(always)]
    fn threshold(bound: f64, slack: f64, ni: f64, max_n: f64) -> f64 {
        // approx = ni + nt - 2 g <= bound + slack (ni + nt + bound), with
        // nt bounded by the tile's largest norm in the margin.
        bound + slack * (ni + max_n + bound) - ni
    }

    // `!(a > thr)`, not `a <= thr`: when a query's squared norm overflows
    // (coordinates near 1e300) the filter's terms are infinite and `thr` or
    // `a` NaN; such candidates then go to the exact check instead of being
    // dropped (a query would get fewer than k neighbours).
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    #[inline(always)]
    fn passes(nt: f64, g: f64, thr: f64) -> bool {
        !(nt - 2.0 * g > thr)
    }
}

impl KnnFilter for f32 {
    // Blocks of 128 points, then sub-blocks of 16, then single points.
    const BLOCK: usize = 128;

    #[inline(always)]
    fn threshold(bound: f64, slack: f64, ni: f64, max_n: f64) -> f32 {
        single_threshold(bound, slack, ni, max_n)
    }

    // `a <= thr`, as the single-precision filter always had it: it runs only
    // when every norm is at most `SINGLE_MAX_NORM`, so no NaN arises there.
    #[inline(always)]
    fn passes(nt: f32, g: f32, thr: f32) -> bool {
        nt - 2.0 * g <= thr
    }
}

multiversion! {
    /// Offers the candidates of one double-precision tile (product `g`:
    /// points × queries) that pass the filter to each query's running top-k.
    fn knn_tile<M: Reduce>(
        m: M,
        f: &KnnTile<'_, f64>,
        g: MatRef<'_, f64>,
        best: &mut [TopK],
    ) -> usize
    => knn_tile_portable
}

multiversion! {
    /// Offers the candidates of one single-precision tile (product `g`:
    /// points × queries) that pass the filter to each query's top-k.
    fn knn_tile_single<M: Reduce>(
        m: M,
        f: &KnnTile<'_, f32>,
        g: MatRef<'_, f32>,
        best: &mut [TopK],
    ) -> usize
    => knn_tile_portable
}

/// How many of the points `xn` (products `g`) pass `thr`: a count, not a
/// minimum, as an integer sum vectorises and a floating-point minimum does
/// not.
#[inline(always)]
fn count_passing<T: KnnFilter>(xn: &[T], g: &[T], thr: T) -> u32 {
    let mut hits = 0u32;
    for (&nt, &gt) in xn.iter().zip(g) {
        hits += T::passes(nt, gt, thr) as u32;
    }
    hits
}

/// The body of [`knn_tile`] and [`knn_tile_single`]; returns the number of
/// exact checks.
#[inline(always)]
fn knn_tile_portable<M: Reduce, T: KnnFilter>(
    m: M,
    f: &KnnTile<'_, T>,
    g: MatRef<'_, T>,
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
        let cap = f.caps.map(|c| c[i]);
        let capped = |b: &TopK| match cap {
            Some(c) => b.bound().min(c),
            None => b.bound(),
        };
        let mut bound = capped(b);
        let mut thr = T::threshold(bound, f.slack, ni, f.max_n);
        // Blocks: a branch-free count of passing points first (it
        // vectorises), the scalar check only in blocks holding one.
        let len = f.xn.len();
        let mut t0 = 0;
        while t0 < len {
            let t1 = (t0 + T::BLOCK).min(len);
            if count_passing(&f.xn[t0..t1], &col[t0..t1], thr) == 0 {
                t0 = t1;
                continue;
            }
            // Sub-blocks, counted the same way (unless a block is one
            // sub-block: counted already), then single points.
            let mut s0 = t0;
            while s0 < t1 {
                let s1 = (s0 + SUB_BLOCK).min(t1);
                if T::BLOCK <= SUB_BLOCK || count_passing(&f.xn[s0..s1], &col[s0..s1], thr) > 0 {
                    for t in s0..s1 {
                        if T::passes(f.xn[t], col[t], thr) {
                            let jp = f.t0 + t;
                            let rd = rdist_with(m, q, &f.x[jp * d..(jp + 1) * d]);
                            let j = f.order.map_or(jp, |o| o[jp] as usize);
                            checked += 1;
                            if rd <= bound {
                                b.push(rd, j as u32);
                                bound = capped(b);
                                thr = T::threshold(bound, f.slack, ni, f.max_n);
                            }
                        }
                    }
                }
                s0 = s1;
            }
            t0 = t1;
        }
    }
    checked
}

/// The single-precision k-nearest filter of [`knn_rows_euclidean`].
///
/// Margin. Let `q`, `p` be the `f64` centred points (norms `ni`, `nt`, in
/// `f64`), `a`, `b` their `f32` roundings and `D = ‖q − p‖²`, which the exact
/// reduced distance `rd` equals to a relative `(d + 1) u64`, and which the
/// centring moved by at most `2 u64 (ni + nt)`. With `u = 2⁻²⁴`:
/// `‖a − q‖ ≤ u ‖q‖`, so `‖a − b‖² ≤ D + 6.01 u (ni + nt)`;
/// `|‖a‖² − ni| ≤ 2.01 u ni`; the `f32` product `G` of `a·b` (any summation
/// order, with or without fused multiply-add) is within
/// `γ_d ‖a‖ ‖b‖ ≤ 1.01 d u (ni + nt) / 2` of it; rounding `nt` to `f32` and
/// forming `nt − 2G` in `f32` add at most `3.01 u (ni + nt)`. So
/// `nt − 2G ≤ rd − ni + (d + 16) u (ni + nt)` whenever `rd` is finite and the
/// norms stay below [`SINGLE_MAX_NORM`]; the test uses four times that margin,
/// with `nt` bounded by the tile's largest norm, the threshold rounded up to
/// `f32`, and an absolute term for the `f32` underflow of tiny coordinates
/// (their error is absolute, not relative). No neighbour is filtered out;
/// every candidate is decided by its exact distance.
#[allow(clippy::too_many_arguments)]
fn knn_single(
    index: &BruteIndex,
    xc32: &Mat<f32>,
    norms32: &[f32],
    norms: &[f64],
    x: &[f64],
    rows: &[f64],
    qc: &Mat<f64>,
    qn: &[f64],
    first: usize,
    best: &mut [TopK],
) {
    let (n, d) = (index.n, index.d);
    let order = index.order.as_deref();
    let nq = qn.len();
    let qc32 = Mat::from_fn(nq, d, |i, j| qc[(i, j)] as f32);
    let k = best.first().map_or(0, TopK::k);
    // Four times the margin derived above (`f32::EPSILON` is `2u`).
    let slack = 2.0 * (d as f64 + 16.0) * f64::from(f32::EPSILON);
    let mut g = Mat::<f32>::zeros(KNN_TILE.min(n), nq);
    let mut caps = vec![f64::INFINITY; nq];
    let n_tiles = n.div_ceil(KNN_TILE);
    let first_tile = (first / KNN_TILE).min(n_tiles.saturating_sub(1));
    // Tiles in turn from the first; with tile boxes, the others by their
    // lower bound of the distance to the chunk's box, nearest first, and
    // none once that bound exceeds every query's k-th best (the bounds
    // only shrink, so no later tile could hold a neighbour; a tile exactly
    // at the bound is still scanned, for ties with smaller indices).
    let mut tiles: Vec<(f64, usize)> = (0..n_tiles)
        .map(|s| (0.0, (first_tile + s) % n_tiles))
        .collect();
    let boxed = !index.tile_boxes.is_empty() && nq > 0;
    if boxed {
        let mut qbox = vec![f64::INFINITY; d];
        qbox.resize(2 * d, f64::NEG_INFINITY);
        for q in rows.chunks_exact(d) {
            for (j, &v) in q.iter().enumerate() {
                qbox[j] = qbox[j].min(v);
                qbox[d + j] = qbox[d + j].max(v);
            }
        }
        for t in tiles.iter_mut().skip(1) {
            let b = &index.tile_boxes[2 * d * t.1..2 * d * (t.1 + 1)];
            let mut lb = 0.0;
            for j in 0..d {
                // Both differences are exact bounds of any pair's
                // difference after rounding (rounding is monotone).
                let below = b[j] - qbox[d + j];
                let above = qbox[j] - b[d + j];
                let g = if below > above { below } else { above };
                let gap = if g > 0.0 { g } else { 0.0 };
                lb += gap * gap;
            }
            t.0 = lb;
        }
        tiles[1..].sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
    for (s, &(lb, tile)) in tiles.iter().enumerate() {
        if boxed && s > 0 {
            let worst = best
                .iter()
                .zip(&caps)
                .fold(0.0f64, |w, (b, &c)| w.max(b.bound().min(c)));
            if lb > worst {
                break;
            }
        }
        let t0 = tile * KNN_TILE;
        let t1 = (t0 + KNN_TILE).min(n);
        let mut gt = g.as_mut().subrows_mut(0, t1 - t0);
        matmul(
            gt.as_mut(),
            Accum::Replace,
            xc32.as_ref().subrows(t0, t1 - t0),
            qc32.as_ref().transpose(),
            1.0f32,
            Par::Seq,
        );
        let max_n = norms[t0..t1].iter().fold(0.0f64, |a, &b| a.max(b));
        if s == 0 {
            single_caps(
                gt.as_ref(),
                &norms32[t0..t1],
                max_n,
                slack,
                d,
                k,
                qn,
                &mut caps,
            );
        }
        let tile = KnnTile {
            qn,
            caps: Some(&caps),
            xn: &norms32[t0..t1],
            max_n,
            slack,
            t0,
            order,
            rows,
            x,
            d,
        };
        knn_tile_single(Euclid, &tile, gt.as_ref(), best);
    }
}

/// From the first tile's product `g` (points × queries) and `f32` norms
/// `xn`, an upper bound of each query's k-th best reduced distance, into
/// `caps` (left infinite when the tile has fewer than `k` points). By the
/// margin of [`knn_single`], a point's reduced distance is at most its
/// filter value `xn − 2g` plus `ni + (d + 16) u (ni + nt)`, to a relative
/// `(d + 1) u64` (the exact sum) and an absolute `2 u64 (ni + nt)` (the
/// centring); so the k-th smallest filter value plus those margins (`slack`
/// is four times the first) bounds the k-th best. Queries are then
/// filtered against `min(cap, running k-th)` from the first tile on,
/// instead of checking every point of the first tile until `k` are kept.
#[allow(clippy::too_many_arguments)]
fn single_caps(
    g: MatRef<'_, f32>,
    xn: &[f32],
    max_n: f64,
    slack: f64,
    d: usize,
    k: usize,
    qn: &[f64],
    caps: &mut [f64],
) {
    if k == 0 || k > xn.len() {
        return;
    }
    let mut vals = vec![0.0f32; xn.len()];
    for (i, (&ni, cap)) in qn.iter().zip(caps.iter_mut()).enumerate() {
        for (t, v) in vals.iter_mut().enumerate() {
            *v = xn[t] - 2.0 * g[(t, i)];
        }
        let (_, &mut vk, _) = vals.select_nth_unstable_by(k - 1, f32::total_cmp);
        let c = (f64::from(vk) + ni + slack * (ni + max_n))
            * (1.0 + (d as f64 + 8.0) * f64::EPSILON)
            + SINGLE_ABS_MARGIN;
        *cap = c;
    }
}

/// Absolute margin of the single-precision filter: covers the `f32`
/// underflow of products of tiny coordinates (a few `2⁻¹⁴⁹` each).
const SINGLE_ABS_MARGIN: f64 = 1e-30;

/// The `f32` threshold of one query: `bound + slack (ni + max_n + bound) − ni`
/// (plus the absolute margin), rounded up to `f32`.
#[inline(always)]
fn single_threshold(bound: f64, slack: f64, ni: f64, max_n: f64) -> f32 {
    let t = bound + slack * (ni + max_n + bound) - ni + SINGLE_ABS_MARGIN;
    let t32 = t as f32;
    if f64::from(t32) < t {
        next_up(t32)
    } else {
        t32
    }
}

/// The next `f32` above `v` (finite or infinite `v`; `f32::next_up` needs a
/// newer Rust than the crate's minimum).
#[inline(always)]
fn next_up(v: f32) -> f32 {
    if v.is_nan() || v == f32::INFINITY {
        v
    } else if v == 0.0 {
        f32::from_bits(1)
    } else if v > 0.0 {
        f32::from_bits(v.to_bits() + 1)
    } else {
        f32::from_bits(v.to_bits() - 1)
    }
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
    debug_assert!(index.order.is_none());
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
