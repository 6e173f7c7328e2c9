//! k-means clustering with scikit-learn's semantics.
//!
//! Lloyd's algorithm as scikit-learn runs it: the data are centred on their
//! mean, labels are `argmin_j ‖c_j‖² − 2 x·c_j` (ties to the lowest index),
//! the tolerance is scaled by the mean feature variance, a run stops on
//! unchanged labels ("strict convergence") or on a small centre shift, and
//! then relabels once with the final centres; empty clusters are moved to
//! the points farthest from their centres. Greedy k-means++ seeding consumes
//! the same uniform draws as scikit-learn's `_kmeans_plusplus`, so the same
//! draws give the same seeds (up to rounding at sampling boundaries).
//!
//! The fit first copies the data once into row groups of [`LANES`] rows
//! stored feature by feature ("tiles"), so every later pass streams through
//! memory and its kernels work on eight rows at a time, one row per SIMD
//! lane. Passes run over fixed row chunks in parallel and fold the chunks'
//! partial sums in chunk order, in `f64`: the result is bit-identical for
//! any number of threads and any memory layout of the input. The kernels
//! use no fused multiply-add and give every lane the same arithmetic, so
//! labels do not depend on the CPU's SIMD level either.

use crate::linalg::chunks::{check_weights, first_non_finite};
use crate::linalg::ChunkPlan;
use crate::spmd::{sum_over_ranks, Collective, SingleProcess};
use crate::{Error, Real, Result};
use faer::MatRef;
use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Rows per tile: the kernels give each of eight rows its own SIMD lane.
const LANES: usize = 8;
/// Most points per register block of the distance kernels: six eight-lane
/// accumulators fit the sixteen AVX2 registers with room for the operands.
const MAX_J: usize = 6;

/// Splits `k` points into `(first, size)` register blocks of at most
/// [`MAX_J`], as even as possible (10 points: two blocks of 5), so that no
/// block is a single latency-bound accumulator.
fn blocks(k: usize) -> Vec<(usize, usize)> {
    let nb = k.div_ceil(MAX_J).max(1);
    let (base, rem) = (k / nb, k % nb);
    let mut out = Vec::with_capacity(nb);
    let mut j = 0;
    for b in 0..nb {
        let size = base + usize::from(b < rem);
        if size > 0 {
            out.push((j, size));
        }
        j += size;
    }
    out
}

/// `$f::<JB>(args)` with the const block size `JB = $n` (1..=[`MAX_J`]).
macro_rules! by_block {
    ($n:expr, $f:ident ( $($a:expr),* $(,)? )) => {
        match $n {
            1 => $f::<1>($($a),*),
            2 => $f::<2>($($a),*),
            3 => $f::<3>($($a),*),
            4 => $f::<4>($($a),*),
            5 => $f::<5>($($a),*),
            _ => $f::<6>($($a),*),
        }
    };
}

/// Default rows per chunk for `n_cols` columns: about 256 KiB of `f64`, so a
/// chunk stays in the core's L2 cache while it is worked on.
pub fn auto_chunk_rows(n_cols: usize) -> usize {
    ((1usize << 15) / n_cols.max(1)).clamp(256, 4096)
}

/// Rows per chunk: `chunk_rows` (0: automatic) rounded up to whole tiles.
fn chunk_rows_for(chunk_rows: usize, p: usize) -> usize {
    let c = if chunk_rows == 0 {
        auto_chunk_rows(p)
    } else {
        chunk_rows
    };
    c.div_ceil(LANES) * LANES
}

/// How the centres of one run are initialised.
#[derive(Debug, Clone, PartialEq)]
pub enum KMeansInit {
    /// Initial centres, k×p row-major, in the data's coordinates.
    Centers(Vec<f64>),
    /// Greedy k-means++ driven by uniform draws in `[0, 1)`: one that picks
    /// the first centre (with probability proportional to the sample
    /// weight), then `n_local_trials` per further centre. These are the
    /// numbers numpy's `RandomState` gives scikit-learn's `_kmeans_plusplus`,
    /// in the same order (`random_sample(1 + (k − 1) · n_local_trials)`).
    PlusPlus(Vec<f64>),
}

/// Parameters of [`fit_kmeans`].
#[derive(Debug, Clone)]
pub struct KMeansParams {
    /// Number of clusters `k`.
    pub n_clusters: usize,
    /// Maximum number of Lloyd iterations per run.
    pub max_iter: usize,
    /// Relative tolerance: runs stop once the squared centre shift summed
    /// over clusters is at most `tol` times the mean feature variance.
    pub tol: f64,
    /// Candidates per centre in k-means++ (scikit-learn: `2 + ⌊ln k⌋`).
    pub n_local_trials: usize,
    /// Rows per chunk (rounded up to a multiple of 8); 0 means
    /// [`auto_chunk_rows`].
    pub chunk_rows: usize,
}

/// The best of the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansFit {
    /// k×p row-major centres, in the data's coordinates.
    pub centers: Vec<f64>,
    /// Cluster of each sample, consistent with `centers`.
    pub labels: Vec<i32>,
    /// Weighted sum of squared distances of samples to their centres.
    pub inertia: f64,
    /// Lloyd iterations of the run kept.
    pub n_iter: usize,
}

/// The data, its chunking and (during a fit) its tiles.
struct Data<'a, T: Real> {
    x: MatRef<'a, T>,
    w: Option<&'a [T]>,
    plan: ChunkPlan,
    /// Row group `g`'s feature `f` at `tiles[(g * p + f) * LANES..][..LANES]`
    /// (zero beyond the last row); empty until built.
    tiles: Vec<f64>,
}

impl<'a, T: Real> Data<'a, T> {
    fn new(x: MatRef<'a, T>, w: Option<&'a [T]>, chunk_rows: usize) -> Self {
        let (n, p) = x.shape();
        Data {
            x,
            w,
            plan: ChunkPlan::new(n, p, chunk_rows_for(chunk_rows, p)),
            tiles: Vec::new(),
        }
    }

    fn n(&self) -> usize {
        self.x.nrows()
    }

    fn p(&self) -> usize {
        self.x.ncols()
    }

    fn weight(&self, i: usize) -> f64 {
        self.w.map_or(1.0, |w| w[i].to_f64())
    }

    fn weights(&self, rows: Range<usize>) -> Vec<f64> {
        rows.map(|i| self.weight(i)).collect()
    }

    /// Row `i` as `f64`.
    fn row(&self, i: usize) -> Vec<f64> {
        (0..self.p()).map(|j| self.x[(i, j)].to_f64()).collect()
    }

    /// The tiles of chunk rows `rows` (built by [`Data::build_tiles`]).
    fn tiles_of(&self, rows: &Range<usize>) -> &[f64] {
        let p = self.p();
        &self.tiles[rows.start * p..rows.end.div_ceil(LANES) * LANES * p]
    }

    /// Fails with the first NaN or infinity of rows `rows`, if any.
    fn check_finite(&self, rows: Range<usize>) -> Result<()> {
        match first_non_finite(self.x.subrows(rows.start, rows.len()), "X", rows.start) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Copies the data into tiles and returns the column means and the mean
    /// of the column variances (numpy's `var`, unweighted), merged over
    /// chunks in order. Fails on NaN or infinity.
    fn build_tiles(&mut self) -> Result<(Vec<f64>, f64)> {
        let (count, mean, m2) = self.build_tiles_moments()?;
        Ok((mean, var_mean(count, &m2)))
    }

    /// [`Data::build_tiles`], returning the row count, column means and
    /// column sums of squared deviations (mergeable across processes).
    fn build_tiles_moments(&mut self) -> Result<(f64, Vec<f64>, Vec<f64>)> {
        let (n, p) = (self.n(), self.p());
        let len = n.div_ceil(LANES) * LANES * p;
        let mut tiles: Vec<f64> = Vec::with_capacity(len);
        let this = &*self;
        // Written chunk by chunk in parallel, never zeroed first: a 32 MB
        // memset would cost as much as a pass.
        let (count, mean, m2) = chunk_pass(
            this.plan,
            parallel_for(n, p),
            &mut tiles.spare_capacity_mut()[..len],
            p,
            64,
            (0.0f64, vec![0.0; p], vec![0.0; p]),
            |rows, t| {
                let m = rows.len();
                fill_tiles(this.x.subrows(rows.start, m), t);
                // SAFETY: `fill_tiles` initialised every element of `t`.
                let t: &[f64] = unsafe { &*(t as *const [MaybeUninit<f64>] as *const [f64]) };
                let (sum, m2) = tile_moments(t, m, p);
                if sum.iter().any(|v| !v.is_finite()) || m2.iter().any(|v| !v.is_finite()) {
                    // A NaN or infinity makes its column's sums non-finite.
                    this.check_finite(rows)?;
                    return Err(Error::InvalidParameter {
                        name: "X",
                        reason: "its values are too large: a column sum overflows float64".into(),
                    });
                }
                let inv = 1.0 / m as f64;
                Ok((
                    m as f64,
                    sum.iter().map(|s| s * inv).collect::<Vec<_>>(),
                    m2,
                ))
            },
            |(na, mut ma, mut sa), (nb, mb, sb): (f64, Vec<f64>, Vec<f64>)| {
                // Chan, Golub & LeVeque's pairwise update.
                let n = na + nb;
                for j in 0..p {
                    let delta = mb[j] - ma[j];
                    ma[j] += delta * (nb / n);
                    sa[j] += sb[j] + delta * delta * (na * nb / n);
                }
                (n, ma, sa)
            },
        )?;
        // SAFETY: the chunks partition `0..len` (chunk sizes are whole
        // tiles) and `fill_tiles` initialised each of them.
        unsafe { tiles.set_len(len) };
        self.tiles = tiles;
        Ok((count, mean, m2))
    }
}

/// The mean of the column variances (numpy's `var`, unweighted).
fn var_mean(count: f64, m2: &[f64]) -> f64 {
    m2.iter().map(|v| v / count).sum::<f64>() / m2.len() as f64
}

thread_local! {
    /// Per-thread scratch: a chunk-sized allocation per chunk would cost
    /// page faults and zeroing on every pass.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

fn with_scratch<R>(f: impl FnOnce(&mut Vec<f64>) -> R) -> R {
    SCRATCH.with(|s| {
        let mut a = s.take();
        let r = f(&mut a);
        s.replace(a);
        r
    })
}

/// Below this many values of `X`, passes run on the calling thread: waking
/// the pool costs more than the work (and on a busy machine much more).
const PARALLEL_MIN_VALUES: usize = 1 << 16;

/// Whether a pass over an n×p input is worth running in parallel (the
/// result is the same either way).
fn parallel_for(n: usize, p: usize) -> bool {
    n.saturating_mul(p) >= PARALLEL_MIN_VALUES
}

/// Runs `map` on every chunk (in parallel when `parallel`), with that
/// chunk's part of `out` (`width` elements per row; the last chunk gets the
/// rest of `out`), and folds the results in chunk order. At most `group`
/// chunk results are alive at once.
#[allow(clippy::too_many_arguments)]
fn chunk_pass<E: Send, R: Send, A>(
    plan: ChunkPlan,
    parallel: bool,
    out: &mut [E],
    width: usize,
    group: usize,
    init: A,
    map: impl Fn(Range<usize>, &mut [E]) -> Result<R> + Sync,
    mut fold: impl FnMut(A, R) -> A,
) -> Result<A> {
    let step = plan.chunk_rows * width.max(1);
    let group = group.clamp(1, plan.n_chunks().max(1));
    let mut acc = init;
    for (g, part) in out.chunks_mut(step * group).enumerate() {
        if !parallel {
            for (c, o) in part.chunks_mut(step).enumerate() {
                acc = fold(acc, map(plan.range(g * group + c), o)?);
            }
            continue;
        }
        let results: Vec<Result<R>> = part
            .par_chunks_mut(step)
            .enumerate()
            .map(|(c, o)| map(plan.range(g * group + c), o))
            .collect();
        for r in results {
            acc = fold(acc, r?);
        }
    }
    Ok(acc)
}

/// Combines eight lane sums in a fixed order.
#[inline(always)]
fn lane_sum(a: &[f64; LANES]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Eight lanes of `f64`, one row per lane. Operations are plain element-wise
/// loops that the compiler turns into one vector instruction (or two, or
/// four, depending on the SIMD level): the same arithmetic in every lane.
#[derive(Clone, Copy)]
struct V8([f64; LANES]);

impl V8 {
    #[inline(always)]
    fn zero() -> V8 {
        V8([0.0; LANES])
    }

    #[inline(always)]
    fn sub_scalar(self, c: f64) -> V8 {
        let mut a = self.0;
        for v in &mut a {
            *v -= c;
        }
        V8(a)
    }

    /// `self + x · c`, rounded after the product (no fused multiply-add).
    #[inline(always)]
    fn add_mul(self, x: V8, c: f64) -> V8 {
        let mut a = self.0;
        for l in 0..LANES {
            a[l] += x.0[l] * c;
        }
        V8(a)
    }

    #[inline(always)]
    fn add(self, x: V8) -> V8 {
        let mut a = self.0;
        for l in 0..LANES {
            a[l] += x.0[l];
        }
        V8(a)
    }

    /// `self + (x − c)²`.
    #[inline(always)]
    fn add_sq_diff(self, x: V8, c: f64) -> V8 {
        let mut a = self.0;
        for l in 0..LANES {
            let d = x.0[l] - c;
            a[l] += d * d;
        }
        V8(a)
    }
}

crate::simd::multiversion! {
    /// Writes every element of `out` (`⌈m/8⌉·8·p` of them): the rows of `x`
    /// as tiles (see [`Data::tiles`]), the last row group zero-padded.
    fn fill_tiles<T: Real>(x: MatRef<'_, T>, out: &mut [MaybeUninit<f64>]) -> ()
    => fill_tiles_portable
}

#[inline(always)]
fn fill_tiles_portable<T: Real>(x: MatRef<'_, T>, out: &mut [MaybeUninit<f64>]) {
    let (m, p) = x.shape();
    let groups = m.div_ceil(LANES);
    let out = &mut out[..groups * LANES * p];
    if m % LANES != 0 {
        for o in &mut out[(groups - 1) * LANES * p..] {
            o.write(0.0);
        }
    }
    if x.row_stride() == 1 && x.col_stride() != 1 {
        // Column-major: eight consecutive values of a column fill a lane row.
        for f in 0..p {
            let col = x.col(f);
            for g in 0..groups {
                let n = (m - g * LANES).min(LANES);
                let t = &mut out[(g * p + f) * LANES..(g * p + f) * LANES + n];
                match col.try_as_col_major() {
                    Some(c) => {
                        for (o, &v) in t.iter_mut().zip(&c.as_slice()[g * LANES..g * LANES + n]) {
                            o.write(v.to_f64());
                        }
                    }
                    None => {
                        for (l, o) in t.iter_mut().enumerate() {
                            o.write(col[g * LANES + l].to_f64());
                        }
                    }
                }
            }
        }
        return;
    }
    let full = m / LANES;
    let rows_of = |g: usize| -> Option<[&[T]; LANES]> {
        let mut rows: [&[T]; LANES] = [&[]; LANES];
        for (l, r) in rows.iter_mut().enumerate() {
            *r = x.row(g * LANES + l).try_as_row_major()?.as_slice();
        }
        Some(rows)
    };
    for g in 0..groups {
        let t = &mut out[g * p * LANES..(g + 1) * p * LANES];
        match (g < full).then(|| rows_of(g)).flatten() {
            // Eight contiguous rows: one lane row of the tile per feature.
            Some(rows) => {
                // 8×8 blocks transposed through registers (an element-wise
                // loop is vectorised across features into slow scatters).
                let fb_full = p / LANES * LANES;
                for fb in (0..fb_full).step_by(LANES) {
                    let mut blk = [[0.0f64; LANES]; LANES];
                    for (b, r) in blk.iter_mut().zip(&rows) {
                        for (v, &x) in b.iter_mut().zip(&r[fb..fb + LANES]) {
                            *v = x.to_f64();
                        }
                    }
                    let tb = &mut t[fb * LANES..(fb + LANES) * LANES];
                    for (ff, tf) in tb.chunks_exact_mut(LANES).enumerate() {
                        for l in 0..LANES {
                            tf[l].write(blk[l][ff]);
                        }
                    }
                }
                for f in fb_full..p {
                    for l in 0..LANES {
                        t[f * LANES + l].write(rows[l][f].to_f64());
                    }
                }
            }
            None => {
                let n = (m - g * LANES).min(LANES);
                for l in 0..n {
                    let row = x.row(g * LANES + l);
                    for f in 0..p {
                        t[f * LANES + l].write(row[f].to_f64());
                    }
                }
            }
        }
    }
}

/// Tiles of the rows of `x` in `buf` (reused; nothing is zeroed first).
fn tiles_into<'b, T: Real>(x: MatRef<'_, T>, buf: &'b mut Vec<f64>) -> &'b [f64] {
    let len = x.nrows().div_ceil(LANES) * LANES * x.ncols();
    buf.clear();
    buf.reserve(len);
    fill_tiles(x, &mut buf.spare_capacity_mut()[..len]);
    // SAFETY: `fill_tiles` wrote all `len` elements (its contract), and the
    // capacity is at least `len`.
    unsafe { buf.set_len(len) };
    buf
}

crate::simd::multiversion! {
    /// Column sums and sums of squared deviations from the column means of
    /// the first `m` rows of `tiles` (shifted by the first row, one sweep),
    /// in lanes combined in a fixed order.
    fn tile_moments(tiles: &[f64], m: usize, p: usize) -> (Vec<f64>, Vec<f64>)
    => tile_moments_portable
}

#[inline(always)]
fn tile_moments_portable(tiles: &[f64], m: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
    let groups = m.div_ceil(LANES);
    let mut valid = [1.0f64; LANES];
    for v in valid.iter_mut().skip(m - (groups - 1) * LANES) {
        *v = 0.0;
    }
    let (mut sum, mut m2) = (vec![0.0; p], vec![0.0; p]);
    for f in 0..p {
        let s = tiles[f * LANES]; // the chunk's first row
        let (mut a, mut q) = (V8::zero(), V8::zero());
        for g in 0..groups {
            let xv = &tiles[(g * p + f) * LANES..(g * p + f + 1) * LANES];
            let w = if g + 1 == groups { valid } else { [1.0; LANES] };
            let mut d = [0.0f64; LANES];
            for l in 0..LANES {
                d[l] = (xv[l] - s) * w[l];
            }
            a = a.add(V8(d));
            q = q.add_sq_diff(V8(d), 0.0);
        }
        let (da, dq) = (lane_sum(&a.0), lane_sum(&q.0));
        sum[f] = s * m as f64 + da;
        m2[f] = dq - da * da / m as f64;
    }
    (sum, m2)
}

/// Points for the distance kernels: their squared norms and the register
/// blocks (see [`blocks`]) with each block's coordinates
/// laid out feature by feature (`cols[f * size + jj]`), so the kernels read
/// them in order with no bounds checks.
struct Panel {
    k: usize,
    p: usize,
    norms: Vec<f64>,
    blocks: Vec<Block>,
}

/// A register block of points `j0..j0 + size`.
struct Block {
    j0: usize,
    size: usize,
    cols: Vec<f64>,
}

impl Panel {
    /// `c` is k×p row-major.
    fn new(c: &[f64], k: usize, p: usize) -> Panel {
        let norms = c[..k * p].chunks_exact(p.max(1)).map(sq_norm).collect();
        let blocks = blocks(k)
            .into_iter()
            .map(|(j0, size)| Block {
                j0,
                size,
                cols: (0..p)
                    .flat_map(|f| (0..size).map(move |jj| (f, jj)))
                    .map(|(f, jj)| c[(j0 + jj) * p + f])
                    .collect(),
            })
            .collect();
        Panel {
            k,
            p,
            norms,
            blocks,
        }
    }
}

/// `Σ_f a_f²` in a fixed order: eight lanes, combined pairwise.
fn sq_norm(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    for (i, &x) in a.iter().enumerate() {
        acc[i % LANES] += x * x;
    }
    lane_sum(&acc)
}

crate::simd::multiversion! {
    /// For each of the first `m` rows `x` of `tiles`: the nearest point of
    /// `panel` to `x − shift` by `‖c‖² − 2 (x − shift)·c` (ties to the
    /// lowest index) into `labels`, and that value into `best`.
    fn nearest(tiles: &[f64], shift: &[f64], panel: &Panel, labels: &mut [i32], best: &mut [f64]) -> ()
    => nearest_portable
}

#[inline(always)]
fn nearest_portable(
    tiles: &[f64],
    shift: &[f64],
    panel: &Panel,
    labels: &mut [i32],
    best: &mut [f64],
) {
    let (p, m) = (panel.p, labels.len());
    if p == 0 {
        return;
    }
    for (gi, t) in tiles.chunks_exact(p * LANES).enumerate() {
        let g = gi * LANES;
        if g >= m {
            break;
        }
        let n = (m - g).min(LANES);
        let mut bd = [f64::INFINITY; LANES];
        let mut bl = [0.0f64; LANES];
        for b in &panel.blocks {
            by_block!(b.size, nearest_block(t, shift, panel, b, &mut bd, &mut bl));
        }
        for l in 0..n {
            labels[g + l] = bl[l] as i32;
        }
        best[g..g + n].copy_from_slice(&bd[..n]);
    }
}

#[inline(always)]
fn nearest_block<const JB: usize>(
    t: &[f64],
    shift: &[f64],
    panel: &Panel,
    b: &Block,
    bd: &mut [f64; LANES],
    bl: &mut [f64; LANES],
) {
    let j0 = b.j0;
    let mut acc = [V8::zero(); JB];
    for ((xv, cf), &s) in t
        .chunks_exact(LANES)
        .zip(b.cols.chunks_exact(JB))
        .zip(shift)
    {
        let mut x = [0.0f64; LANES];
        x.copy_from_slice(xv);
        let x = V8(x).sub_scalar(s);
        for (a, &c) in acc.iter_mut().zip(cf) {
            *a = a.add_mul(x, c);
        }
    }
    // Branch-free argmin (labels as f64 lanes, exact for any index), ties
    // to the lowest index: the strict comparison keeps the earlier one.
    for (jj, a) in acc.iter().enumerate() {
        let nj = panel.norms[j0 + jj];
        let label = (j0 + jj) as f64;
        for l in 0..LANES {
            let d = nj - 2.0 * a.0[l];
            let lt = d < bd[l];
            bd[l] = if lt { d } else { bd[l] };
            bl[l] = if lt { label } else { bl[l] };
        }
    }
}

crate::simd::multiversion! {
    /// Squared distances `Σ_f (x_f − c_f)²` of each of the first `m` rows of
    /// `tiles` to each point of `panel`, into `out` (m×k, row-major).
    fn sq_dists(tiles: &[f64], m: usize, panel: &Panel, out: &mut [f64]) -> ()
    => sq_dists_portable
}

#[inline(always)]
fn sq_dists_portable(tiles: &[f64], m: usize, panel: &Panel, out: &mut [f64]) {
    let (k, p) = (panel.k, panel.p);
    if p == 0 || k == 0 {
        return;
    }
    for (gi, t) in tiles.chunks_exact(p * LANES).enumerate() {
        let g = gi * LANES;
        if g >= m {
            break;
        }
        let n = (m - g).min(LANES);
        for b in &panel.blocks {
            by_block!(b.size, sq_dists_block(t, panel, b, &mut out[g * k..], n));
        }
    }
}

#[inline(always)]
fn sq_dists_block<const JB: usize>(t: &[f64], panel: &Panel, b: &Block, out: &mut [f64], n: usize) {
    let (k, j0) = (panel.k, b.j0);
    let acc = dist_block::<JB>(t, b);
    for (jj, a) in acc.iter().enumerate() {
        for (l, &v) in a.iter().enumerate().take(n) {
            out[l * k + j0 + jj] = v;
        }
    }
}

/// Squared distances of one tile's rows to points `j0..j0 + JB`.
#[inline(always)]
fn dist_block<const JB: usize>(t: &[f64], b: &Block) -> [[f64; LANES]; JB] {
    let mut acc = [V8::zero(); JB];
    for (xv, cf) in t.chunks_exact(LANES).zip(b.cols.chunks_exact(JB)) {
        let mut x = [0.0f64; LANES];
        x.copy_from_slice(xv);
        let x = V8(x);
        for (a, &c) in acc.iter_mut().zip(cf) {
            *a = a.add_sq_diff(x, c);
        }
    }
    acc.map(|a| a.0)
}

/// The M-step sums a Lloyd pass accumulates: k×p weighted sums of rows and
/// k sums of weights.
struct Sums<'s> {
    sums: &'s mut [f64],
    weights: &'s mut [f64],
}

crate::simd::multiversion! {
    /// With `x_i` the `i`-th of the first `m = labels.len()` rows of `tiles`
    /// minus `shift`: adds `w_i x_i` to row `labels[i]` of `sums` and `w_i`
    /// to its weight (when given), in row order; returns
    /// `Σ w_i ‖x_i − c_{labels[i]}‖²`.
    fn accumulate(tiles: &[f64], shift: &[f64], w: &[f64], labels: &[i32], centers: &[f64], sums: Option<Sums<'_>>) -> f64
    => accumulate_portable
}

#[inline(always)]
fn accumulate_portable(
    tiles: &[f64],
    shift: &[f64],
    w: &[f64],
    labels: &[i32],
    centers: &[f64],
    mut sums: Option<Sums<'_>>,
) -> f64 {
    let (p, m) = (shift.len(), labels.len());
    if p == 0 {
        return 0.0;
    }
    let mut total = [0.0f64; LANES];
    for (gi, t) in tiles.chunks_exact(p * LANES).enumerate() {
        let g = gi * LANES;
        if g >= m {
            break;
        }
        let n = (m - g).min(LANES);
        let mut lab = [0usize; LANES];
        let mut wl = [0.0f64; LANES];
        for l in 0..n {
            lab[l] = labels[g + l] as usize;
            wl[l] = w[g + l];
        }
        let mut acc = [0.0f64; LANES];
        for (f, (xv, &s)) in t.chunks_exact(LANES).zip(shift).enumerate() {
            let mut xs = [0.0f64; LANES];
            for l in 0..LANES {
                xs[l] = xv[l] - s;
                let d = xs[l] - centers[lab[l] * p + f];
                acc[l] += d * d;
            }
            if let Some(s) = sums.as_mut() {
                for l in 0..n {
                    s.sums[lab[l] * p + f] += xs[l] * wl[l];
                }
            }
        }
        for l in 0..LANES {
            total[l] += wl[l] * acc[l];
        }
        if let Some(s) = sums.as_mut() {
            for l in 0..n {
                s.weights[lab[l]] += wl[l];
            }
        }
    }
    lane_sum(&total)
}

/// Partial results of one chunk of a Lloyd pass.
struct PassPart {
    sums: Vec<f64>,
    weights: Vec<f64>,
    inertia: f64,
    changed: usize,
}

/// One E-step (labels from `centers`, counting changed labels, and the
/// inertia of the new labels with `centers`) and, with `update`, the sums
/// of the M-step. `centers` are centred on `shift`.
fn lloyd_pass<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    centers: &[f64],
    labels: &mut [i32],
    update: bool,
    assigned: Option<&[i32]>,
) -> Result<PassPart> {
    let p = data.p();
    let k = centers.len() / p;
    let panel = Panel::new(centers, k, p);
    let sums_len = if update { k * p } else { 0 };
    // Bound live partial sums to ~32 MiB whatever k·p is.
    let group = ((32usize << 20) / (8 * (sums_len + k + 1))).clamp(1, 64);
    let init = PassPart {
        sums: vec![0.0; sums_len],
        weights: vec![0.0; k],
        inertia: 0.0,
        changed: 0,
    };
    chunk_pass(
        data.plan,
        parallel_for(data.n(), data.p()),
        labels,
        1,
        group,
        init,
        |rows, lab| {
            with_scratch(|best| {
                let m = rows.len();
                let w = data.weights(rows.clone());
                let t = data.tiles_of(&rows);
                best.resize(m, 0.0);
                let mut new = vec![0i32; m];
                match assigned {
                    Some(a) => new.copy_from_slice(&a[rows.clone()]),
                    None => nearest(t, shift, &panel, &mut new, best),
                }
                let changed = new.iter().zip(lab.iter()).filter(|(a, b)| a != b).count();
                lab.copy_from_slice(&new);
                let mut part = PassPart {
                    sums: vec![0.0; sums_len],
                    weights: vec![0.0; k],
                    inertia: 0.0,
                    changed,
                };
                let sums = update.then_some(Sums {
                    sums: &mut part.sums,
                    weights: &mut part.weights,
                });
                part.inertia = accumulate(t, shift, &w, lab, centers, sums);
                Ok(part)
            })
        },
        |mut acc, part| {
            for (a, b) in acc.sums.iter_mut().zip(&part.sums) {
                *a += b;
            }
            for (a, b) in acc.weights.iter_mut().zip(&part.weights) {
                *a += b;
            }
            acc.inertia += part.inertia;
            acc.changed += part.changed;
            acc
        },
    )
}

/// `Σ w_i ‖x_i − c_{labels[i]}‖²` for given labels (centred centres).
fn inertia_of<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    centers: &[f64],
    labels: &[i32],
) -> Result<f64> {
    data.plan.map_fold(
        64,
        0.0,
        |rows| {
            let w = data.weights(rows.clone());
            Ok(accumulate(
                data.tiles_of(&rows),
                shift,
                &w,
                &labels[rows],
                centers,
                None,
            ))
        },
        |a, b| a + b,
    )
}

/// scikit-learn's `_relocate_empty_clusters_dense`: each cluster of zero
/// weight takes the point farthest from its (old) centre, removed from that
/// point's cluster. The farthest points are taken in decreasing distance,
/// ties to the lowest row index (scikit-learn's `argpartition` leaves that
/// order unspecified).
///
/// Distributed (`coll` over several ranks, this one's rows starting at global
/// row `offset`): each rank proposes its farthest points and every rank
/// picks among all proposals in the same order, so the choice is the one a
/// single process makes on all the rows.
#[allow(clippy::too_many_arguments)]
fn relocate_empty<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    old: &[f64],
    labels: &[i32],
    sums: &mut [f64],
    weights: &mut [f64],
    coll: &mut dyn Collective,
    offset: usize,
) -> Result<()> {
    let empty: Vec<usize> = (0..weights.len()).filter(|&j| weights[j] == 0.0).collect();
    if empty.is_empty() {
        return Ok(());
    }
    let p = data.p();
    let mut dist = vec![0.0f64; data.n()];
    chunk_pass(
        data.plan,
        parallel_for(data.n(), data.p()),
        &mut dist,
        1,
        64,
        (),
        |rows, out| {
            let t = data.tiles_of(&rows);
            for (i, (o, &l)) in out.iter_mut().zip(&labels[rows]).enumerate() {
                let l = l as usize;
                let mut acc = [0.0f64; LANES];
                let tg = &t[(i / LANES) * p * LANES..];
                for f in 0..p {
                    let d = (tg[f * LANES + i % LANES] - shift[f]) - old[l * p + f];
                    acc[f % LANES] += d * d;
                }
                *o = lane_sum(&acc);
            }
            Ok(())
        },
        |(), ()| (),
    )?;
    let order = |a: &usize, b: &usize| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..dist.len()).collect();
    let n_empty = empty.len().min(idx.len());
    if n_empty > 0 && n_empty < idx.len() {
        idx.select_nth_unstable_by(n_empty - 1, order);
    }
    idx.truncate(n_empty);
    idx.sort_by(order);
    // Proposals `[distance, global row, weight, label, shifted row...]`.
    let rec = 4 + p;
    let mut local = Vec::with_capacity(idx.len() * rec);
    for &far in &idx {
        local.extend([
            dist[far],
            (offset + far) as f64,
            data.weight(far),
            labels[far] as f64,
        ]);
        local.extend(data.row(far).iter().zip(shift).map(|(v, s)| v - s));
    }
    let all = coll.allgather(&local)?.concat();
    let mut cands: Vec<&[f64]> = all.chunks_exact(rec).collect();
    if !cands.iter().any(|c| c[0] > 0.0) {
        return Ok(());
    }
    cands.sort_by(|a, b| b[0].total_cmp(&a[0]).then(a[1].total_cmp(&b[1])));
    for (&new, c) in empty.iter().zip(&cands) {
        let (w, oldc, x) = (c[2], c[3] as usize, &c[4..]);
        for f in 0..p {
            sums[oldc * p + f] -= x[f] * w;
            sums[new * p + f] = x[f] * w;
        }
        weights[new] = w;
        weights[oldc] -= w;
    }
    Ok(())
}

/// Sums a pass's partial results over ranks (in rank order).
fn pass_over_ranks(pass: &mut PassPart, coll: &mut dyn Collective) -> Result<()> {
    let (s, k) = (pass.sums.len(), pass.weights.len());
    let mut buf = Vec::with_capacity(s + k + 2);
    buf.extend_from_slice(&pass.sums);
    buf.extend_from_slice(&pass.weights);
    buf.extend([pass.inertia, pass.changed as f64]);
    sum_over_ranks(coll, &mut buf)?;
    pass.sums.copy_from_slice(&buf[..s]);
    pass.weights.copy_from_slice(&buf[s..s + k]);
    pass.inertia = buf[s + k];
    pass.changed = buf[s + k + 1] as usize;
    Ok(())
}

/// A scalar summed over ranks.
fn scalar_over_ranks(v: f64, coll: &mut dyn Collective) -> Result<f64> {
    let mut buf = [v];
    sum_over_ranks(coll, &mut buf)?;
    Ok(buf[0])
}

/// Centres from the M-step sums (scikit-learn's `_average_centers`:
/// multiplication by the reciprocal weight). A cluster still of zero
/// weight takes the centre of the heaviest cluster.
fn average(sums: &[f64], weights: &[f64], p: usize) -> Vec<f64> {
    let mut c = sums.to_vec();
    let mut heaviest = 0;
    for (j, &w) in weights.iter().enumerate() {
        if w > weights[heaviest] {
            heaviest = j;
        }
        if w > 0.0 {
            let alpha = 1.0 / w;
            for v in &mut c[j * p..(j + 1) * p] {
                *v *= alpha;
            }
        }
    }
    for (j, &w) in weights.iter().enumerate() {
        if w <= 0.0 && j != heaviest {
            let src: Vec<f64> = c[heaviest * p..(heaviest + 1) * p].to_vec();
            c[j * p..(j + 1) * p].copy_from_slice(&src);
        }
    }
    c
}

/// Computes the nearest-centre labels of all rows elsewhere (a GPU): the
/// heavy `n·k·p` part of an E-step. The centre sums, empty-cluster moves and
/// inertia stay on the CPU, so a fit with an assigner gives the CPU's model
/// whenever the labels agree.
pub trait LabelAssigner {
    /// Called once per fit with the column means the data are centred on.
    fn prepare(&mut self, shift: &[f64]) -> Result<()>;
    /// `labels[i] = argmin_j ‖c_j‖² − 2 (x_i − shift)·c_j`, ties to the
    /// lowest `j`, for `centers` (k×p row-major, centred on `shift`).
    fn assign(&mut self, centers: &[f64], labels: &mut [i32]) -> Result<()>;
}

/// One Lloyd run from centred initial centres.
#[allow(clippy::too_many_arguments)]
fn lloyd<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    mut centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
    coll: &mut dyn Collective,
    offset: usize,
    mut assigner: Option<&mut (dyn LabelAssigner + '_)>,
) -> Result<KMeansFit> {
    let p = data.p();
    let mut labels = vec![-1i32; data.n()];
    let mut assigned = Vec::new();
    let mut assign = |centers: &[f64], out: &mut Vec<i32>| -> Result<bool> {
        match assigner.as_deref_mut() {
            Some(a) => {
                out.resize(data.n(), 0);
                a.assign(centers, out)?;
                Ok(true)
            }
            None => Ok(false),
        }
    };
    let mut n_iter = 0;
    let mut strict_inertia = None;
    for i in 0..max_iter {
        n_iter = i + 1;
        let pre = assign(&centers, &mut assigned)?.then_some(&assigned[..]);
        let mut pass = lloyd_pass(data, shift, &centers, &mut labels, true, pre)?;
        pass_over_ranks(&mut pass, coll)?;
        relocate_empty(
            data,
            shift,
            &centers,
            &labels,
            &mut pass.sums,
            &mut pass.weights,
            coll,
            offset,
        )?;
        let new = average(&pass.sums, &pass.weights, p);
        let shift_tot: f64 = new
            .iter()
            .zip(&centers)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        let old = std::mem::replace(&mut centers, new);
        if pass.changed == 0 {
            // The labels did not change, so the new centres are the old
            // ones and the pass's inertia is the final one (unless an empty
            // cluster moved).
            strict_inertia = Some(if old == centers {
                pass.inertia
            } else {
                scalar_over_ranks(inertia_of(data, shift, &centers, &labels)?, coll)?
            });
            break;
        }
        if shift_tot <= tol {
            break;
        }
    }
    let inertia = match strict_inertia {
        Some(v) => v,
        // Relabel with the final centres, as scikit-learn does.
        None => {
            let pre = assign(&centers, &mut assigned)?.then_some(&assigned[..]);
            scalar_over_ranks(
                lloyd_pass(data, shift, &centers, &mut labels, false, pre)?.inertia,
                coll,
            )?
        }
    };
    Ok(KMeansFit {
        centers,
        labels,
        inertia,
        n_iter,
    })
}

/// The first row where the running sum of `value` exceeds `target`
/// (`right`: numpy's `searchsorted(cumsum, target, side="right")`) or
/// reaches it (`side="left"`), from the chunk sums `totals` folded in chunk
/// order and a scan inside the chunk where the target falls (the last row of
/// that chunk if rounding leaves the scan short of it); the last row if no
/// chunk reaches the target. `value(chunk, row)`.
fn search(
    plan: ChunkPlan,
    totals: &[f64],
    target: f64,
    right: bool,
    value: impl Fn(usize, usize) -> f64,
) -> usize {
    let hit = |s: f64, t: f64| if right { s > t } else { s >= t };
    let mut acc = 0.0;
    for (c, &tot) in totals.iter().enumerate() {
        let local = target - acc;
        if hit(tot, local) {
            let rows = plan.range(c);
            let last = rows.end - 1;
            let mut s = 0.0;
            for i in rows {
                s += value(c, i);
                if hit(s, local) {
                    return i;
                }
            }
            return last;
        }
        acc += tot;
    }
    plan.n_rows.saturating_sub(1)
}

crate::simd::multiversion! {
    /// One k-means++ step over the tiles of a chunk of `m = w.len()` rows:
    /// with `out` the chunk's m×l scratch laid out point-major
    /// (`out[t * m + i]`), sets `out[t][i] = min(out[prev][i], ‖x_i − c_t‖²)`
    /// for each point `t` of `panel` (without `prev`: the plain distance) and
    /// returns `Σ_i w_i out[t][i]` per point, summed in lanes combined in a
    /// fixed order.
    fn plusplus_step(tiles: &[f64], w: &[f64], panel: &Panel, prev: Option<usize>, out: &mut [f64]) -> Vec<f64>
    => plusplus_step_portable
}

#[inline(always)]
fn plusplus_step_portable(
    tiles: &[f64],
    w: &[f64],
    panel: &Panel,
    prev: Option<usize>,
    out: &mut [f64],
) -> Vec<f64> {
    let (k, p, m) = (panel.k, panel.p, w.len());
    let mut lanes = vec![[0.0f64; LANES]; k];
    if p == 0 || k == 0 {
        return vec![0.0; k];
    }
    for (gi, t) in tiles.chunks_exact(p * LANES).enumerate() {
        let g = gi * LANES;
        if g >= m {
            break;
        }
        let n = (m - g).min(LANES);
        // The nearest chosen centre's distance, read before any slot of
        // these rows is overwritten; zero weight for missing rows.
        let mut closest = [f64::INFINITY; LANES];
        let mut wl = [0.0f64; LANES];
        for l in 0..n {
            if let Some(pv) = prev {
                closest[l] = out[pv * m + g + l];
            }
            wl[l] = w[g + l];
        }
        for b in &panel.blocks {
            by_block!(
                b.size,
                plusplus_block(t, b, &closest, &wl, &mut lanes, out, m, g, n)
            );
        }
    }
    lanes.iter().map(lane_sum).collect()
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn plusplus_block<const JB: usize>(
    t: &[f64],
    b: &Block,
    closest: &[f64; LANES],
    wl: &[f64; LANES],
    lanes: &mut [[f64; LANES]],
    out: &mut [f64],
    m: usize,
    g: usize,
    n: usize,
) {
    let acc = dist_block::<JB>(t, b);
    for (jj, a) in acc.iter().enumerate() {
        let point = b.j0 + jj;
        let mut nd = [0.0f64; LANES];
        for l in 0..LANES {
            nd[l] = if a[l] < closest[l] { a[l] } else { closest[l] };
            lanes[point][l] += wl[l] * nd[l];
        }
        out[point * m + g..point * m + g + n].copy_from_slice(&nd[..n]);
    }
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`) in the data's
/// coordinates, with squared distances from direct differences; `cand` is
/// scratch (n × n_local_trials).
fn plusplus<T: Real>(
    data: &Data<'_, T>,
    k: usize,
    trials: usize,
    draws: &[f64],
    weight_totals: &[f64],
    cand: &mut Vec<f64>,
) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let l = trials.max(1);
    let plan = data.plan;
    let cr = plan.chunk_rows;
    cand.clear();
    cand.resize(n * l, 0.0);
    let total_w: f64 = weight_totals.iter().sum();
    let first = search(plan, weight_totals, draws[0] * total_w, true, |_, i| {
        data.weight(i)
    });
    let mut ids = vec![first];
    // In each chunk's slice of `cand` (point-major), slot `prev` holds each
    // row's squared distance to its nearest chosen centre and the other
    // slots the candidates' (capped by it).
    let mut prev = 0usize;
    let mut partials: Vec<Vec<f64>> = Vec::new();
    // With one cluster the first centre is all there is.
    for c in 0..if k > 1 { k } else { 0 } {
        let points: Vec<usize> = if c == 0 {
            vec![first]
        } else {
            let totals: Vec<f64> = partials.iter().map(|v| v[prev]).collect();
            let pot: f64 = totals.iter().sum();
            let u = &draws[1 + (c - 1) * trials..1 + c * trials];
            let value = |ch: usize, i: usize| {
                let r = plan.range(ch);
                data.weight(i) * cand[ch * cr * l + prev * r.len() + (i - r.start)]
            };
            u.iter()
                .map(|&u| search(plan, &totals, u * pot, false, value))
                .collect()
        };
        let coords: Vec<f64> = points.iter().flat_map(|&i| data.row(i)).collect();
        let panel = Panel::new(&coords, points.len(), p);
        let closest = (c > 0).then_some(prev);
        partials = chunk_pass(
            plan,
            parallel_for(n, p),
            cand,
            l,
            usize::MAX,
            Vec::new(),
            |rows, out| {
                let w = data.weights(rows.clone());
                Ok(plusplus_step(
                    data.tiles_of(&rows),
                    &w,
                    &panel,
                    closest,
                    out,
                ))
            },
            |mut acc: Vec<Vec<f64>>, part| {
                acc.push(part);
                acc
            },
        )?;
        if c == 0 {
            prev = 0;
            continue;
        }
        let pots: Vec<f64> = (0..points.len())
            .map(|t| partials.iter().map(|v| v[t]).sum())
            .collect();
        let mut best = 0;
        for t in 1..pots.len() {
            if pots[t] < pots[best] {
                best = t;
            }
        }
        prev = best;
        ids.push(points[best]);
    }
    Ok(ids.iter().flat_map(|&i| data.row(i)).collect())
}

/// [`plusplus`] over rows spread across ranks: the chunks of every rank,
/// in rank order, play the role of one process's chunks. Each draw is
/// located in the gathered per-chunk totals, the rank holding it finds the
/// row and shares it, and each candidate's potential is summed over ranks;
/// every rank picks the same centres. Chunk boundaries differ from one
/// process's, so a draw within rounding of a sampling boundary may pick a
/// neighbouring row.
fn plusplus_distributed<T: Real>(
    data: &Data<'_, T>,
    k: usize,
    trials: usize,
    draws: &[f64],
    weight_totals: &[f64],
    cand: &mut Vec<f64>,
    coll: &mut dyn Collective,
) -> Result<Vec<f64>> {
    let (n, p) = (data.n(), data.p());
    let l = trials.max(1);
    let plan = data.plan;
    let cr = plan.chunk_rows;
    cand.clear();
    cand.resize(n * l, 0.0);
    let first = pick_rows(coll, data, weight_totals, &[draws[0]], true, |_, i| {
        data.weight(i)
    })?;
    let mut centers = first.clone();
    let mut prev = 0usize;
    let mut partials: Vec<Vec<f64>> = Vec::new();
    for c in 0..if k > 1 { k } else { 0 } {
        let coords: Vec<f64> = if c == 0 {
            first.clone()
        } else {
            let totals: Vec<f64> = partials.iter().map(|v| v[prev]).collect();
            let u = &draws[1 + (c - 1) * trials..1 + c * trials];
            let value = |ch: usize, i: usize| {
                let r = plan.range(ch);
                data.weight(i) * cand[ch * cr * l + prev * r.len() + (i - r.start)]
            };
            pick_rows(coll, data, &totals, u, false, value)?
        };
        let m = coords.len() / p;
        let panel = Panel::new(&coords, m, p);
        let closest = (c > 0).then_some(prev);
        partials = chunk_pass(
            plan,
            parallel_for(n, p),
            cand,
            l,
            usize::MAX,
            Vec::new(),
            |rows, out| {
                let w = data.weights(rows.clone());
                Ok(plusplus_step(
                    data.tiles_of(&rows),
                    &w,
                    &panel,
                    closest,
                    out,
                ))
            },
            |mut acc: Vec<Vec<f64>>, part| {
                acc.push(part);
                acc
            },
        )?;
        if c == 0 {
            prev = 0;
            continue;
        }
        let mut pots: Vec<f64> = (0..m)
            .map(|t| partials.iter().map(|v| v[t]).sum())
            .collect();
        sum_over_ranks(coll, &mut pots)?;
        let mut best = 0;
        for t in 1..pots.len() {
            if pots[t] < pots[best] {
                best = t;
            }
        }
        prev = best;
        centers.extend_from_slice(&coords[best * p..(best + 1) * p]);
    }
    Ok(centers)
}

/// The rows (concatenated coordinates, in `draws` order) that [`search`]
/// finds for targets `u · Σ totals` over every rank's chunks (`totals`:
/// this rank's per-chunk sums of `value`, rank order after gathering).
fn pick_rows<T: Real>(
    coll: &mut dyn Collective,
    data: &Data<'_, T>,
    totals: &[f64],
    draws: &[f64],
    right: bool,
    value: impl Fn(usize, usize) -> f64,
) -> Result<Vec<f64>> {
    let p = data.p();
    let all = coll.allgather(totals)?;
    let grand: f64 = all.iter().flatten().sum();
    let hit = |s: f64, t: f64| if right { s > t } else { s >= t };
    // For each draw: (owner rank, its chunk, the target left in that chunk).
    let mut owners = Vec::with_capacity(draws.len());
    for &u in draws {
        let target = u * grand;
        let mut acc = 0.0;
        let mut found = None;
        'ranks: for (r, tots) in all.iter().enumerate() {
            for (ch, &tot) in tots.iter().enumerate() {
                if hit(tot, target - acc) {
                    found = Some((r, Some(ch), target - acc));
                    break 'ranks;
                }
                acc += tot;
            }
        }
        // No chunk reaches the target: the last row of the last rank with rows.
        let found = found.unwrap_or_else(|| {
            let r = all.iter().rposition(|t| !t.is_empty()).unwrap_or(0);
            (r, None, 0.0)
        });
        owners.push(found);
    }
    let rank = coll.rank();
    let mut post = Vec::new();
    for (t, &(r, ch, local)) in owners.iter().enumerate() {
        if r != rank || data.n() == 0 {
            continue;
        }
        let row = match ch {
            Some(ch) => {
                let rows = data.plan.range(ch);
                let last = rows.end - 1;
                let mut s = 0.0;
                let mut pick = last;
                for i in rows {
                    s += value(ch, i);
                    if hit(s, local) {
                        pick = i;
                        break;
                    }
                }
                pick
            }
            None => data.n() - 1,
        };
        post.push(t as f64);
        post.extend(data.row(row));
    }
    let mut coords = vec![0.0; draws.len() * p];
    for part in coll.allgather(&post)? {
        for rec in part.chunks_exact(p + 1) {
            let t = rec[0] as usize;
            coords[t * p..(t + 1) * p].copy_from_slice(&rec[1..]);
        }
    }
    Ok(coords)
}

/// Whether two labelings are the same up to a permutation of the labels
/// (scikit-learn's `_is_same_clustering`).
fn same_clustering(a: &[i32], b: &[i32], k: usize) -> bool {
    let mut map = vec![-1i32; k];
    for (&x, &y) in a.iter().zip(b) {
        let m = &mut map[x as usize];
        if *m == -1 {
            *m = y;
        } else if *m != y {
            return false;
        }
    }
    true
}

fn check_shape(x_rows: usize, x_cols: usize) -> Result<()> {
    if x_rows == 0 || x_cols == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    Ok(())
}

/// Checks the initialisations against `k` and `p`.
fn check_inits(inits: &[KMeansInit], k: usize, p: usize, trials: usize) -> Result<()> {
    if inits.is_empty() {
        return Err(Error::InvalidParameter {
            name: "n_init",
            reason: "no initialisation given; at least one run is required".into(),
        });
    }
    for init in inits {
        match init {
            KMeansInit::Centers(c) => {
                if c.len() != k * p {
                    return Err(Error::ShapeMismatch {
                        what: format!(
                            "number of values in the initial centres (n_clusters = {k} x n_features = {p})"
                        ),
                        expected: k * p,
                        got: c.len(),
                    });
                }
                if let Some(v) = c.iter().find(|v| !v.is_finite()) {
                    return Err(Error::InvalidParameter {
                        name: "init",
                        reason: format!("the initial centres contain {v}; they must be finite"),
                    });
                }
            }
            KMeansInit::PlusPlus(d) => {
                if trials == 0 {
                    return Err(Error::InvalidParameter {
                        name: "n_local_trials",
                        reason: "0; k-means++ needs at least one candidate per centre".into(),
                    });
                }
                let want = 1 + (k - 1) * trials;
                if d.len() != want {
                    return Err(Error::ShapeMismatch {
                        what: "number of k-means++ draws (1 + (n_clusters - 1) * n_local_trials)"
                            .into(),
                        expected: want,
                        got: d.len(),
                    });
                }
                if let Some(v) = d.iter().find(|v| !(**v >= 0.0 && **v < 1.0)) {
                    return Err(Error::InvalidParameter {
                        name: "init",
                        reason: format!("k-means++ draw {v} is outside [0, 1)"),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Fits k-means: one Lloyd run per entry of `inits`, keeping the run of
/// lowest inertia (scikit-learn's rule: a later run replaces the best only
/// with a lower inertia and a different clustering).
///
/// `w` are optional sample weights (finite, non-negative, not all zero).
/// The fit holds one `f64` copy of `X` (as scikit-learn's `copy_x` does).
pub fn fit_kmeans<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    inits: &[KMeansInit],
    params: &KMeansParams,
) -> Result<KMeansFit> {
    fit_kmeans_with(x, w, inits, params, None)
}

/// [`fit_kmeans`] with the E-step's labels from `assigner` (a GPU); the
/// initialisation (k-means++ with the same draws), the centre updates and
/// the inertia are the CPU code's.
pub fn fit_kmeans_with<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    inits: &[KMeansInit],
    params: &KMeansParams,
    mut assigner: Option<&mut dyn LabelAssigner>,
) -> Result<KMeansFit> {
    let (n, p) = x.shape();
    check_shape(n, p)?;
    let k = params.n_clusters;
    if k == 0 || k > n {
        return Err(Error::InvalidParameter {
            name: "n_clusters",
            reason: format!("{k}; must be between 1 and n_samples = {n}"),
        });
    }
    if params.max_iter == 0 {
        return Err(Error::InvalidParameter {
            name: "max_iter",
            reason: "0; must be at least 1".into(),
        });
    }
    if !(params.tol.is_finite() && params.tol >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "tol",
            reason: format!("{}; must be finite and non-negative", params.tol),
        });
    }
    let trials = params.n_local_trials;
    check_inits(inits, k, p, trials)?;
    if let Some(w) = w {
        check_weights(w, n)?;
    }
    let mut data = Data::new(x, w, params.chunk_rows);
    let weight_totals: Vec<f64> = (0..data.plan.n_chunks())
        .map(|c| data.plan.range(c).map(|i| data.weight(i)).sum())
        .collect();
    if !weight_totals.iter().any(|&t| t > 0.0) {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: "all sample weights are zero; at least one must be positive".into(),
        });
    }
    let (mean, var_mean) = data.build_tiles()?;
    if let Some(a) = assigner.as_deref_mut() {
        a.prepare(&mean)?;
    }
    let tol = if params.tol == 0.0 {
        0.0
    } else {
        var_mean * params.tol
    };
    let mut scratch = Vec::new();
    let mut best: Option<KMeansFit> = None;
    for init in inits {
        let mut start = match init {
            KMeansInit::Centers(c) => c.clone(),
            KMeansInit::PlusPlus(d) => plusplus(&data, k, trials, d, &weight_totals, &mut scratch)?,
        };
        for row in start.chunks_exact_mut(p) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= m;
            }
        }
        let run = lloyd(
            &data,
            &mean,
            start,
            params.max_iter,
            tol,
            &mut SingleProcess,
            0,
            assigner.as_deref_mut(),
        )?;
        let better = match &best {
            None => true,
            Some(b) => run.inertia < b.inertia && !same_clustering(&run.labels, &b.labels, k),
        };
        if better {
            best = Some(run);
        }
    }
    let mut fit = best.ok_or_else(|| Error::NumericalFailure("no k-means run completed".into()))?;
    for row in fit.centers.chunks_exact_mut(p) {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v += m;
        }
    }
    Ok(fit)
}

/// k-means over rows spread across processes (SPMD): this rank holds rows
/// `x` (global rows `offset..offset + n`, possibly none) and `coll`
/// exchanges the partial results. Every rank passes the same explicit
/// initialisations (`inits`: centres, or k-means++ draws) and parameters, and gets
/// the same centres, inertia and `n_iter`, with the labels of its own rows:
/// those [`fit_kmeans`] gives on all the rows, up to the rounding of sums
/// merged per rank. Communication per iteration is O(k·p), whatever `n`.
///
/// A failure on one rank's rows (NaN, a bad weight) fails every rank.
pub fn fit_kmeans_distributed<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    inits: &[KMeansInit],
    params: &KMeansParams,
    coll: &mut dyn Collective,
    offset: usize,
) -> Result<KMeansFit> {
    let p = x.ncols();
    let k = params.n_clusters;
    let mut data = Data::new(x, w, params.chunk_rows);
    // Local work first; its outcome (and the mergeable column moments) is
    // then agreed on, so that an error on one rank fails all of them instead
    // of leaving the others waiting.
    let mut weight_totals = Vec::new();
    let local = (|| -> Result<(f64, Vec<f64>, Vec<f64>, f64)> {
        if p == 0 {
            return Err(Error::EmptyInput { what: "X" });
        }
        if let Some(w) = w {
            check_weights(w, x.nrows())?;
        }
        weight_totals = (0..data.plan.n_chunks())
            .map(|c| data.plan.range(c).map(|i| data.weight(i)).sum())
            .collect();
        let total_weight = weight_totals.iter().sum::<f64>();
        let (count, mean, m2) = data.build_tiles_moments()?;
        Ok((count, mean, m2, total_weight))
    })();
    let mut post = vec![0.0; 3 + 2 * p];
    if let Ok((count, mean, m2, tw)) = &local {
        post[0] = 1.0;
        post[1] = *count;
        post[2] = *tw;
        post[3..3 + p].copy_from_slice(mean);
        post[3 + p..].copy_from_slice(m2);
    }
    let parts = coll.allgather(&post)?;
    local?;
    if let Some(rank) = parts
        .iter()
        .position(|q| q.len() != post.len() || q[0] != 1.0)
    {
        return Err(Error::InvalidParameter {
            name: "X",
            reason: format!(
                "rank {rank} of the distributed fit could not use its rows (it reports why); every rank stops"
            ),
        });
    }
    // Chan, Golub & LeVeque's update over ranks, in rank order.
    let (mut n, mut mean, mut m2, mut total_weight) = (0.0, vec![0.0; p], vec![0.0; p], 0.0);
    for q in &parts {
        let nb = q[1];
        total_weight += q[2];
        if nb == 0.0 {
            continue;
        }
        let (mb, sb) = (&q[3..3 + p], &q[3 + p..]);
        let na = n;
        n += nb;
        for j in 0..p {
            let delta = mb[j] - mean[j];
            mean[j] += delta * (nb / n);
            m2[j] += sb[j] + delta * delta * (na * nb / n);
        }
    }
    if k == 0 || k as f64 > n {
        return Err(Error::InvalidParameter {
            name: "n_clusters",
            reason: format!("{k}; must be between 1 and n_samples = {n}"),
        });
    }
    if params.max_iter == 0 {
        return Err(Error::InvalidParameter {
            name: "max_iter",
            reason: "0; must be at least 1".into(),
        });
    }
    if !(params.tol.is_finite() && params.tol >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "tol",
            reason: format!("{}; must be finite and non-negative", params.tol),
        });
    }
    if total_weight <= 0.0 {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: "all sample weights are zero; at least one must be positive".into(),
        });
    }
    check_inits(inits, k, p, params.n_local_trials)?;
    let tol = if params.tol == 0.0 {
        0.0
    } else {
        var_mean(n, &m2) * params.tol
    };
    let mut best: Option<KMeansFit> = None;
    let mut scratch = Vec::new();
    for init in inits {
        let mut start = match init {
            KMeansInit::Centers(c) => c.clone(),
            KMeansInit::PlusPlus(d) => plusplus_distributed(
                &data,
                k,
                params.n_local_trials,
                d,
                &weight_totals,
                &mut scratch,
                coll,
            )?,
        };
        for row in start.chunks_exact_mut(p) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= m;
            }
        }
        let run = lloyd(
            &data,
            &mean,
            start,
            params.max_iter,
            tol,
            coll,
            offset,
            None,
        )?;
        let better = match &best {
            None => true,
            Some(b) => {
                run.inertia < b.inertia
                    && !same_clustering_over_ranks(&run.labels, &b.labels, k, coll)?
            }
        };
        if better {
            best = Some(run);
        }
    }
    let mut fit = best.ok_or_else(|| Error::NumericalFailure("no k-means run completed".into()))?;
    for row in fit.centers.chunks_exact_mut(p) {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v += m;
        }
    }
    Ok(fit)
}

/// [`same_clustering`] over the rows of every rank: each rank's label map
/// (`-1` unseen, `-2` inconsistent) is gathered and the maps must agree.
fn same_clustering_over_ranks(
    a: &[i32],
    b: &[i32],
    k: usize,
    coll: &mut dyn Collective,
) -> Result<bool> {
    let mut map = vec![-1.0f64; k];
    for (&x, &y) in a.iter().zip(b) {
        let m = &mut map[x as usize];
        if *m == -1.0 {
            *m = y as f64;
        } else if *m != y as f64 {
            *m = -2.0;
        }
    }
    let mut merged = vec![-1.0f64; k];
    for part in coll.allgather(&map)? {
        for (m, &v) in merged.iter_mut().zip(&part) {
            if v == -2.0 || (*m >= 0.0 && v >= 0.0 && *m != v) {
                return Ok(false);
            }
            if *m == -1.0 {
                *m = v;
            }
        }
    }
    Ok(true)
}

/// Checks fitted centres (k×p, finite) against `X`'s columns.
fn check_centers(centers: MatRef<'_, f64>, p: usize) -> Result<Vec<f64>> {
    if centers.ncols() != p {
        return Err(Error::ShapeMismatch {
            what: "number of features of X vs the model's cluster_centers_".into(),
            expected: centers.ncols(),
            got: p,
        });
    }
    if centers.nrows() == 0 {
        return Err(Error::EmptyInput {
            what: "cluster_centers_",
        });
    }
    let mut c = Vec::with_capacity(centers.nrows() * p);
    for i in 0..centers.nrows() {
        for j in 0..p {
            let v = centers[(i, j)];
            if !v.is_finite() {
                return Err(Error::InvalidParameter {
                    name: "cluster_centers_",
                    reason: format!("value {v} at ({i}, {j}); centres must be finite"),
                });
            }
            c.push(v);
        }
    }
    Ok(c)
}

/// The centres' mean and the centres relative to it.
fn centred_centers(c: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let k = c.len() / p;
    let mut shift = vec![0.0; p];
    for row in c.chunks_exact(p) {
        for (s, v) in shift.iter_mut().zip(row) {
            *s += v;
        }
    }
    for s in &mut shift {
        *s /= k as f64;
    }
    let mut centred = c.to_vec();
    for row in centred.chunks_exact_mut(p) {
        for (v, s) in row.iter_mut().zip(&shift) {
            *v -= s;
        }
    }
    (shift, centred)
}

/// Runs `f(rows, tiles of rows, out)` on every chunk of `x`'s rows in
/// parallel (tiles built per chunk in scratch), with the chunk's part of
/// `out` (`width` per row), folding results in chunk order.
fn tiled_pass<T: Real, E: Send, R: Send, A>(
    x: MatRef<'_, T>,
    chunk_rows: usize,
    out: &mut [E],
    width: usize,
    init: A,
    f: impl Fn(Range<usize>, &[f64], &mut [E]) -> Result<R> + Sync,
    fold: impl FnMut(A, R) -> A,
) -> Result<A> {
    let (n, p) = x.shape();
    let plan = ChunkPlan::new(n, p, chunk_rows_for(chunk_rows, p));
    chunk_pass(
        plan,
        parallel_for(n, p),
        out,
        width,
        64,
        init,
        |rows, o| {
            with_scratch(|buf| {
                let t = tiles_into(x.subrows(rows.start, rows.len()), buf);
                f(rows, t, o)
            })
        },
        fold,
    )
}

/// Fails with the first NaN or infinity of `x`'s rows `rows`.
fn check_rows<T: Real>(x: MatRef<'_, T>, rows: Range<usize>) -> Result<()> {
    match first_non_finite(x.subrows(rows.start, rows.len()), "X", rows.start) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Nearest centre of each row of `x` (scikit-learn's `predict`: smallest
/// `‖c‖² − 2 x·c`, ties to the lowest index), into `out`. Both are taken
/// relative to the centres' mean, for precision; the arithmetic order is
/// fixed, so labels are the same on every machine and thread count.
pub fn predict_kmeans<T: Real>(
    x: MatRef<'_, T>,
    centers: MatRef<'_, f64>,
    chunk_rows: usize,
    out: &mut [i32],
) -> Result<()> {
    let (n, p) = x.shape();
    let c = check_centers(centers, p)?;
    if out.len() != n {
        return Err(Error::ShapeMismatch {
            what: "length of the labels output vs number of samples".into(),
            expected: n,
            got: out.len(),
        });
    }
    if n == 0 {
        return Ok(());
    }
    let (shift, centred) = centred_centers(&c, p);
    let panel = Panel::new(&centred, c.len() / p, p);
    tiled_pass(
        x,
        chunk_rows,
        out,
        1,
        (),
        |rows, t, lab| {
            let mut best = vec![0.0; rows.len()];
            nearest(t, &shift, &panel, lab, &mut best);
            // NaN or infinity in a row leaves its best value non-finite.
            if best.iter().any(|v| !v.is_finite()) {
                check_rows(x, rows)?;
            }
            Ok(())
        },
        |(), ()| (),
    )
}

/// Euclidean distance of each row of `x` to each centre (scikit-learn's
/// `transform`), into `out` (n×k row-major), from direct differences.
pub fn transform_kmeans<T: Real>(
    x: MatRef<'_, T>,
    centers: MatRef<'_, f64>,
    chunk_rows: usize,
    out: &mut [f64],
) -> Result<()> {
    let (n, p) = x.shape();
    let c = check_centers(centers, p)?;
    let k = c.len() / p;
    if out.len() != n * k {
        return Err(Error::ShapeMismatch {
            what: "size of the distances output vs n_samples x n_clusters".into(),
            expected: n * k,
            got: out.len(),
        });
    }
    if n == 0 {
        return Ok(());
    }
    let panel = Panel::new(&c, k, p);
    tiled_pass(
        x,
        chunk_rows,
        out,
        k,
        (),
        |rows, t, o| {
            sq_dists(t, rows.len(), &panel, o);
            if o.iter().any(|v| !v.is_finite()) {
                check_rows(x, rows)?;
            }
            for v in o.iter_mut() {
                *v = v.sqrt();
            }
            Ok(())
        },
        |(), ()| (),
    )
}

/// Weighted inertia of `x` with the nearest of `centers` (minus scikit-
/// learn's `score`). Weights must be finite; they may be negative, as in
/// scikit-learn.
pub fn inertia_kmeans<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    centers: MatRef<'_, f64>,
    chunk_rows: usize,
) -> Result<f64> {
    let (n, p) = x.shape();
    check_shape(n, p)?;
    let c = check_centers(centers, p)?;
    if let Some(w) = w {
        if w.len() != n {
            return Err(Error::ShapeMismatch {
                what: "sample_weight length vs number of samples in X".into(),
                expected: n,
                got: w.len(),
            });
        }
        if let Some((index, v)) = w.iter().enumerate().find(|(_, v)| !v.to_f64().is_finite()) {
            return Err(Error::InvalidSampleWeight {
                index,
                value: v.to_f64(),
            });
        }
    }
    let (shift, centred) = centred_centers(&c, p);
    let k = c.len() / p;
    let panel = Panel::new(&centred, k, p);
    let mut nothing = vec![(); n];
    tiled_pass(
        x,
        chunk_rows,
        &mut nothing,
        1,
        0.0,
        |rows, t, _| {
            let m = rows.len();
            let wl: Vec<f64> = rows
                .clone()
                .map(|i| w.map_or(1.0, |w| w[i].to_f64()))
                .collect();
            let mut best = vec![0.0; m];
            let mut lab = vec![0i32; m];
            nearest(t, &shift, &panel, &mut lab, &mut best);
            if best.iter().any(|v| !v.is_finite()) {
                check_rows(x, rows)?;
            }
            Ok(accumulate(t, &shift, &wl, &lab, &centred, None))
        },
        |a, b| a + b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1) (tests only).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `n` points around `k` well-separated centres in `p` dimensions.
    fn blobs(n: usize, p: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let mut r = Lcg(seed);
        let centres: Vec<f64> = (0..k * p).map(|_| r.next() * 100.0).collect();
        let mut x = Vec::with_capacity(n * p);
        let mut truth = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % k;
            truth.push(c);
            for f in 0..p {
                x.push(centres[c * p + f] + (r.next() - 0.5));
            }
        }
        (x, truth)
    }

    fn params(k: usize) -> KMeansParams {
        KMeansParams {
            n_clusters: k,
            max_iter: 100,
            tol: 1e-4,
            n_local_trials: 2 + (k as f64).ln() as usize,
            chunk_rows: 64,
        }
    }

    fn draws(k: usize, trials: usize, seed: u64) -> KMeansInit {
        let mut r = Lcg(seed);
        KMeansInit::PlusPlus((0..1 + (k - 1) * trials).map(|_| r.next()).collect())
    }

    #[test]
    fn finds_separated_blobs() {
        let (n, p, k) = (1000, 5, 4);
        let (xs, truth) = blobs(n, p, k, 1);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let pr = params(k);
        let fit = fit_kmeans(x, None::<&[f64]>, &[draws(k, pr.n_local_trials, 2)], &pr).unwrap();
        // Same partition as the truth, up to a permutation of the labels.
        let mut map = vec![-1i32; k];
        for (&t, &l) in truth.iter().zip(&fit.labels) {
            if map[t] == -1 {
                map[t] = l;
            }
            assert_eq!(map[t], l);
        }
        // Inertia is the sum of squared distances to the assigned centres.
        let mut inertia = 0.0;
        for i in 0..n {
            let l = fit.labels[i] as usize;
            for f in 0..p {
                let d = xs[i * p + f] - fit.centers[l * p + f];
                inertia += d * d;
            }
        }
        assert!((inertia - fit.inertia).abs() <= 1e-9 * inertia);
        // Uniform noise of width 1: variance 1/12 per coordinate.
        assert!((fit.inertia / (n * p) as f64 - 1.0 / 12.0).abs() < 0.01);
        let mut pred = vec![0i32; n];
        predict_kmeans(
            x,
            MatRef::from_row_major_slice(&fit.centers, k, p),
            0,
            &mut pred,
        )
        .unwrap();
        assert_eq!(pred, fit.labels);
    }

    #[test]
    fn independent_of_thread_count_and_layout() {
        // Large enough to run in parallel (see `parallel_for`).
        let (n, p, k) = (40_000, 7, 6);
        assert!(parallel_for(n, p));
        let (xs, _) = blobs(n, p, k, 3);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let xt: Vec<f64> = (0..n * p).map(|e| xs[(e % n) * p + e / n]).collect();
        let xc = MatRef::from_column_major_slice(&xt, n, p);
        let pr = params(k);
        let inits = [
            draws(k, pr.n_local_trials, 5),
            draws(k, pr.n_local_trials, 6),
        ];
        let run = |threads: usize, x: MatRef<'_, f64>| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit_kmeans(x, None::<&[f64]>, &inits, &pr).unwrap())
        };
        let one = run(1, x);
        for threads in [2, 3, 8] {
            assert_eq!(run(threads, x), one, "{threads} threads");
        }
        assert_eq!(run(2, xc), one, "column-major");
    }

    #[test]
    fn plusplus_follows_the_draws() {
        // Two far groups: the first draw picks by weight, the later ones by
        // squared distance, so the second centre is in the other group.
        let xs = [0.0, 0.0, 0.1, 0.0, 10.0, 0.0, 10.1, 0.0];
        let x = MatRef::from_row_major_slice(&xs, 4, 2);
        let mut data = Data::new(x, None::<&[f64]>, 1);
        assert_eq!(data.plan.chunk_rows, LANES); // rounded up to whole tiles
        data.build_tiles().unwrap();
        let totals = vec![4.0];
        let mut scratch = Vec::new();
        // u0 = 0.6 → row 2 (cumulative 3 > 2.4); then any draw lands in the
        // far group {0, 1}.
        let c = plusplus(&data, 2, 2, &[0.6, 0.3, 0.9], &totals, &mut scratch).unwrap();
        assert_eq!(&c[..2], &[10.0, 0.0]);
        assert!(c[2] < 1.0);
        // Sample weights: zero weight rows are never picked first.
        let w = [0.0, 0.0, 0.0, 1.0];
        let mut data_w = Data::new(x, Some(&w[..]), 0);
        data_w.build_tiles().unwrap();
        let c = plusplus(&data_w, 1, 2, &[0.0], &[1.0], &mut scratch).unwrap();
        assert_eq!(c, vec![10.1, 0.0]);
    }

    #[test]
    fn explicit_init_and_empty_cluster_relocation() {
        // Centre 2 starts far from every point: its cluster is empty after
        // the first E-step and takes the point farthest from its centre.
        let xs = [0.0, 1.0, 2.0, 10.0, 11.0, 30.0];
        let x = MatRef::from_row_major_slice(&xs, 6, 1);
        let pr = KMeansParams {
            chunk_rows: 2,
            ..params(3)
        };
        let init = KMeansInit::Centers(vec![0.0, 11.0, 1000.0]);
        let fit = fit_kmeans(x, None::<&[f64]>, &[init], &pr).unwrap();
        let mut c = fit.centers.clone();
        c.sort_by(f64::total_cmp);
        assert_eq!(c, vec![1.0, 10.5, 30.0]);
        assert!((fit.inertia - (2.0 + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn sample_weights_equal_repetition_with_fixed_init() {
        let xs = [0.0, 1.0, 5.0, 6.0, 7.0];
        let w = [2.0, 1.0, 1.0, 0.0, 3.0];
        let rep = [0.0, 0.0, 1.0, 5.0, 7.0, 7.0, 7.0];
        let pr = params(2);
        let init = [KMeansInit::Centers(vec![0.5, 6.0])];
        let a = fit_kmeans(
            MatRef::from_row_major_slice(&xs, 5, 1),
            Some(&w[..]),
            &init,
            &pr,
        )
        .unwrap();
        let b = fit_kmeans(
            MatRef::from_row_major_slice(&rep, 7, 1),
            None::<&[f64]>,
            &init,
            &pr,
        )
        .unwrap();
        for (u, v) in a.centers.iter().zip(&b.centers) {
            assert!((u - v).abs() < 1e-12);
        }
        assert!((a.inertia - b.inertia).abs() < 1e-12);
    }

    #[test]
    fn float32_agrees_with_float64() {
        let (n, p, k) = (2000, 3, 3);
        let (xs, _) = blobs(n, p, k, 9);
        let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let pr = params(k);
        let init = [draws(k, pr.n_local_trials, 1)];
        let a = fit_kmeans(
            MatRef::from_row_major_slice(&x32, n, p),
            None::<&[f32]>,
            &init,
            &pr,
        )
        .unwrap();
        let b = fit_kmeans(
            MatRef::from_row_major_slice(&x64, n, p),
            None::<&[f64]>,
            &init,
            &pr,
        )
        .unwrap();
        // Both compute in f64 from the same values.
        assert_eq!(a, b);
    }

    #[test]
    fn bad_input_is_reported() {
        let xs = [0.0, 1.0, f64::NAN, 2.0];
        let x = MatRef::from_row_major_slice(&xs, 4, 1);
        let pr = params(2);
        let init = [KMeansInit::Centers(vec![0.0, 1.0])];
        let e = fit_kmeans(x, None::<&[f64]>, &init, &pr).unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 2, col: 0, .. }), "{e}");
        let ok = [0.0, 1.0, 3.0, 2.0];
        let x = MatRef::from_row_major_slice(&ok, 4, 1);
        let e = fit_kmeans(x, None::<&[f64]>, &init, &params(5)).unwrap_err();
        assert!(e.to_string().contains("n_clusters"), "{e}");
        let e = fit_kmeans(x, None::<&[f64]>, &[KMeansInit::Centers(vec![0.0])], &pr).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = fit_kmeans(x, Some(&[0.0; 4][..]), &init, &pr).unwrap_err();
        assert!(e.to_string().contains("sample weights are zero"), "{e}");
        let e = fit_kmeans(x, None::<&[f64]>, &[KMeansInit::PlusPlus(vec![0.5])], &pr).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let c = [0.0, 1.0];
        let mut out = [0i32; 4];
        let e = predict_kmeans(
            MatRef::from_row_major_slice(&ok, 2, 2),
            MatRef::from_row_major_slice(&c, 2, 1),
            0,
            &mut out[..2],
        )
        .unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    }

    #[test]
    fn predict_ties_go_to_the_lowest_index_and_transform_is_exact() {
        let c = [1.0, -1.0, 3.0];
        let xs = [0.0, 2.0, 5.0];
        let x = MatRef::from_row_major_slice(&xs, 3, 1);
        let cm = MatRef::from_row_major_slice(&c, 3, 1);
        let mut lab = vec![0i32; 3];
        predict_kmeans(x, cm, 0, &mut lab).unwrap();
        assert_eq!(lab, vec![0, 0, 2]); // 0 is equidistant from 1 and -1; 2 from 1 and 3
        let mut d = vec![0.0; 9];
        transform_kmeans(x, cm, 0, &mut d).unwrap();
        assert_eq!(d, vec![1.0, 1.0, 3.0, 1.0, 3.0, 1.0, 4.0, 6.0, 2.0]);
        let s = inertia_kmeans(x, Some(&[1.0, 2.0, 0.5][..]), cm, 0).unwrap();
        assert_eq!(s, 1.0 + 2.0 + 0.5 * 4.0);
    }

    #[test]
    fn kernels_agree_with_naive_for_many_shapes() {
        let mut r = Lcg(11);
        for (m, p, k) in [
            (1usize, 1usize, 1usize),
            (7, 3, 9),
            (13, 17, 8),
            (5, 9, 17),
            (16, 2, 3),
        ] {
            let b: Vec<f64> = (0..m * p).map(|_| r.next() - 0.5).collect();
            let c: Vec<f64> = (0..k * p).map(|_| r.next() - 0.5).collect();
            let s: Vec<f64> = (0..p).map(|_| r.next() - 0.5).collect();
            let mut buf = vec![1.0; 3];
            let tiles = tiles_into(MatRef::from_row_major_slice(&b, m, p), &mut buf).to_vec();
            let panel = Panel::new(&c, k, p);
            let mut lab = vec![0i32; m];
            let mut best = vec![0.0; m];
            nearest(&tiles, &s, &panel, &mut lab, &mut best);
            let mut d = vec![0.0; m * k];
            sq_dists(&tiles, m, &panel, &mut d);
            for i in 0..m {
                let naive: Vec<f64> = (0..k)
                    .map(|j| (0..p).map(|f| (b[i * p + f] - c[j * p + f]).powi(2)).sum())
                    .collect();
                let shifted: Vec<f64> = (0..k)
                    .map(|j| {
                        (0..p)
                            .map(|f| (b[i * p + f] - s[f] - c[j * p + f]).powi(2))
                            .sum()
                    })
                    .collect();
                let argmin = (0..k)
                    .min_by(|&a, &b| shifted[a].total_cmp(&shifted[b]))
                    .unwrap();
                assert_eq!(lab[i] as usize, argmin);
                for j in 0..k {
                    assert!((d[i * k + j] - naive[j]).abs() < 1e-12);
                }
            }
        }
    }
}

#[cfg(test)]
mod assigner_tests {
    use super::*;

    /// Labels by the textbook formula, counting its calls.
    struct Naive<'a> {
        x: MatRef<'a, f64>,
        shift: Vec<f64>,
        calls: usize,
    }

    impl LabelAssigner for Naive<'_> {
        fn prepare(&mut self, shift: &[f64]) -> Result<()> {
            self.shift = shift.to_vec();
            Ok(())
        }

        fn assign(&mut self, centers: &[f64], labels: &mut [i32]) -> Result<()> {
            self.calls += 1;
            let p = self.x.ncols();
            for (i, l) in labels.iter_mut().enumerate() {
                let mut best = (f64::INFINITY, 0);
                for (j, c) in centers.chunks_exact(p).enumerate() {
                    let cn: f64 = c.iter().map(|v| v * v).sum();
                    let dot: f64 = (0..p)
                        .map(|f| (self.x[(i, f)] - self.shift[f]) * c[f])
                        .sum();
                    let v = cn - 2.0 * dot;
                    if v < best.0 {
                        best = (v, j);
                    }
                }
                *l = best.1 as i32;
            }
            Ok(())
        }
    }

    #[test]
    fn an_assigner_gives_the_cpu_model() {
        let (n, p, k) = (3000, 5, 4);
        let mut s = 3u64;
        let xs: Vec<f64> = (0..n * p)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 + 5.0 * ((i / p) % k) as f64
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let params = KMeansParams {
            n_clusters: k,
            max_iter: 50,
            tol: 1e-4,
            n_local_trials: 2,
            chunk_rows: 0,
        };
        let draws: Vec<f64> = (0..1 + (k - 1) * 2)
            .map(|i| (i as f64 * 0.377) % 1.0)
            .collect();
        let inits = [
            KMeansInit::PlusPlus(draws),
            KMeansInit::Centers(xs[..k * p].to_vec()),
        ];
        let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        for wt in [None, Some(&w[..])] {
            let cpu = fit_kmeans(x, wt, &inits, &params).unwrap();
            let mut a = Naive {
                x,
                shift: Vec::new(),
                calls: 0,
            };
            let with = fit_kmeans_with(x, wt, &inits, &params, Some(&mut a)).unwrap();
            assert!(a.calls >= 2);
            assert_eq!(with.labels, cpu.labels);
            assert_eq!(with.n_iter, cpu.n_iter);
            assert_eq!(with.centers, cpu.centers);
            assert_eq!(with.inertia, cpu.inertia);
        }
    }
}
