//! Kernels, the kernel-row cache and the `Q` matrices of the SVM duals.
//!
//! The solver asks for rows of `Q` (the kernel matrix times label signs),
//! stored in `f32` as libsvm stores them (half the memory and bandwidth of
//! `f64`; the solver's gradient and coefficients stay `f64`). A row is
//! computed for the active prefix of the solver's order only, with the
//! training rows kept transposed in that order: eight positions' values of a
//! feature are one load, shared by the up to [`BLOCK`] rows computed in one
//! pass, whose dot products stay in registers over every feature.

use rayon::prelude::*;

use super::lanes::{dispatch, pad, Lanes, WithLanes, W};
use crate::error::{Error, Result};
use crate::special::exp_nonpos_fma;

/// `Σ v²` in row order: every squared norm the kernels use (training rows,
/// support vectors, queries) sums the same way.
pub(crate) fn sq_norm(row: &[f64]) -> f64 {
    row.iter().fold(0.0, |s, &v| s + v * v)
}

/// A kernel function with scikit-learn's parameters (`gamma` already
/// resolved from `'scale'` or `'auto'`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kernel {
    /// `<x, y>`.
    Linear,
    /// `(gamma <x, y> + coef0)^degree`.
    Poly {
        /// Exponent (`degree >= 0`).
        degree: u32,
        /// Scale of the dot product.
        gamma: f64,
        /// Added term.
        coef0: f64,
    },
    /// `exp(-gamma |x - y|^2)`.
    Rbf {
        /// Width (`gamma >= 0`).
        gamma: f64,
    },
    /// `tanh(gamma <x, y> + coef0)`.
    Sigmoid {
        /// Scale of the dot product.
        gamma: f64,
        /// Added term.
        coef0: f64,
    },
}

/// `base^n` by repeated squaring, the multiplication order of libsvm's
/// `powi` (so polynomial kernels round as scikit-learn's do).
#[inline(always)]
fn pow_int(base: f64, n: u32) -> f64 {
    let (mut acc, mut sq, mut t) = (1.0, base, n);
    while t > 0 {
        if t & 1 == 1 {
            acc *= sq;
        }
        sq *= sq;
        t >>= 1;
    }
    acc
}

impl Kernel {
    /// The kernel scikit-learn names `name`, with its parameters (`degree`
    /// is used by poly only, `coef0` by poly and sigmoid).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a name without a Rust kernel
    /// (`precomputed`, a callable) or a degree outside `u32`.
    pub fn from_name(name: &str, degree: i64, gamma: f64, coef0: f64) -> Result<Kernel> {
        Ok(match name {
            "linear" => Kernel::Linear,
            "poly" => Kernel::Poly {
                degree: u32::try_from(degree).map_err(|_| Error::InvalidParameter {
                    name: "degree",
                    reason: format!("must be in [0, 2^32), got {degree}"),
                })?,
                gamma,
                coef0,
            },
            "rbf" => Kernel::Rbf { gamma },
            "sigmoid" => Kernel::Sigmoid { gamma, coef0 },
            other => {
                return Err(Error::InvalidParameter {
                    name: "kernel",
                    reason: format!(
                        "{other:?} is not computed in Rust (linear, poly, rbf, sigmoid)"
                    ),
                })
            }
        })
    }

    /// Whether the kernel needs the rows' squared norms.
    pub(crate) fn needs_norms(self) -> bool {
        matches!(self, Kernel::Rbf { .. })
    }

    /// The kernel value from the dot product and (for rbf) the two squared
    /// norms.
    #[inline(always)]
    pub(crate) fn of_dot(self, dot: f64, sq_a: f64, sq_b: f64) -> f64 {
        match self {
            Kernel::Linear => dot,
            Kernel::Poly {
                degree,
                gamma,
                coef0,
            } => pow_int(gamma * dot + coef0, degree),
            // The expansion can round a tiny distance below zero: clamp, so
            // the value never exceeds 1 (a NaN from overflowed norms stays NaN).
            Kernel::Rbf { gamma } => {
                let d2 = (sq_a + sq_b) - 2.0 * dot;
                exp_nonpos_fma(-gamma * if d2 < 0.0 { 0.0 } else { d2 })
            }
            Kernel::Sigmoid { gamma, coef0 } => (gamma * dot + coef0).tanh(),
        }
    }
}

/// Columns per tile of a kernel row, the unit of work split across threads:
/// the tile's dot products (`BLOCK` rows, 32 KiB) stay in L1 until the
/// kernel is applied to them.
const TILE: usize = 1024;
/// Kernel rows with fewer multiply-adds than this are computed on one
/// thread: splitting costs more than it saves.
const PAR_MIN_WORK: usize = 1 << 16;

/// The training rows of one problem, transposed, in the solver's order.
pub(crate) struct KernelRows {
    kernel: Kernel,
    d: usize,
    /// Feature-major: `xt[f * l + j]` is feature `f` of position `j`.
    xt: Vec<f64>,
    /// Squared norms (rbf only; zeros otherwise).
    sq: Vec<f64>,
    l: usize,
}

/// Rows whose dot products one pass over a tile computes: each group of
/// `W` columns is loaded once for all of them, and their accumulators stay
/// in registers over every feature.
const BLOCK: usize = 4;

/// One tile of several kernel rows, run by [`dispatch`]: `outs[k][j] = y_i
/// y_j K(row is[k], position j0 + j)` (or `K` without signs).
struct TileRows<'a> {
    rows: &'a KernelRows,
    /// The rows' features and squared norms.
    xis: &'a [(Vec<f64>, f64)],
    /// Their positions (for the signs).
    is: &'a [usize],
    j0: usize,
    y: Option<&'a [f32]>,
    /// Scratch: `BLOCK` rows of dot products.
    dots: &'a mut [f64],
    outs: Vec<&'a mut [f32]>,
}

impl WithLanes for TileRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run<V: Lanes>(self) {
        let TileRows {
            rows,
            xis,
            is,
            j0,
            y,
            dots,
            mut outs,
        } = self;
        let n = outs.first().map_or(0, |o| o.len());
        let mut k = 0;
        while k < is.len() {
            let r = (is.len() - k).min(BLOCK);
            let xs: [&[f64]; BLOCK] = std::array::from_fn(|q| &xis[k + q.min(r - 1)].0[..]);
            let dots = &mut dots[..BLOCK * n];
            match r {
                1 => dot_block::<V, 1>(rows, &xs, j0, dots),
                2 => dot_block::<V, 2>(rows, &xs, j0, dots),
                3 => dot_block::<V, 3>(rows, &xs, j0, dots),
                _ => dot_block::<V, 4>(rows, &xs, j0, dots),
            }
            for q in 0..r {
                let acc = &mut dots[q * n..(q + 1) * n];
                apply_kernel(rows.kernel, acc, xis[k + q].1, &rows.sq[j0..j0 + n]);
                let out = &mut *outs[k + q];
                match y {
                    // y_i y_j K rounded once: a sign flip commutes with the rounding.
                    Some(y) => {
                        let yi = y[is[k + q]];
                        for ((o, &v), &yj) in out.iter_mut().zip(acc.iter()).zip(&y[j0..j0 + n]) {
                            *o = (v as f32) * (yi * yj);
                        }
                    }
                    None => {
                        for (o, &v) in out.iter_mut().zip(acc.iter()) {
                            *o = v as f32;
                        }
                    }
                }
            }
            k += r;
        }
    }
}

/// `dots[q * n + j] = <xs[q], position j0 + j>` for the first `R` rows of
/// `xs` (`n = dots.len() / BLOCK`), four features at a time from zero:
/// `s += (a0 c0 + a1 c1) + (a2 c2 + a3 c3)`, then one feature at a time.
/// The grouping is fixed, so every SIMD level, block size and thread count
/// gives the same bits.
#[inline(always)]
fn dot_block<V: Lanes, const R: usize>(
    rows: &KernelRows,
    xs: &[&[f64]; BLOCK],
    j0: usize,
    dots: &mut [f64],
) {
    let n = dots.len() / BLOCK;
    let (d, l) = (rows.d, rows.l);
    // The bounds every load below relies on.
    assert!(rows.xt.len() == d * l && j0 + n <= l && xs.iter().all(|x| x.len() >= d));
    let body = n - n % W;
    for c in (0..body).step_by(W) {
        // SAFETY: `dot_group` asks only for features f < d; feature f of
        // positions j0 + c .. j0 + c + W <= j0 + n <= l is at f * l + j0 + c + k
        // < d * l = xt.len() (asserted above). Unchecked: the bounds checks of
        // twenty loads per group cost a fifth of the dot products (measured).
        let acc = dot_group::<V, R>(d, xs, |f| unsafe {
            V::load(&*rows.xt.as_ptr().add(f * l + j0 + c).cast::<[f64; W]>())
        });
        for (q, a) in acc.iter().enumerate() {
            a.store(&mut dots[q * n + c..q * n + c + W].as_chunks_mut::<W>().0[0]);
        }
    }
    if body < n {
        let tail = n - body;
        let acc = dot_group::<V, R>(d, xs, |f| {
            let at = f * l + j0 + body;
            V::load(&pad(&rows.xt[at..at + tail]))
        });
        for (q, a) in acc.iter().enumerate() {
            let mut v = [0.0; W];
            a.store(&mut v);
            dots[q * n + body..(q + 1) * n].copy_from_slice(&v[..tail]);
        }
    }
}

/// The dot products of `R` rows with one group of columns (`col(f)`: the
/// group's feature `f`, asked for `f < d` only; `xs[q]` holds at least `d`
/// features).
#[inline(always)]
fn dot_group<V: Lanes, const R: usize>(
    d: usize,
    xs: &[&[f64]; BLOCK],
    col: impl Fn(usize) -> V,
) -> [V; R] {
    let mut acc = [V::splat(0.0); R];
    let mut f = 0;
    while f + 4 <= d {
        let (c0, c1, c2, c3) = (col(f), col(f + 1), col(f + 2), col(f + 3));
        for (a, x) in acc.iter_mut().zip(xs) {
            let x = &x[f..f + 4].as_chunks::<4>().0[0];
            let p01 = V::splat(x[0]).mul(c0).add(V::splat(x[1]).mul(c1));
            let p23 = V::splat(x[2]).mul(c2).add(V::splat(x[3]).mul(c3));
            *a = a.add(p01.add(p23));
        }
        f += 4;
    }
    while f < d {
        let c = col(f);
        for (a, x) in acc.iter_mut().zip(xs) {
            *a = a.add(V::splat(x[f]).mul(c));
        }
        f += 1;
    }
    acc
}

/// Kernel values from dot products, in place (`sq`: the other rows'
/// squared norms, rbf only). The kernel is matched once, outside the loops,
/// so that each loop vectorises.
#[inline(always)]
pub(crate) fn apply_kernel(kernel: Kernel, dots: &mut [f64], sq_a: f64, sq: &[f64]) {
    match kernel {
        Kernel::Linear => {}
        Kernel::Rbf { .. } => {
            for (v, &s) in dots.iter_mut().zip(sq) {
                *v = kernel.of_dot(*v, sq_a, s);
            }
        }
        Kernel::Poly { .. } | Kernel::Sigmoid { .. } => {
            for v in dots.iter_mut() {
                *v = kernel.of_dot(*v, 0.0, 0.0);
            }
        }
    }
}

impl KernelRows {
    /// `x` is row-major `l x d`; `order[p]` is the row at position `p`.
    pub(crate) fn new(kernel: Kernel, x: &[f64], d: usize, order: &[usize]) -> Self {
        let l = order.len();
        let mut xt = vec![0.0; d * l];
        let mut sq = vec![0.0; l];
        for (p, &r) in order.iter().enumerate() {
            let row = &x[r * d..(r + 1) * d];
            for (f, &v) in row.iter().enumerate() {
                xt[f * l + p] = v;
            }
            if kernel.needs_norms() {
                sq[p] = sq_norm(row);
            }
        }
        KernelRows {
            kernel,
            d,
            xt,
            sq,
            l,
        }
    }

    /// Number of positions.
    pub(crate) fn len(&self) -> usize {
        self.l
    }

    /// The rows feature-major: `[f * len() + p]` is feature `f` at
    /// position `p`.
    pub(crate) fn features(&self) -> &[f64] {
        &self.xt
    }

    /// The rows' squared norms (rbf; zeros for the other kernels).
    pub(crate) fn sq_norms(&self) -> &[f64] {
        &self.sq
    }

    /// `K(p, p)`.
    pub(crate) fn diag(&self, p: usize) -> f64 {
        let dot = (0..self.d).fold(0.0, |s, f| {
            let v = self.xt[f * self.l + p];
            s + v * v
        });
        self.kernel.of_dot(dot, self.sq[p], self.sq[p])
    }

    /// Swaps positions `a` and `b`.
    pub(crate) fn swap(&mut self, a: usize, b: usize) {
        for f in 0..self.d {
            self.xt.swap(f * self.l + a, f * self.l + b);
        }
        self.sq.swap(a, b);
    }

    /// `out[j - from] = y_i y_j K(i, j)` for `j` in `from..from + out.len()`,
    /// with the signs `y`, else `K(i, j)`. Each value is computed on its
    /// own, so splitting the range across threads never changes a bit.
    pub(crate) fn row(&self, i: usize, from: usize, out: &mut [f32], y: Option<&[f32]>) {
        self.rows(&[i], from, vec![out], y);
    }

    /// [`Self::row`] for several rows `is[k]` into `outs[k]` (all as long),
    /// tile by tile: a tile of the training rows is read from memory once
    /// and stays in L2 while every row takes its dot products with it. Each
    /// value is computed exactly as a row on its own computes it.
    pub(crate) fn rows(&self, is: &[usize], from: usize, outs: Vec<&mut [f32]>, y: Option<&[f32]>) {
        let len = outs.first().map_or(0, |o| o.len());
        debug_assert!(outs.iter().all(|o| o.len() == len) && outs.len() == is.len());
        let xis: Vec<(Vec<f64>, f64)> = is
            .iter()
            .map(|&i| {
                (
                    (0..self.d).map(|f| self.xt[f * self.l + i]).collect(),
                    self.sq[i],
                )
            })
            .collect();
        // tiles[t][k]: row k's columns of tile t.
        let mut tiles: Vec<Vec<&mut [f32]>> = (0..len.div_ceil(TILE))
            .map(|_| Vec::with_capacity(is.len()))
            .collect();
        for out in outs {
            for (t, piece) in out.chunks_mut(TILE).enumerate() {
                tiles[t].push(piece);
            }
        }
        let run = |dots: &mut Vec<f64>, (t, outs): (usize, Vec<&mut [f32]>)| {
            dispatch(TileRows {
                rows: self,
                xis: &xis,
                is,
                j0: from + t * TILE,
                y,
                dots,
                outs,
            });
        };
        let work = is.len() * len * (self.d + 8);
        let scratch = || vec![0.0; BLOCK * TILE];
        if work < PAR_MIN_WORK || rayon::current_num_threads() < 2 {
            let mut dots = scratch();
            tiles
                .into_iter()
                .enumerate()
                .for_each(|tp| run(&mut dots, tp));
        } else {
            tiles
                .into_par_iter()
                .enumerate()
                .for_each_init(scratch, run);
        }
    }
}

/// An LRU cache of row prefixes, as libsvm's: row `i` holds `Q(i, 0..len)`
/// for the longest `len` asked so far; rows are dropped, least recently
/// used first, when the budget (in `f32` values) runs out.
pub(crate) struct Cache {
    budget: usize,
    /// The whole budget, in `f32` values.
    capacity: usize,
    data: Vec<Vec<f32>>,
    /// Swaps whose exchange of values inside the cached rows is deferred
    /// to [`Cache::flush`]: applied row by row, a row stays in cache while
    /// its swaps run, instead of one cache miss per row and swap.
    pending: Vec<(usize, usize)>,
    // Doubly linked LRU list over rows; index `l` is the sentinel.
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl Cache {
    pub(crate) fn new(l: usize, bytes: usize) -> Self {
        // At least two full rows: the solver holds two at once.
        let budget = (bytes / std::mem::size_of::<f32>()).max(2 * l);
        Cache {
            budget,
            capacity: budget,
            data: vec![Vec::new(); l],
            pending: Vec::new(),
            prev: vec![l; l + 1],
            next: vec![l; l + 1],
        }
    }

    fn unlink(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn push_back(&mut self, i: usize) {
        let s = self.data.len();
        let last = self.prev[s];
        self.next[last] = i;
        self.prev[i] = last;
        self.next[i] = s;
        self.prev[s] = i;
    }

    /// Makes row `i` hold at least `len` values; returns the row and the
    /// position from which its values are still to be computed.
    pub(crate) fn get(&mut self, i: usize, len: usize) -> (&mut [f32], usize) {
        debug_assert!(self.pending.is_empty(), "flush the swaps first");
        let have = self.data[i].len();
        if have > 0 {
            self.unlink(i);
        }
        if have < len {
            let s = self.data.len();
            while self.budget < len - have {
                let old = self.next[s];
                debug_assert!(old != s);
                self.unlink(old);
                self.budget += self.data[old].len();
                self.data[old] = Vec::new();
            }
            self.budget -= len - have;
            self.data[i].resize(len, 0.0);
        }
        self.push_back(i);
        (&mut self.data[i][..], have.min(len))
    }

    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.data[i]
    }

    /// How many values row `i` holds.
    pub(crate) fn held(&self, i: usize) -> usize {
        self.data[i].len()
    }

    /// How many rows of `len` values fit in the whole budget.
    pub(crate) fn rows_fitting(&self, len: usize) -> usize {
        self.capacity / len.max(1)
    }

    /// Makes each row of `block` (distinct, ascending, none held, at most
    /// [`Self::rows_fitting`]) hold `len` values to be computed, and returns
    /// them in `block`'s order, the most recently used last.
    pub(crate) fn get_fresh(&mut self, block: &[usize], len: usize) -> Vec<&mut [f32]> {
        debug_assert!(block.windows(2).all(|w| w[0] < w[1]));
        debug_assert!(block.iter().all(|&i| self.data[i].is_empty()));
        debug_assert!(block.len() <= self.rows_fitting(len));
        for &i in block {
            // Rows of the block pushed so far are the most recent: with the
            // block within the budget, eviction reaches none of them.
            self.get(i, len);
        }
        let mut want = block.iter().peekable();
        self.data
            .iter_mut()
            .enumerate()
            .filter_map(|(k, row)| {
                if want.peek() == Some(&&k) {
                    want.next();
                    Some(&mut row[..])
                } else {
                    None
                }
            })
            .collect()
    }

    /// Swaps rows `a` and `b`, and (at the next [`Cache::flush`]) the two
    /// values in every cached row; a row long enough to hold the smaller
    /// index but not the larger is dropped, as libsvm does.
    pub(crate) fn swap(&mut self, a: usize, b: usize) {
        let (a, b) = (a.min(b), a.max(b));
        if a == b {
            return;
        }
        let (la, lb) = (self.data[a].len(), self.data[b].len());
        if la > 0 {
            self.unlink(a);
        }
        if lb > 0 {
            self.unlink(b);
        }
        self.data.swap(a, b);
        if lb > 0 {
            self.push_back(a);
        }
        if la > 0 {
            self.push_back(b);
        }
        self.pending.push((a, b));
    }

    /// Applies the deferred swaps to the values of every cached row, in
    /// order. Equivalent to applying each swap to every row at once: the
    /// swaps of values commute with the moves of rows between slots, and a
    /// row dropped part-way is dropped at the end instead.
    pub(crate) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let s = self.data.len();
        let mut h = self.next[s];
        while h != s {
            let nxt = self.next[h];
            let row = &mut self.data[h];
            let len = row.len();
            let mut keep = true;
            for &(a, b) in &pending {
                if len > a {
                    if len > b {
                        row.swap(a, b);
                    } else {
                        keep = false;
                        break;
                    }
                }
            }
            if !keep {
                self.unlink(h);
                self.budget += len;
                self.data[h] = Vec::new();
            }
            h = nxt;
        }
    }
}
