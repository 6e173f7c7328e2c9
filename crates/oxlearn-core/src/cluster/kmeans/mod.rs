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

// Declared first: its by_block! macro is used by the other modules.
#[macro_use]
mod tiles;
mod plusplus;
#[cfg(test)]
mod tests;

use plusplus::*;
use tiles::*;

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

/// The checks of `n_clusters` (`too_many`: more clusters than the `n`
/// samples), `max_iter` and `tol` shared by the fits, in that order.
fn check_params(params: &KMeansParams, too_many: bool, n: impl std::fmt::Display) -> Result<()> {
    let k = params.n_clusters;
    if k == 0 || too_many {
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
    Ok(())
}

/// The total weight of each chunk of `data`'s rows, in chunk order.
fn chunk_weight_totals<T: Real>(data: &Data<'_, T>) -> Vec<f64> {
    (0..data.plan.n_chunks())
        .map(|c| data.plan.range(c).map(|i| data.weight(i)).sum())
        .collect()
}

/// Subtracts (`sub`) or adds `mean` to each `p`-wide row of `rows`.
fn shift_rows(rows: &mut [f64], p: usize, mean: &[f64], sub: bool) {
    for row in rows.chunks_exact_mut(p) {
        for (v, m) in row.iter_mut().zip(mean) {
            if sub {
                *v -= m;
            } else {
                *v += m;
            }
        }
    }
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
    check_params(params, k > n, n)?;
    let trials = params.n_local_trials;
    check_inits(inits, k, p, trials)?;
    if let Some(w) = w {
        check_weights(w, n)?;
    }
    let mut data = Data::new(x, w, params.chunk_rows);
    let weight_totals = chunk_weight_totals(&data);
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
        shift_rows(&mut start, p, &mean, true);
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
    shift_rows(&mut fit.centers, p, &mean, false);
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
        weight_totals = chunk_weight_totals(&data);
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
    check_params(params, k as f64 > n, n)?;
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
        shift_rows(&mut start, p, &mean, true);
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
    shift_rows(&mut fit.centers, p, &mean, false);
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
    shift_rows(&mut centred, p, &shift, true);
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
