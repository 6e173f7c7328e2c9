//! The tiled data layout and its SIMD kernels: rows in groups of [`LANES`]
//! stored feature by feature, distances, nearest centres and weighted sums
//! eight rows at a time, one row per lane, with no fused multiply-add.

use super::*;
use std::mem::MaybeUninit;

/// Rows per tile: the kernels give each of eight rows its own SIMD lane.
pub(super) const LANES: usize = 8;
/// Most points per register block of the distance kernels: six eight-lane
/// accumulators fit the sixteen AVX2 registers with room for the operands.
pub(super) const MAX_J: usize = 6;

/// Splits `k` points into `(first, size)` register blocks of at most
/// [`MAX_J`], as even as possible (10 points: two blocks of 5), so that no
/// block is a single latency-bound accumulator.
pub(super) fn blocks(k: usize) -> Vec<(usize, usize)> {
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

/// Combines eight lane sums in a fixed order.
#[inline(always)]
pub(super) fn lane_sum(a: &[f64; LANES]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Eight lanes of `f64`, one row per lane. Operations are plain element-wise
/// loops that the compiler turns into one vector instruction (or two, or
/// four, depending on the SIMD level): the same arithmetic in every lane.
#[derive(Clone, Copy)]
pub(super) struct V8([f64; LANES]);

impl V8 {
    #[inline(always)]
    pub(super) fn zero() -> V8 {
        V8([0.0; LANES])
    }

    #[inline(always)]
    pub(super) fn sub_scalar(self, c: f64) -> V8 {
        let mut a = self.0;
        for v in &mut a {
            *v -= c;
        }
        V8(a)
    }

    /// `self + x · c`, rounded after the product (no fused multiply-add).
    #[inline(always)]
    pub(super) fn add_mul(self, x: V8, c: f64) -> V8 {
        let mut a = self.0;
        for l in 0..LANES {
            a[l] += x.0[l] * c;
        }
        V8(a)
    }

    #[inline(always)]
    pub(super) fn add(self, x: V8) -> V8 {
        let mut a = self.0;
        for l in 0..LANES {
            a[l] += x.0[l];
        }
        V8(a)
    }

    /// `self + (x − c)²`.
    #[inline(always)]
    pub(super) fn add_sq_diff(self, x: V8, c: f64) -> V8 {
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
    pub(super) fn fill_tiles<T: Real>(x: MatRef<'_, T>, out: &mut [MaybeUninit<f64>]) -> ()
    => fill_tiles_portable
}

#[inline(always)]
pub(super) fn fill_tiles_portable<T: Real>(x: MatRef<'_, T>, out: &mut [MaybeUninit<f64>]) {
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
pub(super) fn tiles_into<'b, T: Real>(x: MatRef<'_, T>, buf: &'b mut Vec<f64>) -> &'b [f64] {
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
    pub(super) fn tile_moments(tiles: &[f64], m: usize, p: usize) -> (Vec<f64>, Vec<f64>)
    => tile_moments_portable
}

#[inline(always)]
pub(super) fn tile_moments_portable(tiles: &[f64], m: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
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
pub(super) struct Panel {
    pub(super) k: usize,
    pub(super) p: usize,
    pub(super) norms: Vec<f64>,
    pub(super) blocks: Vec<Block>,
}

/// A register block of points `j0..j0 + size`.
pub(super) struct Block {
    pub(super) j0: usize,
    pub(super) size: usize,
    pub(super) cols: Vec<f64>,
}

impl Panel {
    /// `c` is k×p row-major.
    pub(super) fn new(c: &[f64], k: usize, p: usize) -> Panel {
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
pub(super) fn sq_norm(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    for (i, &x) in a.iter().enumerate() {
        acc[i % LANES] += x * x;
    }
    lane_sum(&acc)
}

/// The groups of `LANES` rows among the first `m` rows of `tiles` (`p > 0`
/// features): each group's first row `g`, its number of rows
/// `n = min(m − g, LANES)` and its tile.
#[inline(always)]
pub(super) fn lane_groups(
    tiles: &[f64],
    p: usize,
    m: usize,
) -> impl Iterator<Item = (usize, usize, &[f64])> {
    tiles
        .chunks_exact(p * LANES)
        .enumerate()
        .map(|(gi, t)| (gi * LANES, t))
        .take_while(move |&(g, _)| g < m)
        .map(move |(g, t)| (g, (m - g).min(LANES), t))
}

crate::simd::multiversion! {
    /// For each of the first `m` rows `x` of `tiles`: the nearest point of
    /// `panel` to `x − shift` by `‖c‖² − 2 (x − shift)·c` (ties to the
    /// lowest index) into `labels`, and that value into `best`.
    pub(super) fn nearest(tiles: &[f64], shift: &[f64], panel: &Panel, labels: &mut [i32], best: &mut [f64]) -> ()
    => nearest_portable
}

#[inline(always)]
pub(super) fn nearest_portable(
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
    for (g, n, t) in lane_groups(tiles, p, m) {
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
pub(super) fn nearest_block<const JB: usize>(
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
    pub(super) fn sq_dists(tiles: &[f64], m: usize, panel: &Panel, out: &mut [f64]) -> ()
    => sq_dists_portable
}

#[inline(always)]
pub(super) fn sq_dists_portable(tiles: &[f64], m: usize, panel: &Panel, out: &mut [f64]) {
    let (k, p) = (panel.k, panel.p);
    if p == 0 || k == 0 {
        return;
    }
    for (g, n, t) in lane_groups(tiles, p, m) {
        for b in &panel.blocks {
            by_block!(b.size, sq_dists_block(t, panel, b, &mut out[g * k..], n));
        }
    }
}

#[inline(always)]
pub(super) fn sq_dists_block<const JB: usize>(
    t: &[f64],
    panel: &Panel,
    b: &Block,
    out: &mut [f64],
    n: usize,
) {
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
pub(super) fn dist_block<const JB: usize>(t: &[f64], b: &Block) -> [[f64; LANES]; JB] {
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
pub(super) struct Sums<'s> {
    pub(super) sums: &'s mut [f64],
    pub(super) weights: &'s mut [f64],
}

crate::simd::multiversion! {
    /// With `x_i` the `i`-th of the first `m = labels.len()` rows of `tiles`
    /// minus `shift`: adds `w_i x_i` to row `labels[i]` of `sums` and `w_i`
    /// to its weight (when given), in row order; returns
    /// `Σ w_i ‖x_i − c_{labels[i]}‖²`.
    pub(super) fn accumulate(tiles: &[f64], shift: &[f64], w: &[f64], labels: &[i32], centers: &[f64], sums: Option<Sums<'_>>) -> f64
    => accumulate_portable
}

#[inline(always)]
pub(super) fn accumulate_portable(
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
    for (g, n, t) in lane_groups(tiles, p, m) {
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
