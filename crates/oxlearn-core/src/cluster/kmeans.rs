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
//! Every pass runs over fixed row chunks in parallel and folds the chunks'
//! partial sums in chunk order, in `f64`: the result is bit-identical for
//! any number of threads. Distances use fixed-order kernels without fused
//! multiply-add, so labels do not depend on the CPU's SIMD level either.

use crate::linalg::chunks::{check_weights, first_non_finite};
use crate::linalg::ChunkPlan;
use crate::{Error, Real, Result};
use faer::MatRef;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Default rows per chunk for `n_cols` columns: about 256 KiB of `f64`, so a
/// chunk and its distances stay in the core's L2 cache.
pub fn auto_chunk_rows(n_cols: usize) -> usize {
    ((1usize << 15) / n_cols.max(1)).clamp(256, 4096)
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
    /// Rows per chunk; 0 means [`auto_chunk_rows`].
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

/// The data and its chunking.
struct Data<'a, T: Real> {
    x: MatRef<'a, T>,
    w: Option<&'a [T]>,
    plan: ChunkPlan,
}

impl<T: Real> Data<'_, T> {
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

    /// Rows `rows` as row-major `f64`: `X` itself when it is `f64` with
    /// contiguous rows (no copy), else a converted copy in `buf`.
    fn rows<'s>(&'s self, rows: Range<usize>, buf: &'s mut Vec<f64>) -> &'s [f64] {
        let (m, p) = (rows.len(), self.p());
        let xs = self.x.subrows(rows.start, m);
        if m > 0 && xs.col_stride() == 1 && (m == 1 || xs.row_stride() == p as isize) {
            // SAFETY: with unit column stride and row stride p, the m rows
            // are m·p consecutive initialised elements of X, which outlives
            // `self`.
            let s: &[T] = unsafe { std::slice::from_raw_parts(xs.as_ptr(), m * p) };
            if let Some(f) = T::as_f64_slice(s) {
                return f;
            }
        }
        convert_rows(xs, buf);
        &buf[..m * p]
    }

    /// Fails with the first NaN or infinity of rows `rows`, if any.
    fn check_finite(&self, rows: Range<usize>) -> Result<()> {
        match first_non_finite(self.x.subrows(rows.start, rows.len()), "X", rows.start) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

thread_local! {
    /// Per-thread scratch (rows, distances): a chunk-sized allocation per
    /// chunk would cost page faults and zeroing on every pass.
    static SCRATCH: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn with_scratch<R>(f: impl FnOnce(&mut Vec<f64>, &mut Vec<f64>) -> R) -> R {
    SCRATCH.with(|s| {
        let (mut a, mut b) = s.take();
        let r = f(&mut a, &mut b);
        s.replace((a, b));
        r
    })
}

/// Grows `v` to at least `len` elements (contents unspecified) and returns
/// its first `len`: every element is written before it is read.
fn scratch(v: &mut Vec<f64>, len: usize) -> &mut [f64] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Runs `map` on every chunk in parallel, with that chunk's rows of `out`
/// (`width` elements per row), and folds the results in chunk order. At most
/// `group` chunk results are alive at once.
fn chunk_pass<E: Send, R: Send, A>(
    plan: ChunkPlan,
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

crate::simd::multiversion! {
    /// Copies `x` into `buf` as row-major `f64` (`buf` grows to fit).
    fn convert_rows<T: Real>(x: MatRef<'_, T>, buf: &mut Vec<f64>) -> ()
    => convert_rows_portable
}

#[inline(always)]
fn convert_rows_portable<T: Real>(x: MatRef<'_, T>, buf: &mut Vec<f64>) {
    let (m, p) = x.shape();
    let out = scratch(buf, m * p);
    if x.col_stride() == 1 || (x.row_stride().unsigned_abs() > x.col_stride().unsigned_abs()) {
        for (i, o) in out.chunks_exact_mut(p.max(1)).enumerate().take(m) {
            let row = x.row(i);
            match row.try_as_row_major() {
                Some(r) => {
                    for (o, &v) in o.iter_mut().zip(r.as_slice()) {
                        *o = v.to_f64();
                    }
                }
                None => {
                    for (j, o) in o.iter_mut().enumerate() {
                        *o = row[j].to_f64();
                    }
                }
            }
        }
    } else {
        for j in 0..p {
            let col = x.col(j);
            match col.try_as_col_major() {
                Some(c) => {
                    for (i, &v) in c.as_slice().iter().enumerate() {
                        out[i * p + j] = v.to_f64();
                    }
                }
                None => {
                    for i in 0..m {
                        out[i * p + j] = col[i].to_f64();
                    }
                }
            }
        }
    }
}

/// Points laid out for the distance kernels: transposed (p × kpad) and
/// padded to a multiple of the register block (4 points for up to 4, else 8).
struct Panel {
    block: usize,
    kpad: usize,
    p: usize,
    /// p × kpad, point `j`'s coordinate `f` at `f * kpad + j`; padding is 0.
    ct: Vec<f64>,
    /// ‖c_j‖² (padding: +∞, so a padding point is never nearest).
    norms: Vec<f64>,
}

impl Panel {
    /// `c` is k×p row-major.
    fn new(c: &[f64], k: usize, p: usize) -> Panel {
        let block = if k <= 4 { 4 } else { 8 };
        let kpad = k.div_ceil(block).max(1) * block;
        let mut ct = vec![0.0; p * kpad];
        let mut norms = vec![f64::INFINITY; kpad];
        for j in 0..k {
            let row = &c[j * p..(j + 1) * p];
            for (f, &v) in row.iter().enumerate() {
                ct[f * kpad + j] = v;
            }
            norms[j] = sq_norm(row);
        }
        Panel {
            block,
            kpad,
            p,
            ct,
            norms,
        }
    }
}

/// `Σ_f ((x_f − s_f) − c_f)²` in a fixed order: eight lanes, combined
/// pairwise.
#[inline(always)]
fn sq_dist(x: &[f64], s: &[f64], c: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let full = x.len() / 8 * 8;
    for ((cx, cs), cc) in x[..full]
        .chunks_exact(8)
        .zip(s[..full].chunks_exact(8))
        .zip(c[..full].chunks_exact(8))
    {
        for l in 0..8 {
            let d = (cx[l] - cs[l]) - cc[l];
            acc[l] += d * d;
        }
    }
    for (l, ((&a, &b), &v)) in x[full..].iter().zip(&s[full..]).zip(&c[full..]).enumerate() {
        let d = (a - b) - v;
        acc[l] += d * d;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// `Σ_f a_f²` in the same fixed order as [`sq_dist`].
#[inline(always)]
fn sq_norm(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let full = a.len() / 8 * 8;
    for ca in a[..full].chunks_exact(8) {
        for l in 0..8 {
            acc[l] += ca[l] * ca[l];
        }
    }
    for (l, &x) in a[full..].iter().enumerate() {
        acc[l] += x * x;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

crate::simd::multiversion! {
    /// For each row `x` of `b` (r×p row-major): the nearest point of `panel`
    /// to `x − shift` by `‖c‖² − 2 (x − shift)·c` (ties to the lowest
    /// index) into `labels`, and that value into `best`.
    fn nearest(b: &[f64], shift: &[f64], panel: &Panel, labels: &mut [i32], best: &mut [f64]) -> ()
    => nearest_portable
}

#[inline(always)]
fn nearest_portable(b: &[f64], shift: &[f64], panel: &Panel, labels: &mut [i32], best: &mut [f64]) {
    if panel.block == 4 {
        nearest_blocks::<8, 4>(b, shift, panel, labels, best);
    } else {
        nearest_blocks::<4, 8>(b, shift, panel, labels, best);
    }
}

#[inline(always)]
fn nearest_blocks<const R: usize, const B: usize>(
    b: &[f64],
    shift: &[f64],
    panel: &Panel,
    labels: &mut [i32],
    best: &mut [f64],
) {
    let p = panel.p;
    let r = labels.len();
    let mut i = 0;
    while i + R <= r {
        nearest_rows::<R, B>(
            &b[i * p..(i + R) * p],
            shift,
            panel,
            &mut labels[i..i + R],
            &mut best[i..i + R],
        );
        i += R;
    }
    while i < r {
        nearest_rows::<1, B>(
            &b[i * p..(i + 1) * p],
            shift,
            panel,
            &mut labels[i..i + 1],
            &mut best[i..i + 1],
        );
        i += 1;
    }
}

#[inline(always)]
fn nearest_rows<const R: usize, const B: usize>(
    b: &[f64],
    shift: &[f64],
    panel: &Panel,
    labels: &mut [i32],
    best: &mut [f64],
) {
    let (p, kpad) = (panel.p, panel.kpad);
    let mut bl = [0i32; R];
    let mut bd = [f64::INFINITY; R];
    for jb in (0..kpad).step_by(B) {
        let mut acc = [[0.0f64; B]; R];
        for f in 0..p {
            let c = &panel.ct[f * kpad + jb..f * kpad + jb + B];
            let s = shift[f];
            for r in 0..R {
                let xv = b[r * p + f] - s;
                for jj in 0..B {
                    acc[r][jj] += xv * c[jj];
                }
            }
        }
        let norms = &panel.norms[jb..jb + B];
        for r in 0..R {
            for jj in 0..B {
                let d = norms[jj] - 2.0 * acc[r][jj];
                if d < bd[r] {
                    bd[r] = d;
                    bl[r] = (jb + jj) as i32;
                }
            }
        }
    }
    labels.copy_from_slice(&bl);
    best.copy_from_slice(&bd);
}

crate::simd::multiversion! {
    /// Squared distances `Σ_f (x_f − c_f)²` of each row of `b` (r×p) to each
    /// point of `panel`, into `out` (r × kpad, row-major).
    fn sq_dists(b: &[f64], panel: &Panel, out: &mut [f64]) -> ()
    => sq_dists_portable
}

#[inline(always)]
fn sq_dists_portable(b: &[f64], panel: &Panel, out: &mut [f64]) {
    if panel.block == 4 {
        sq_dists_blocks::<8, 4>(b, panel, out);
    } else {
        sq_dists_blocks::<4, 8>(b, panel, out);
    }
}

#[inline(always)]
fn sq_dists_blocks<const R: usize, const B: usize>(b: &[f64], panel: &Panel, out: &mut [f64]) {
    let (p, kpad) = (panel.p, panel.kpad);
    let r = out.len() / kpad;
    let mut i = 0;
    while i + R <= r {
        sq_dists_rows::<R, B>(
            &b[i * p..(i + R) * p],
            panel,
            &mut out[i * kpad..(i + R) * kpad],
        );
        i += R;
    }
    while i < r {
        sq_dists_rows::<1, B>(
            &b[i * p..(i + 1) * p],
            panel,
            &mut out[i * kpad..(i + 1) * kpad],
        );
        i += 1;
    }
}

#[inline(always)]
fn sq_dists_rows<const R: usize, const B: usize>(b: &[f64], panel: &Panel, out: &mut [f64]) {
    let (p, kpad) = (panel.p, panel.kpad);
    for jb in (0..kpad).step_by(B) {
        let mut acc = [[0.0f64; B]; R];
        for f in 0..p {
            let c = &panel.ct[f * kpad + jb..f * kpad + jb + B];
            for r in 0..R {
                let xv = b[r * p + f];
                for jj in 0..B {
                    let d = xv - c[jj];
                    acc[r][jj] += d * d;
                }
            }
        }
        for r in 0..R {
            out[r * kpad + jb..r * kpad + jb + B].copy_from_slice(&acc[r]);
        }
    }
}

crate::simd::multiversion! {
    /// With `x_i` row `i` of `b` minus `shift`: adds `w_i x_i` to row
    /// `labels[i]` of `sums` (k×p) and `w_i` to `weights[labels[i]]` (with
    /// `update`); returns `Σ w_i ‖x_i − c_{labels[i]}‖²`.
    fn accumulate(b: &[f64], shift: &[f64], w: &[f64], labels: &[i32], centers: &[f64], sums: &mut [f64], weights: &mut [f64], update: bool) -> f64
    => accumulate_portable
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accumulate_portable(
    b: &[f64],
    shift: &[f64],
    w: &[f64],
    labels: &[i32],
    centers: &[f64],
    sums: &mut [f64],
    weights: &mut [f64],
    update: bool,
) -> f64 {
    let p = shift.len();
    let mut inertia = 0.0;
    for (i, (&l, &wi)) in labels.iter().zip(w).enumerate() {
        let l = l as usize;
        let x = &b[i * p..(i + 1) * p];
        inertia += wi * sq_dist(x, shift, &centers[l * p..(l + 1) * p]);
        if update {
            weights[l] += wi;
            for ((s, &v), &m) in sums[l * p..(l + 1) * p].iter_mut().zip(x).zip(shift) {
                *s += (v - m) * wi;
            }
        }
    }
    inertia
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
) -> Result<PassPart> {
    let p = data.p();
    let k = centers.len() / p;
    let panel = Panel::new(centers, k, p);
    let part_len = if update { k * p + k } else { 1 };
    // Bound live partial sums to ~32 MiB whatever k·p is.
    let group = ((32usize << 20) / (8 * part_len)).clamp(1, 64);
    let init = PassPart {
        sums: vec![0.0; if update { k * p } else { 0 }],
        weights: vec![0.0; k],
        inertia: 0.0,
        changed: 0,
    };
    chunk_pass(
        data.plan,
        labels,
        1,
        group,
        init,
        |rows, lab| {
            with_scratch(|buf, best| {
                let m = rows.len();
                let w = data.weights(rows.clone());
                let b = data.rows(rows, buf);
                let best = scratch(best, m);
                let mut new = vec![0i32; m];
                nearest(b, shift, &panel, &mut new, best);
                let changed = new.iter().zip(lab.iter()).filter(|(a, b)| a != b).count();
                lab.copy_from_slice(&new);
                let mut part = PassPart {
                    sums: vec![0.0; if update { k * p } else { 0 }],
                    weights: vec![0.0; k],
                    inertia: 0.0,
                    changed,
                };
                part.inertia = accumulate(
                    b,
                    shift,
                    &w,
                    lab,
                    centers,
                    &mut part.sums,
                    &mut part.weights,
                    update,
                );
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
    let k = centers.len() / data.p();
    data.plan.map_fold(
        64,
        0.0,
        |rows| {
            with_scratch(|buf, _| {
                let w = data.weights(rows.clone());
                let lab = &labels[rows.clone()];
                let b = data.rows(rows, buf);
                let mut weights = vec![0.0; k];
                Ok(accumulate(
                    b,
                    shift,
                    &w,
                    lab,
                    centers,
                    &mut [],
                    &mut weights,
                    false,
                ))
            })
        },
        |a, b| a + b,
    )
}

/// scikit-learn's `_relocate_empty_clusters_dense`: each cluster of zero
/// weight takes the point farthest from its (old) centre, removed from that
/// point's cluster. The farthest points are taken in decreasing distance,
/// ties to the lowest row index (scikit-learn's `argpartition` leaves that
/// order unspecified).
fn relocate_empty<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    old: &[f64],
    labels: &[i32],
    sums: &mut [f64],
    weights: &mut [f64],
) -> Result<()> {
    let empty: Vec<usize> = (0..weights.len()).filter(|&j| weights[j] == 0.0).collect();
    if empty.is_empty() {
        return Ok(());
    }
    let p = data.p();
    let mut dist = vec![0.0f64; data.n()];
    chunk_pass(
        data.plan,
        &mut dist,
        1,
        64,
        (),
        |rows, out| {
            with_scratch(|buf, _| {
                let lab = &labels[rows.clone()];
                let b = data.rows(rows, buf);
                for (i, (o, &l)) in out.iter_mut().zip(lab).enumerate() {
                    let l = l as usize;
                    *o = sq_dist(&b[i * p..(i + 1) * p], shift, &old[l * p..(l + 1) * p]);
                }
                Ok(())
            })
        },
        |(), ()| (),
    )?;
    if !dist.iter().any(|&d| d > 0.0) {
        return Ok(());
    }
    let order = |a: &usize, b: &usize| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..dist.len()).collect();
    let n_empty = empty.len().min(idx.len());
    if n_empty < idx.len() {
        idx.select_nth_unstable_by(n_empty - 1, order);
    }
    idx.truncate(n_empty);
    idx.sort_by(order);
    for (&new, &far) in empty.iter().zip(&idx) {
        let mut x = data.row(far);
        for (v, s) in x.iter_mut().zip(shift) {
            *v -= s;
        }
        let w = data.weight(far);
        let oldc = labels[far] as usize;
        for f in 0..p {
            sums[oldc * p + f] -= x[f] * w;
            sums[new * p + f] = x[f] * w;
        }
        weights[new] = w;
        weights[oldc] -= w;
    }
    Ok(())
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

/// One Lloyd run from centred initial centres.
fn lloyd<T: Real>(
    data: &Data<'_, T>,
    shift: &[f64],
    mut centers: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> Result<KMeansFit> {
    let p = data.p();
    let mut labels = vec![-1i32; data.n()];
    let mut n_iter = 0;
    let mut strict_inertia = None;
    for i in 0..max_iter {
        n_iter = i + 1;
        let mut pass = lloyd_pass(data, shift, &centers, &mut labels, true)?;
        relocate_empty(
            data,
            shift,
            &centers,
            &labels,
            &mut pass.sums,
            &mut pass.weights,
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
                inertia_of(data, shift, &centers, &labels)?
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
        None => lloyd_pass(data, shift, &centers, &mut labels, false)?.inertia,
    };
    Ok(KMeansFit {
        centers,
        labels,
        inertia,
        n_iter,
    })
}

/// The first row where the running sum of `value` (in row order, chunk
/// sums `totals` folded in chunk order) exceeds `target` (`right`, numpy's
/// `searchsorted(..., side="right")`) or reaches it (`side="left"`); the
/// last row if none does.
fn search(
    plan: ChunkPlan,
    totals: &[f64],
    target: f64,
    right: bool,
    value: impl Fn(usize) -> f64,
) -> usize {
    let hit = |s: f64, t: f64| if right { s > t } else { s >= t };
    let mut acc = 0.0;
    for (c, &tot) in totals.iter().enumerate() {
        let local = target - acc;
        if hit(tot, local) {
            // The running sum restarts at 0 within the chunk, in the same
            // order as `tot` was summed, so it ends exactly at `tot`.
            let mut s = 0.0;
            for i in plan.range(c) {
                s += value(i);
                if hit(s, local) {
                    return i;
                }
            }
        }
        acc += tot;
    }
    plan.n_rows.saturating_sub(1)
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`) in the data's
/// coordinates; `cand` is scratch (n × n_local_trials).
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
    cand.clear();
    cand.resize(n * l, 0.0);
    let total_w: f64 = weight_totals.iter().sum();
    let first = search(data.plan, weight_totals, draws[0] * total_w, true, |i| {
        data.weight(i)
    });
    let mut ids = vec![first];
    // Slot `prev` of each row holds its squared distance to the nearest
    // chosen centre; the other slots the candidates' distances.
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
            let candidates: Vec<usize> = u
                .iter()
                .map(|&u| {
                    search(data.plan, &totals, u * pot, false, |i| {
                        data.weight(i) * cand[i * l + prev]
                    })
                })
                .collect();
            candidates
        };
        let coords: Vec<f64> = points.iter().flat_map(|&i| data.row(i)).collect();
        let panel = Panel::new(&coords, points.len(), p);
        let first_pass = c == 0;
        let np = points.len();
        partials = chunk_pass(
            data.plan,
            cand,
            l,
            usize::MAX,
            Vec::new(),
            |rows, out| {
                with_scratch(|buf, dist| {
                    let m = rows.len();
                    let w = data.weights(rows.clone());
                    let b = data.rows(rows, buf);
                    let dist = scratch(dist, m * panel.kpad);
                    sq_dists(b, &panel, dist);
                    let mut part = vec![0.0f64; np];
                    for i in 0..m {
                        let d = &dist[i * panel.kpad..i * panel.kpad + np];
                        let row = &mut out[i * l..(i + 1) * l];
                        if first_pass {
                            row[0] = d[0];
                            part[0] += w[i] * d[0];
                        } else {
                            let closest = row[prev];
                            for t in 0..np {
                                let nd = if d[t] < closest { d[t] } else { closest };
                                row[t] = nd;
                                part[t] += w[i] * nd;
                            }
                        }
                    }
                    Ok(part)
                })
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
        let pots: Vec<f64> = (0..np)
            .map(|t| partials.iter().map(|v| v[t]).sum())
            .collect();
        let mut best = 0;
        for t in 1..np {
            if pots[t] < pots[best] {
                best = t;
            }
        }
        prev = best;
        ids.push(points[best]);
    }
    Ok(ids.iter().flat_map(|&i| data.row(i)).collect())
}

/// Column means and the mean of the column variances (numpy's `var`,
/// unweighted), merged over chunks in order; fails on NaN or infinity.
fn column_stats<T: Real>(data: &Data<'_, T>) -> Result<(Vec<f64>, f64)> {
    let p = data.p();
    let (count, mean, m2) = data.plan.map_fold(
        64,
        (0.0f64, vec![0.0; p], vec![0.0; p]),
        |rows| {
            with_scratch(|buf, _| {
                let m = rows.len();
                let b = data.rows(rows.clone(), buf);
                let mut mean = vec![0.0; p];
                for row in b.chunks_exact(p) {
                    for (a, &v) in mean.iter_mut().zip(row) {
                        *a += v;
                    }
                }
                // A NaN or infinity makes its column's sum non-finite.
                if mean.iter().any(|v| !v.is_finite()) {
                    data.check_finite(rows)?;
                    return Err(Error::InvalidParameter {
                        name: "X",
                        reason: "its values are too large: a column sum overflows float64".into(),
                    });
                }
                let inv = 1.0 / m as f64;
                for a in &mut mean {
                    *a *= inv;
                }
                let mut m2 = vec![0.0; p];
                for row in b.chunks_exact(p) {
                    for ((a, &v), &mu) in m2.iter_mut().zip(row).zip(&mean) {
                        let d = v - mu;
                        *a += d * d;
                    }
                }
                Ok((m as f64, mean, m2))
            })
        },
        |(na, mut ma, mut sa), (nb, mb, sb)| {
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
    let var_mean = m2.iter().map(|v| v / count).sum::<f64>() / p as f64;
    Ok((mean, var_mean))
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

/// Fits k-means: one Lloyd run per entry of `inits`, keeping the run of
/// lowest inertia (scikit-learn's rule: a later run replaces the best only
/// with a lower inertia and a different clustering).
///
/// `w` are optional sample weights (finite, non-negative, not all zero).
pub fn fit_kmeans<T: Real>(
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    inits: &[KMeansInit],
    params: &KMeansParams,
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
    if inits.is_empty() {
        return Err(Error::InvalidParameter {
            name: "n_init",
            reason: "no initialisation given; at least one run is required".into(),
        });
    }
    let trials = params.n_local_trials;
    for init in inits {
        match init {
            KMeansInit::Centers(c) => {
                if c.len() != k * p {
                    return Err(Error::ShapeMismatch {
                        what: format!("number of values in the initial centres (n_clusters = {k} x n_features = {p})"),
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
    if let Some(w) = w {
        check_weights(w, n)?;
    }
    let chunk = if params.chunk_rows == 0 {
        auto_chunk_rows(p)
    } else {
        params.chunk_rows
    };
    let data = Data {
        x,
        w,
        plan: ChunkPlan::new(n, p, chunk),
    };
    let weight_totals: Vec<f64> = (0..data.plan.n_chunks())
        .map(|c| data.plan.range(c).map(|i| data.weight(i)).sum())
        .collect();
    if !weight_totals.iter().any(|&t| t > 0.0) {
        return Err(Error::InvalidParameter {
            name: "sample_weight",
            reason: "all sample weights are zero; at least one must be positive".into(),
        });
    }
    let (mean, var_mean) = column_stats(&data)?;
    let tol = if params.tol == 0.0 {
        0.0
    } else {
        var_mean * params.tol
    };
    let mut scratch = Vec::new();
    let mut best: Option<KMeansFit> = None;
    for init in inits {
        let raw = match init {
            KMeansInit::Centers(c) => c.clone(),
            KMeansInit::PlusPlus(d) => plusplus(&data, k, trials, d, &weight_totals, &mut scratch)?,
        };
        let mut start = raw;
        for row in start.chunks_exact_mut(p) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= m;
            }
        }
        let run = lloyd(&data, &mean, start, params.max_iter, tol)?;
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
    let k = c.len() / p;
    let panel = Panel::new(&centred, k, p);
    let chunk = if chunk_rows == 0 {
        auto_chunk_rows(p)
    } else {
        chunk_rows
    };
    let data = Data {
        x,
        w: None,
        plan: ChunkPlan::new(n, p, chunk),
    };
    chunk_pass(
        data.plan,
        out,
        1,
        usize::MAX,
        (),
        |rows, lab| {
            with_scratch(|buf, best| {
                let best = scratch(best, rows.len());
                let b = data.rows(rows.clone(), buf);
                nearest(b, &shift, &panel, lab, best);
                // NaN or infinity in a row leaves its best value non-finite.
                if best.iter().any(|v| !v.is_finite()) {
                    data.check_finite(rows)?;
                }
                Ok(())
            })
        },
        |(), ()| (),
    )
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
    let chunk = if chunk_rows == 0 {
        auto_chunk_rows(p.max(k))
    } else {
        chunk_rows
    };
    let data = Data {
        x,
        w: None,
        plan: ChunkPlan::new(n, p, chunk),
    };
    chunk_pass(
        data.plan,
        out,
        k,
        usize::MAX,
        (),
        |rows, o| {
            with_scratch(|buf, dist| {
                let m = rows.len();
                let b = data.rows(rows.clone(), buf);
                let dist = scratch(dist, m * panel.kpad);
                sq_dists(b, &panel, dist);
                if dist.iter().any(|v| !v.is_finite()) {
                    data.check_finite(rows)?;
                }
                for i in 0..m {
                    for j in 0..k {
                        o[i * k + j] = dist[i * panel.kpad + j].sqrt();
                    }
                }
                Ok(())
            })
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
    let chunk = if chunk_rows == 0 {
        auto_chunk_rows(p)
    } else {
        chunk_rows
    };
    let data = Data {
        x,
        w,
        plan: ChunkPlan::new(n, p, chunk),
    };
    data.plan.map_fold(
        64,
        0.0,
        |rows| {
            with_scratch(|buf, best| {
                let m = rows.len();
                let w = data.weights(rows.clone());
                let b = data.rows(rows.clone(), buf);
                let best = scratch(best, m);
                let mut lab = vec![0i32; m];
                nearest(b, &shift, &panel, &mut lab, best);
                if best.iter().any(|v| !v.is_finite()) {
                    data.check_finite(rows)?;
                }
                let mut weights = vec![0.0; k];
                Ok(accumulate(
                    b,
                    &shift,
                    &w,
                    &lab,
                    &centred,
                    &mut [],
                    &mut weights,
                    false,
                ))
            })
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
        let (n, p, k) = (5000, 7, 6);
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
        let data = Data {
            x,
            w: None::<&[f64]>,
            plan: ChunkPlan::new(4, 2, 1),
        };
        let totals = vec![1.0; 4];
        let mut scratch = Vec::new();
        // u0 = 0.6 → row 2 (cumulative 3 > 2.4); then any draw lands in the
        // far group {0, 1}.
        let c = plusplus(&data, 2, 2, &[0.6, 0.3, 0.9], &totals, &mut scratch).unwrap();
        assert_eq!(&c[..2], &[10.0, 0.0]);
        assert!(c[2] < 1.0);
        // Sample weights: zero weight rows are never picked first.
        let w = [0.0, 0.0, 0.0, 1.0];
        let data_w = Data {
            w: Some(&w[..]),
            ..data
        };
        let c = plusplus(&data_w, 1, 2, &[0.0], &[0.0, 0.0, 0.0, 1.0], &mut scratch).unwrap();
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
        let mut out = vec![0i32; 4];
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
        for (m, p, k) in [(1, 1, 1), (7, 3, 9), (13, 17, 8), (5, 9, 17)] {
            let b: Vec<f64> = (0..m * p).map(|_| r.next() - 0.5).collect();
            let c: Vec<f64> = (0..k * p).map(|_| r.next() - 0.5).collect();
            let panel = Panel::new(&c, k, p);
            let mut lab = vec![0i32; m];
            let mut best = vec![0.0; m];
            nearest(&b, &vec![0.0; p], &panel, &mut lab, &mut best);
            let mut d = vec![0.0; m * panel.kpad];
            sq_dists(&b, &panel, &mut d);
            for i in 0..m {
                let naive: Vec<f64> = (0..k)
                    .map(|j| (0..p).map(|f| (b[i * p + f] - c[j * p + f]).powi(2)).sum())
                    .collect();
                let argmin = (0..k)
                    .min_by(|&a, &b| naive[a].total_cmp(&naive[b]))
                    .unwrap();
                assert_eq!(lab[i] as usize, argmin);
                for j in 0..k {
                    assert!((d[i * panel.kpad + j] - naive[j]).abs() < 1e-12);
                }
            }
        }
    }
}
