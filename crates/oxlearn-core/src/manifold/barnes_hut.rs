//! The Barnes–Hut approximation of the t-SNE gradient: a 2^d-tree (binary
//! tree, quadtree, octree) of the embedding, rebuilt every iteration, with
//! scikit-learn's construction (`_quad_tree.pyx`) and summary criterion
//! (`_barnes_hut_tsne.pyx`).
//!
//! The tree is built cell by cell (the cells insertion in index order
//! makes; large cells' subtrees in parallel). The repulsive
//! force on each point is the sum over the cells scikit-learn's recursive
//! `summarize` reaches from it, in that order; groups of points close in
//! Morton order walk the tree together, one vector lane each (parallel over
//! fixed chunks of points). The attractive forces run over the rows of the
//! sparse `P`, rows of similar length side by side in vector lanes. The
//! normalisation `Z` and the KL error are sums of per-point terms, added in
//! point order within a chunk and chunk by chunk: the gradient is
//! bit-identical for any thread count.
//!
//! The tree is built in `f64`; the forces are computed in `f32`, as
//! scikit-learn's Barnes–Hut (and scikit-learn-intelex's) compute them:
//! positions, cell summaries, kernel values and force sums in `f32`, twice
//! the lanes of a vector register, half the bytes of a cell to read. `Z`,
//! the KL error and the gradient handed to the optimiser are `f64`.

use super::affinity::SparseP;
use super::lanes::{dispatch, Lanes, Mask, WithLanes, LANES};
use super::tsne::{finite_embedding, total_error, Objective};
use crate::{Error, Result};
use rayon::prelude::*;

/// Points closer than this in every coordinate are one point to the tree
/// (scikit-learn's `EPSILON`): a duplicate joins the leaf, and a query
/// point does not repel a leaf it duplicates (its own leaf included).
const EPSILON: f64 = 1e-6;

/// The largest coordinate the `f32` force walk takes: differences and
/// their squares stay finite in `f32` (2^60 squared is below `f32::MAX`).
const F32_REACH: f64 = (1u64 << 60) as f64;

/// Deepest cell. scikit-learn's tree stops splitting once two points are
/// duplicates, which bounds its depth by `log2(width / EPSILON)`; that
/// bound fails only when the embedding spans more than ~1e22 (and f64
/// midpoints can stop separating two distinct points), where the points
/// reaching this depth are kept together in one leaf instead.
const MAX_DEPTH: u32 = 96;

/// scikit-learn's floor on probabilities inside the KL error's logarithm
/// (`FLOAT32_TINY`).
const FLOAT32_TINY: f64 = f32::MIN_POSITIVE as f64;

/// Bits per axis of the Morton grid (2^21 cells an axis: 63 bits in 3-D).
const MORTON_BITS: u32 = 21;

/// Morton keys with their point indices, and the radix sort's scratch.
type Keys = (Vec<(u64, u32)>, Vec<(u64, u32)>);

/// The Morton code of a grid cell: the axes' bits interleaved from the most
/// significant, the first axis first.
#[inline(always)]
fn interleave<const D: usize>(cell: [u64; D]) -> u64 {
    // Spreads the low 21 bits of `x` to every second (third) bit.
    fn spread2(x: u64) -> u64 {
        let mut x = x & 0x1f_ffff;
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        (x | (x << 1)) & 0x5555_5555_5555_5555
    }
    fn spread3(x: u64) -> u64 {
        let mut x = x & 0x1f_ffff;
        x = (x | (x << 32)) & 0x001f_0000_0000_ffff;
        x = (x | (x << 16)) & 0x001f_0000_ff00_00ff;
        x = (x | (x << 8)) & 0x100f_00f0_0f00_f00f;
        x = (x | (x << 4)) & 0x10c3_0c30_c30c_30c3;
        (x | (x << 2)) & 0x1249_2492_4924_9249
    }
    match D {
        1 => cell[0],
        2 => (spread2(cell[0]) << 1) | spread2(cell[1]),
        _ => (spread3(cell[0]) << 2) | (spread3(cell[1]) << 1) | spread3(cell[2]),
    }
}

/// Sorts `keys.0` by their first `bits` bits, stably (least significant
/// byte first; a byte all keys share is skipped).
fn radix_sort(keys: &mut Keys, bits: u32) {
    let (keys, tmp) = keys;
    let mut shift = 0;
    while shift < bits {
        let mut count = [0usize; 257];
        for &(k, _) in keys.iter() {
            count[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        if !count.contains(&keys.len()) {
            for b in 0..256 {
                count[b + 1] += count[b];
            }
            tmp.resize(keys.len(), (0, 0));
            for &e in keys.iter() {
                let b = ((e.0 >> shift) & 0xff) as usize;
                tmp[count[b]] = e;
                count[b] += 1;
            }
            std::mem::swap(keys, tmp);
        }
        shift += 8;
    }
}

/// Points per parallel task: fixed, so sums never depend on thread count.
const CHUNK: usize = 256;

const NONE: u32 = u32::MAX;

/// Room for the cells still to visit in one walk: the root, then at most 7
/// more per level (a cell is replaced by its at most 8 children).
const WALK: usize = 1 + 7 * (MAX_DEPTH as usize + 1);

/// The walk's scratch stack: cells, with the lanes each is open for. It
/// lives on each worker's own (thread) stack: a heap buffer per task,
/// written at every step of the walk, could share a cache line with another
/// thread's.
type Walk = [(u32, Mask); WALK];

/// A cell as the build makes it.
#[derive(Clone, Copy)]
struct Node<const D: usize> {
    /// Mean of the points below.
    barycenter: [f64; D],
    /// Largest squared side of the cell.
    squared_max_width: f64,
    /// Number of points below (duplicates included); at most n, which the
    /// u32 neighbour indices already bound.
    size: u32,
    /// Index of the cell's children in `Tree::children`; `NONE` for a leaf.
    kids: u32,
}

#[cfg(test)]
impl<const D: usize> Node<D> {
    fn is_leaf(&self) -> bool {
        self.kids == NONE
    }
}

/// What the force walk reads of a cell, in `f32`: 20 bytes in 2-D, three
/// cells a cache line (the walk is bound by memory latency).
#[derive(Clone, Copy)]
struct WalkNode<const D: usize> {
    barycenter: [f32; D],
    squared_max_width: f32,
    /// The number of points below, exact up to 2^24 points.
    size: f32,
    kids: u32,
}

impl<const D: usize> WalkNode<D> {
    #[inline(always)]
    fn is_leaf(&self) -> bool {
        self.kids == NONE
    }
}

/// A cell's region, while the tree is built.
#[derive(Clone, Copy)]
struct Bounds<const D: usize> {
    min: [f64; D],
    max: [f64; D],
    center: [f64; D],
    depth: u32,
}

impl<const D: usize> Bounds<D> {
    /// Which child holds `point`: one bit per axis, the first axis most
    /// significant, set when the point is at or past the centre.
    #[inline(always)]
    fn slot(&self, point: &[f64; D]) -> usize {
        (0..D).fold(0, |s, a| 2 * s + usize::from(point[a] >= self.center[a]))
    }

    /// The region of child `slot`, and its largest squared side.
    #[inline(always)]
    fn child(&self, slot: usize) -> (Self, f64) {
        let mut b = Bounds {
            min: [0.0; D],
            max: [0.0; D],
            center: [0.0; D],
            depth: self.depth + 1,
        };
        let mut width2: f64 = 0.0;
        for a in 0..D {
            if (slot >> (D - 1 - a)) & 1 == 1 {
                b.min[a] = self.center[a];
                b.max[a] = self.max[a];
            } else {
                b.min[a] = self.min[a];
                b.max[a] = self.center[a];
            }
            b.center[a] = (b.min[a] + b.max[a]) / 2.0;
            let w = b.max[a] - b.min[a];
            width2 = width2.max(w * w);
        }
        (b, width2)
    }
}

/// Cells of a tree, or of a subtree built on its own (ids local to it).
struct Cells<const D: usize> {
    nodes: Vec<Node<D>>,
    /// The child cells of the inner cells (`NONE`: empty), `2^D` used of 8:
    /// read only when the walk opens a cell.
    children: Vec<[u32; 8]>,
    /// Depth of the deepest cell.
    deepest: u32,
}

impl<const D: usize> Cells<D> {
    fn new() -> Self {
        Cells {
            nodes: Vec::new(),
            children: Vec::new(),
            deepest: 0,
        }
    }

    /// Appends the cells of `sub`; returns the id its root takes.
    fn append(&mut self, sub: Cells<D>) -> u32 {
        // At most n points × MAX_DEPTH cells, far below u32::MAX for any
        // embedding that fits in memory.
        let (at, kids_at) = (self.nodes.len() as u32, self.children.len() as u32);
        let shift = |id: u32, by: u32| if id == NONE { NONE } else { id + by };
        self.nodes.extend(sub.nodes.iter().map(|n| Node {
            kids: shift(n.kids, kids_at),
            ..*n
        }));
        self.children
            .extend(sub.children.iter().map(|c| c.map(|id| shift(id, at))));
        self.deepest = self.deepest.max(sub.deepest);
        at
    }
}

/// A 2^D-tree over the points of an embedding.
pub(crate) struct Tree<const D: usize> {
    cells: Cells<D>,
    /// The cells in the walk's `f32`, by id.
    walk: Vec<WalkNode<D>>,
    /// The root's region (the frame of the Morton order).
    root: Bounds<D>,
    /// Point indices, partitioned cell by cell while building, and scratch
    /// (indices, and each point's child slot in the cell being built).
    ids: Vec<u32>,
    scratch: Vec<u32>,
    slots: Vec<u8>,
}

#[inline(always)]
fn is_duplicate<const D: usize>(a: &[f64; D], b: &[f64; D]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= EPSILON)
}

impl<const D: usize> Tree<D> {
    pub(crate) fn new() -> Self {
        Tree {
            cells: Cells::new(),
            walk: Vec::new(),
            root: Bounds {
                min: [0.0; D],
                max: [0.0; D],
                center: [0.0; D],
                depth: 0,
            },
            ids: Vec::new(),
            scratch: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Rebuilds the tree over `y` (`n × D`, row-major, finite): the cells
    /// scikit-learn's `build_tree` makes by inserting the points in index
    /// order, built cell by cell (subtrees of large cells in parallel). A
    /// barycenter is the sum of its cell's points over their count, where
    /// insertion keeps a running mean: the same value to rounding, without
    /// a division per point and level in one dependent chain (that chain
    /// was most of the build's time).
    pub(crate) fn build(&mut self, y: &[f64]) {
        build_tree(self, y);
        self.walk.clear();
        self.walk.extend(self.cells.nodes.iter().map(|n| WalkNode {
            barycenter: n.barycenter.map(|v| v as f32),
            squared_max_width: n.squared_max_width as f32,
            size: n.size as f32,
            kids: n.kids,
        }));
    }

    #[inline(always)]
    fn build_portable(&mut self, y: &[f64]) {
        let mut lo = [f64::INFINITY; D];
        let mut hi = [f64::NEG_INFINITY; D];
        for p in y.chunks_exact(D) {
            for a in 0..D {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        // scikit-learn widens the upper bounds so that every point lies
        // strictly inside the root (positive, negative and tiny maxima).
        let mut width2: f64 = 0.0;
        let mut center = [0.0; D];
        for a in 0..D {
            let m = hi[a];
            hi[a] = (m * (1.0 + 1e-3 * m.signum_or_zero())).max(m + 1e-3);
            center[a] = (hi[a] + lo[a]) / 2.0;
            let w = hi[a] - lo[a];
            width2 = width2.max(w * w);
        }
        self.root = Bounds {
            min: lo,
            max: hi,
            center,
            depth: 0,
        };
        let cells = &mut self.cells;
        cells.nodes.clear();
        cells.children.clear();
        cells.deepest = 0;
        let n = y.len() / D;
        if n == 0 {
            cells.nodes.push(Node {
                barycenter: [0.0; D],
                squared_max_width: width2,
                size: 0,
                kids: NONE,
            });
            return;
        }
        self.ids.clear();
        self.ids.extend(1..n as u32);
        self.scratch.resize(n - 1, 0);
        self.slots.resize(n - 1, 0);
        let first = (point_of::<D>(y, 0), 1);
        build_cell(
            cells,
            &self.root,
            width2,
            first,
            &mut self.ids,
            (&mut self.scratch, &mut self.slots),
            y,
        );
    }

    /// The indices of the points of `y` in Morton (Z-) order of their cell
    /// in a grid of 2^21 cells per axis over the root (ties in index order),
    /// into `order`. Walking the tree for the points in this order, each
    /// walk visits mostly the cells the previous one did, still in cache;
    /// the order depends on `y` alone, never on the thread count.
    fn morton_order(&self, y: &[f64], keys: &mut Keys, order: &mut Vec<u32>) {
        let scale = (1u64 << MORTON_BITS) as f64;
        let root = &self.root;
        keys.0.clear();
        for (i, p) in y.chunks_exact(D).enumerate() {
            let cell: [u64; D] = std::array::from_fn(|a| {
                let t = (p[a] - root.min[a]) / (root.max[a] - root.min[a]) * scale;
                // `as` saturates (and maps NaN to 0): always a valid cell.
                (t as u64).min((1 << MORTON_BITS) - 1)
            });
            keys.0.push((interleave(cell), i as u32));
        }
        // Stable, from index order: ties stay in index order.
        radix_sort(keys, MORTON_BITS * D as u32);
        order.clear();
        order.extend(keys.0.iter().map(|&(_, i)| i));
    }

    /// The repulsive forces on the points of a group (unnormalised:
    /// `Σ size q² (y - c)`) and their shares of `Z` (`Σ size q`), each over
    /// the cells that summarise the tree as seen from that point: a leaf, or
    /// a cell whose squared width over squared distance is below `theta2`.
    ///
    /// The group's points walk the tree together, each lane of the walk one
    /// point: a cell is visited while it is open for some lane (`mask`), and
    /// each lane adds exactly the cells its own walk would, in the order of
    /// scikit-learn's recursion (children in slot order). The per-point
    /// sums are therefore those of one walk per point, bit for bit, while
    /// the cell loads, the branches and the arithmetic are shared by the
    /// group (the lanes compile to vector instructions).
    ///
    /// `stack` is scratch space for the cells still to visit, with the lanes
    /// each is open for.
    #[inline(always)]
    fn repulsion<V: Lanes>(
        &self,
        group: &Group<D>,
        theta2: f32,
        kernel: Kernel,
        stack: &mut Walk,
    ) -> ([[f32; LANES]; D], [f32; LANES]) {
        // The Student-t of one degree of freedom (every 2-D embedding) needs
        // no power, which has no vector form.
        if kernel.dof == 1.0 {
            self.repulsion_of::<V, true>(group, theta2, kernel, stack)
        } else {
            self.repulsion_of::<V, false>(group, theta2, kernel, stack)
        }
    }

    #[inline(always)]
    fn repulsion_of<V: Lanes, const UNIT: bool>(
        &self,
        group: &Group<D>,
        theta2: f32,
        kernel: Kernel,
        stack: &mut Walk,
    ) -> ([[f32; LANES]; D], [f32; LANES]) {
        let points: [V; D] = std::array::from_fn(|a| V::load(&group.points[a]));
        let mut force = [V::splat(0.0); D];
        let mut z = V::splat(0.0);
        let (theta2, eps) = (V::splat(theta2), V::splat(EPSILON as f32));
        let dof = V::splat(kernel.dof as f32);
        let mut top = 0;
        if group.mask != 0 {
            stack[0] = (0, group.mask); // the root
            top = 1;
        }
        while top > 0 {
            top -= 1;
            let (id, mask) = stack[top];
            let node = &self.walk[id as usize];
            let mut diff = [V::splat(0.0); D];
            let mut dist2 = V::splat(0.0);
            for (d, (p, &c)) in diff.iter_mut().zip(points.iter().zip(&node.barycenter)) {
                *d = p.sub(V::splat(c));
                dist2 = dist2.add(d.mul(*d));
            }
            // `take`: the lanes that add the cell; `open`: those that visit
            // its children instead.
            let (take, open) = if node.is_leaf() {
                // No self-interaction (nor with duplicates).
                let dup = diff.iter().fold(mask, |m, d| m & d.abs_le(eps));
                (mask & !dup, 0)
            } else {
                // scikit-learn's `width² / d² < θ²`, multiplied out: a
                // division less per visit (the walk's costliest operation).
                let summary = V::splat(node.squared_max_width).lt(theta2.mul(dist2));
                (mask & summary, mask & !summary)
            };
            if take != 0 {
                let q = if UNIT {
                    dof.div(dof.add(dist2))
                } else {
                    let mut d2 = [0.0; LANES];
                    dist2.store(&mut d2);
                    V::load(&d2.map(|d| kernel.q32(d)))
                };
                // Zero in the lanes that do not take the cell: adding
                // `+0` and `±0 · d` (d finite) leaves their sums, which are
                // never `-0`, as they are. One select instead of D + 1.
                let zq = V::splat(0.0).select(take, V::splat(node.size).mul(q));
                let mult = zq.mul(q);
                z = z.add(zq);
                for (f, d) in force.iter_mut().zip(&diff) {
                    *f = f.add(mult.mul(*d));
                }
            }
            if open != 0 {
                for &c in self.cells.children[node.kids as usize][..1 << D]
                    .iter()
                    .rev()
                {
                    if c != NONE && top < WALK {
                        stack[top] = (c, open);
                        top += 1;
                    }
                }
            }
        }
        let mut out = ([[0.0; LANES]; D], [0.0; LANES]);
        for (f, o) in force.iter().zip(&mut out.0) {
            f.store(o);
        }
        z.store(&mut out.1);
        out
    }
}

/// The points of one walk, by axis then lane; `mask` has a bit per lane
/// that holds a point (the last group of a chunk may be partial). Points
/// consecutive in Morton order are close in the embedding: their walks open
/// mostly the same cells.
struct Group<const D: usize> {
    points: [[f32; LANES]; D],
    mask: Mask,
}

impl<const D: usize> Group<D> {
    /// The points `ids` of `y` (at most `LANES`).
    #[inline(always)]
    fn gather(y: &[f32], ids: &[u32]) -> Self {
        let mut points = [[0.0; LANES]; D];
        for (k, &i) in ids.iter().enumerate() {
            for (a, axis) in points.iter_mut().enumerate() {
                axis[k] = y[i as usize * D + a];
            }
        }
        Group {
            points,
            mask: Mask::MAX >> (Mask::BITS as usize - ids.len()),
        }
    }
}

/// f64 has no `signum` that maps 0 to 0 (numpy's `sign` does).
trait SignumOrZero {
    fn signum_or_zero(self) -> f64;
}

impl SignumOrZero for f64 {
    fn signum_or_zero(self) -> f64 {
        if self == 0.0 {
            0.0
        } else {
            self.signum()
        }
    }
}

/// The Student-t kernel `(dof / (dof + d²))^((dof + 1) / 2)`.
#[derive(Clone, Copy)]
pub(crate) struct Kernel {
    dof: f64,
    exponent: f64,
}

impl Kernel {
    pub(crate) fn new(dof: f64) -> Self {
        Kernel {
            dof,
            exponent: (dof + 1.0) / 2.0,
        }
    }

    #[cfg(test)]
    fn q(self, dist2: f64) -> f64 {
        let q = self.dof / (self.dof + dist2);
        if self.dof == 1.0 {
            q
        } else {
            q.powf(self.exponent)
        }
    }

    /// The kernel in the walks' `f32`: the quotient in `f32`, the power
    /// (when the degrees of freedom are not 1) in `f64`, rounded, as
    /// scikit-learn's `qijZ ** exponent` rounds it.
    #[inline(always)]
    fn q32(self, dist2: f32) -> f32 {
        let dof = self.dof as f32;
        let q = dof / (dof + dist2);
        if self.dof == 1.0 {
            q
        } else {
            (q as f64).powf(self.exponent) as f32
        }
    }
}

/// The Barnes–Hut KL objective over a sparse `P`, for `D`-dimensional
/// embeddings.
pub(crate) struct BarnesHut<'a, const D: usize> {
    p: &'a SparseP,
    theta2: f64,
    kernel: Kernel,
    tree: Tree<D>,
    /// The points in the order their repulsion is computed (Morton order).
    order: Vec<u32>,
    keys: Keys,
    /// The embedding in the walks' `f32`.
    y32: Vec<f32>,
    /// Repulsive forces of the last evaluation, in `order` (`n × D`).
    sorted: Vec<f64>,
    /// The same, in point order.
    neg: Vec<f64>,
    /// `P` laid out for the attraction's lanes (`None` beyond 32-bit
    /// gather positions).
    sliced: Option<Sliced>,
}

impl<'a, const D: usize> BarnesHut<'a, D> {
    pub(crate) fn new(p: &'a SparseP, angle: f64, dof: f64) -> Self {
        BarnesHut {
            p,
            theta2: angle * angle,
            kernel: Kernel::new(dof),
            tree: Tree::new(),
            order: Vec::new(),
            keys: (Vec::new(), Vec::new()),
            y32: Vec::new(),
            sorted: Vec::new(),
            neg: Vec::new(),
            sliced: Sliced::new(p, D),
        }
    }
}

impl<const D: usize> Objective for BarnesHut<'_, D> {
    fn evaluate(
        &mut self,
        y: &[f64],
        exaggeration: f64,
        compute_error: bool,
        grad: &mut [f64],
    ) -> Result<f64> {
        let n = self.p.n;
        if y.len() != n * D || grad.len() != n * D {
            return Err(Error::ShapeMismatch {
                what: "embedding vs n_samples × n_components".into(),
                expected: n * D,
                got: y.len(),
            });
        }
        finite_embedding(y)?;
        if let Some(v) = y.iter().find(|v| v.abs() > F32_REACH) {
            return Err(Error::NumericalFailure(format!(
                "the embedding reached {v}, beyond the {F32_REACH:e} that the float32 \
                 Barnes-Hut gradient handles; method='exact' computes in float64"
            )));
        }
        self.tree.build(y);
        let (theta2, kernel) = (self.theta2 as f32, self.kernel);
        let BarnesHut {
            tree,
            order,
            keys,
            y32,
            sorted,
            neg,
            ..
        } = self;
        y32.clear();
        y32.extend(y.iter().map(|&v| v as f32));
        tree.morton_order(y, keys, order);
        sorted.resize(n * D, 0.0);
        neg.resize(n * D, 0.0);
        let (tree, order_ref, y) = (&*tree, &*order, &y32[..]);
        // Z is summed in Morton order, point by point within a chunk and
        // chunk by chunk: an order fixed by the embedding alone.
        let z_parts: Vec<f64> = sorted
            .par_chunks_mut(CHUNK * D)
            .enumerate()
            .map(|(c, out)| {
                let points = &order_ref[c * CHUNK..(c * CHUNK + out.len() / D)];
                dispatch(RepelChunk::<D> {
                    tree,
                    y,
                    points,
                    theta2,
                    kernel,
                    out,
                })
            })
            .collect();
        for (f, &i) in sorted.chunks_exact(D).zip(order.iter()) {
            let i = i as usize;
            neg[i * D..(i + 1) * D].copy_from_slice(f);
        }
        // scikit-learn floors Z at machine epsilon against division by zero.
        let z = z_parts.iter().fold(0.0, |a, &b| a + b).max(f64::EPSILON);
        let (p, neg, y) = (self.p, &self.neg, &self.y32[..]);
        if let (Some(sl), false) = (&self.sliced, compute_error) {
            grad.par_chunks_mut(CHUNK * D)
                .enumerate()
                .for_each(|(ch, out)| {
                    dispatch(AttractSliced::<D> {
                        sl,
                        slices: sl.chunks[ch]..sl.chunks[ch + 1],
                        y,
                        neg,
                        kernel,
                        exaggeration,
                        z,
                        first: ch * CHUNK,
                        out,
                    })
                });
            return Ok(f64::NAN);
        }
        let err_parts: Vec<f64> = grad
            .par_chunks_mut(CHUNK * D)
            .enumerate()
            .map(|(ch, out)| {
                let step = Step {
                    exaggeration,
                    z,
                    compute_error,
                };
                attract_chunk::<D>(p, y, neg, ch * CHUNK, kernel, step, out)
            })
            .collect();
        Ok(total_error(compute_error, &err_parts))
    }
}

crate::simd::multiversion! {
    fn build_tree<const D: usize>(tree: &mut Tree<D>, y: &[f64]) -> () => build_portable_of
}

#[inline(always)]
fn build_portable_of<const D: usize>(tree: &mut Tree<D>, y: &[f64]) {
    tree.build_portable(y);
}

/// Cells with more points than this build their children in parallel.
const PARALLEL_CELL: usize = 4096;

#[inline(always)]
fn point_of<const D: usize>(y: &[f64], i: u32) -> [f64; D] {
    std::array::from_fn(|a| y[i as usize * D + a])
}

/// Builds, into `cells`, the cell of region `b` (largest squared side `w2`)
/// that insertion in index order would make from `first` (a point, or the
/// points a split leaf hands down: their position and count) and then the
/// points `rest` (indices, increasing); returns its id. `rest` is left
/// partitioned by child; `scratch` (two buffers as long) is overwritten.
fn build_cell<const D: usize>(
    cells: &mut Cells<D>,
    b: &Bounds<D>,
    w2: f64,
    first: ([f64; D], u32),
    rest: &mut [u32],
    scratch: (&mut [u32], &mut [u8]),
    y: &[f64],
) -> u32 {
    let id = cells.nodes.len();
    cells.deepest = cells.deepest.max(b.depth);
    // A leaf keeps its first point's position: duplicates of it (and, at
    // the deepest level, every point) join it.
    let mut size = first.1;
    let mut k = 0;
    while k < rest.len() && (b.depth >= MAX_DEPTH || is_duplicate(&point_of(y, rest[k]), &first.0))
    {
        size += 1;
        k += 1;
    }
    cells.nodes.push(Node {
        barycenter: first.0,
        squared_max_width: w2,
        size,
        kids: NONE,
    });
    if k == rest.len() {
        return id as u32;
    }
    // Otherwise the leaf's points move to a child, and the cell, now inner,
    // takes the other points, each going down to its child. The leaf's
    // points count at its first point's position, as insertion counts them.
    let clump = (first.0, size);
    let (rest, scratch, slots) = (&mut rest[k..], &mut scratch.0[k..], &mut scratch.1[k..]);
    let mut sum = first.0.map(|v| v * f64::from(size));
    let mut count = [0usize; 8];
    for (&i, s) in rest.iter().zip(slots.iter_mut()) {
        let p = point_of::<D>(y, i);
        for a in 0..D {
            sum[a] += p[a];
        }
        let c = b.slot(&p);
        *s = c as u8;
        count[c] += 1;
    }
    size += rest.len() as u32;
    let barycenter = sum.map(|v| v / f64::from(size));
    let kids = cells.children.len();
    cells.children.push([NONE; 8]);
    cells.nodes[id] = Node {
        barycenter,
        squared_max_width: w2,
        size,
        kids: kids as u32,
    };
    // Stable partition by child: each child's points stay in index order.
    let mut start = [0usize; 9];
    for c in 0..8 {
        start[c + 1] = start[c] + count[c];
    }
    let mut at = start;
    for (&i, &c) in rest.iter().zip(slots.iter()) {
        let c = c as usize;
        scratch[at[c]] = i;
        at[c] += 1;
    }
    rest.copy_from_slice(scratch);
    // Each child's first item (the clump, or its first point) and rest.
    let clump_slot = b.slot(&clump.0);
    // Built right away, or (large cells) collected and built in parallel;
    // `Vec::new` allocates only when a job is pushed.
    let parallel = size as usize > PARALLEL_CELL;
    let mut jobs = Vec::new();
    let (mut rest, mut scratch, mut slots) = (rest, scratch, slots);
    for c in 0..1usize << D {
        let (mine, others) = std::mem::take(&mut rest).split_at_mut(count[c]);
        let (mine_s, others_s) = std::mem::take(&mut scratch).split_at_mut(count[c]);
        let (mine_c, others_c) = std::mem::take(&mut slots).split_at_mut(count[c]);
        (rest, scratch, slots) = (others, others_s, others_c);
        let (first, mine, mine_s) = if c == clump_slot {
            (clump, mine, (mine_s, mine_c))
        } else if let Some((p, tail)) = mine.split_first_mut() {
            (
                (point_of::<D>(y, *p), 1),
                tail,
                (&mut mine_s[1..], &mut mine_c[1..]),
            )
        } else {
            continue;
        };
        let (cb, cw2) = b.child(c);
        if parallel {
            jobs.push((c, cb, cw2, first, mine, mine_s));
        } else {
            cells.children[kids][c] = build_cell(cells, &cb, cw2, first, mine, mine_s, y);
        }
    }
    if parallel {
        let built: Vec<(usize, Cells<D>)> = jobs
            .into_par_iter()
            .map(|(c, cb, cw2, first, mine, mine_s)| {
                let mut sub = Cells::new();
                build_cell(&mut sub, &cb, cw2, first, mine, mine_s, y);
                (c, sub)
            })
            .collect();
        for (c, sub) in built {
            cells.children[kids][c] = cells.append(sub);
        }
    }
    id as u32
}

/// The repulsion of the points `points` (into `out`, `D` values each) and
/// their share of `Z`, summed in that order.
struct RepelChunk<'a, const D: usize> {
    tree: &'a Tree<D>,
    y: &'a [f32],
    points: &'a [u32],
    theta2: f32,
    kernel: Kernel,
    out: &'a mut [f64],
}

impl<const D: usize> WithLanes for RepelChunk<'_, D> {
    type Output = f64;

    #[inline(always)]
    fn run<V: Lanes>(self) -> f64 {
        let mut z = 0.0;
        let mut stack: Walk = [(0, 0); WALK];
        for (f, ids) in self
            .out
            .chunks_mut(D * LANES)
            .zip(self.points.chunks(LANES))
        {
            let group = Group::<D>::gather(self.y, ids);
            let (force, zs) =
                self.tree
                    .repulsion::<V>(&group, self.theta2, self.kernel, &mut stack);
            // Z in point order, as one walk per point would sum it.
            for (k, fk) in f.chunks_exact_mut(D).enumerate() {
                for (a, v) in fk.iter_mut().enumerate() {
                    *v = f64::from(force[a][k]);
                }
                z += f64::from(zs[k]);
            }
        }
        z
    }
}

/// `P` laid out for the attraction's vector lanes (sliced ELLPACK): in each
/// chunk of `CHUNK` rows, the rows sorted by length (then index) and taken
/// `LANES` at a time; a slice stores its rows' entries step by step (entry
/// `s` of lane `k` at `[start + s][k]`). Lanes whose row has no entry at a
/// step hold their own row and a zero, which adds nothing. Each lane adds
/// its row's entries in the row's order: the scalar loop's sums, bit for
/// bit, with contiguous loads and the divisions as vectors.
struct Sliced {
    slices: Vec<Slice>,
    /// The first slice of each chunk of rows, and the end.
    chunks: Vec<usize>,
    /// `P` in the walks' `f32`.
    data: Vec<[f32; LANES]>,
    cols: Vec<[u32; LANES]>,
}

struct Slice {
    /// Its rows (the first repeated in unused lanes).
    rows: [u32; LANES],
    n_rows: usize,
    start: usize,
    width: usize,
}

impl Sliced {
    /// `None` when a coordinate's position in the embedding (`n × d`)
    /// does not fit the 32-bit offsets of vector gathers.
    fn new(p: &SparseP, d: usize) -> Option<Sliced> {
        let n = p.n;
        if n.checked_mul(d).is_none_or(|m| m >= i32::MAX as usize) {
            return None;
        }
        let mut sl = Sliced {
            slices: Vec::new(),
            chunks: vec![0],
            data: Vec::new(),
            cols: Vec::new(),
        };
        let len = |i: usize| p.indptr[i + 1] - p.indptr[i];
        for first in (0..n).step_by(CHUNK) {
            let mut rows: Vec<usize> = (first..(first + CHUNK).min(n)).collect();
            rows.sort_by_key(|&i| (len(i), i));
            for group in rows.chunks(LANES) {
                let lane_row = |k: usize| group.get(k).copied().unwrap_or(group[0]);
                let width = group.iter().map(|&i| len(i)).max().unwrap_or(0);
                sl.slices.push(Slice {
                    rows: std::array::from_fn(|k| lane_row(k) as u32),
                    n_rows: group.len(),
                    start: sl.data.len(),
                    width,
                });
                for s in 0..width {
                    let mut data = [0.0; LANES];
                    let mut cols = [0u32; LANES];
                    for (k, (v, c)) in data.iter_mut().zip(&mut cols).enumerate() {
                        let i = lane_row(k);
                        if k < group.len() && s < len(i) {
                            let t = p.indptr[i] + s;
                            (*v, *c) = (p.data[t] as f32, p.indices[t]);
                        } else {
                            *c = i as u32;
                        }
                    }
                    sl.data.push(data);
                    sl.cols.push(cols);
                }
            }
            sl.chunks.push(sl.slices.len());
        }
        Some(sl)
    }
}

/// The gradient of the rows of one chunk (from `first`, into `out`)
/// without the error: attraction in lanes, minus repulsion `neg` over `Z`.
struct AttractSliced<'a, const D: usize> {
    sl: &'a Sliced,
    slices: std::ops::Range<usize>,
    y: &'a [f32],
    neg: &'a [f64],
    kernel: Kernel,
    exaggeration: f64,
    z: f64,
    first: usize,
    out: &'a mut [f64],
}

impl<const D: usize> WithLanes for AttractSliced<'_, D> {
    type Output = ();

    #[inline(always)]
    fn run<V: Lanes>(self) {
        if self.kernel.dof == 1.0 {
            self.run_with::<V, true>()
        } else {
            self.run_with::<V, false>()
        }
    }
}

impl<const D: usize> AttractSliced<'_, D> {
    #[inline(always)]
    fn run_with<V: Lanes, const UNIT: bool>(self) {
        let AttractSliced {
            sl,
            slices,
            y,
            neg,
            kernel,
            exaggeration,
            z,
            first,
            out,
        } = self;
        let c = 2.0 * (kernel.dof + 1.0) / kernel.dof;
        let exaggeration = V::splat(exaggeration as f32);
        let dof = V::splat(kernel.dof as f32);
        for slice in &sl.slices[slices] {
            // SAFETY: rows and columns are below n (`SparseP::check`, and
            // `Sliced::new` uses no other), `y` holds n × D values
            // (`evaluate` checks), and n × D < i32::MAX (`Sliced::new`).
            let yi: [V; D] = std::array::from_fn(|a| unsafe { V::gather(y, &slice.rows, D, a) });
            let mut pos = [V::splat(0.0); D];
            for t in slice.start..slice.start + slice.width {
                let pij = V::load(&sl.data[t]).mul(exaggeration);
                let mut diff = [V::splat(0.0); D];
                let mut dist2 = V::splat(0.0);
                for (a, (d, yia)) in diff.iter_mut().zip(&yi).enumerate() {
                    // SAFETY: as above.
                    let yj = unsafe { V::gather(y, &sl.cols[t], D, a) };
                    *d = yia.sub(yj);
                    dist2 = dist2.add(d.mul(*d));
                }
                let q = if UNIT {
                    dof.div(dof.add(dist2))
                } else {
                    let mut d2 = [0.0; LANES];
                    dist2.store(&mut d2);
                    V::load(&d2.map(|v| kernel.q32(v)))
                };
                // A lane past its row's end adds `0 · 1 · 0`: its sum (never
                // `-0`) stays as it is, with no select.
                let pq = pij.mul(q);
                for (f, d) in pos.iter_mut().zip(&diff) {
                    *f = f.add(pq.mul(*d));
                }
            }
            let mut sums = [[0.0; LANES]; D];
            for (f, o) in pos.iter().zip(&mut sums) {
                f.store(o);
            }
            for (k, &i) in slice.rows[..slice.n_rows].iter().enumerate() {
                let i = i as usize;
                for a in 0..D {
                    out[(i - first) * D + a] = c * (f64::from(sums[a][k]) - neg[i * D + a] / z);
                }
            }
        }
    }
}

/// What one gradient evaluation shares between its chunks.
#[derive(Clone, Copy)]
struct Step {
    exaggeration: f64,
    z: f64,
    compute_error: bool,
}

crate::simd::multiversion! {
    /// The gradient of the points from `first` on (into `out`, `D` values
    /// each): the attraction over their rows of `P` minus their repulsion
    /// `neg` over `Z`; returns their KL terms (0 unless computed).
    ///
    /// The iterations that report the error, whose terms are summed entry
    /// by entry over the rows in order; the others run `AttractSliced`
    /// (the same gradient, bit for bit, in vector lanes).
    fn attract_chunk<const D: usize>(
        p: &SparseP,
        y: &[f32],
        neg: &[f64],
        first: usize,
        kernel: Kernel,
        step: Step,
        out: &mut [f64],
    ) -> f64
    => attract_chunk_portable
}

#[inline(always)]
fn attract_chunk_portable<const D: usize>(
    p: &SparseP,
    y: &[f32],
    neg: &[f64],
    first: usize,
    kernel: Kernel,
    step: Step,
    out: &mut [f64],
) -> f64 {
    let c = 2.0 * (kernel.dof + 1.0) / kernel.dof;
    let exaggeration = step.exaggeration as f32;
    let mut err = 0.0;
    for (r, g) in out.chunks_exact_mut(D).enumerate() {
        let i = first + r;
        let yi = &y[i * D..(i + 1) * D];
        let mut pos = [0.0f32; D];
        for t in p.indptr[i]..p.indptr[i + 1] {
            let j = p.indices[t] as usize;
            let pij = p.data[t] as f32 * exaggeration;
            let mut diff = [0.0f32; D];
            let mut dist2 = 0.0f32;
            for a in 0..D {
                diff[a] = yi[a] - y[j * D + a];
                dist2 += diff[a] * diff[a];
            }
            let q = kernel.q32(dist2);
            let pq = pij * q;
            if step.compute_error {
                let (pij, qn) = (f64::from(pij), f64::from(q) / step.z);
                err += pij * (pij.max(FLOAT32_TINY) / qn.max(FLOAT32_TINY)).ln();
            }
            for a in 0..D {
                pos[a] += pq * diff[a];
            }
        }
        for a in 0..D {
            g[a] = c * (f64::from(pos[a]) - neg[i * D + a] / step.z);
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifold::lanes::Portable;
    #[cfg(target_arch = "x86_64")]
    use crate::manifold::lanes::{Avx2, Avx512};

    /// A xorshift stream: the tests' reproducible random numbers.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// scikit-learn's `build_tree`: the points inserted one by one in index
    /// order (the reference the cell-by-cell build must reproduce).
    struct Inserted<const D: usize> {
        nodes: Vec<Node<D>>,
        bounds: Vec<Bounds<D>>,
        children: Vec<[u32; 8]>,
    }

    impl<const D: usize> Inserted<D> {
        fn build(y: &[f64]) -> Self {
            let mut t = Tree::<D>::new();
            t.build(y); // for the root's region and width
            let mut me = Inserted {
                nodes: vec![Node {
                    barycenter: [0.0; D],
                    squared_max_width: t.cells.nodes[0].squared_max_width,
                    size: 0,
                    kids: NONE,
                }],
                bounds: vec![t.root],
                children: Vec::new(),
            };
            for p in y.chunks_exact(D) {
                me.insert(std::array::from_fn(|a| p[a]));
            }
            me
        }

        fn insert(&mut self, point: [f64; D]) {
            let mut id = 0usize;
            loop {
                let node = &mut self.nodes[id];
                if node.size == 0 {
                    node.size = 1;
                    node.barycenter = point;
                    return;
                }
                if !node.is_leaf() {
                    let n = node.size as f64;
                    for a in 0..D {
                        node.barycenter[a] = (n * node.barycenter[a] + point[a]) / (n + 1.0);
                    }
                    node.size += 1;
                    let slot = self.bounds[id].slot(&point);
                    match self.children[self.nodes[id].kids as usize][slot] {
                        NONE => return self.new_child(id, point, 1),
                        child => {
                            id = child as usize;
                            continue;
                        }
                    }
                }
                if is_duplicate(&point, &node.barycenter) || self.bounds[id].depth >= MAX_DEPTH {
                    node.size += 1;
                    return;
                }
                let (moved, size) = (node.barycenter, node.size);
                self.new_child(id, moved, size);
            }
        }

        fn new_child(&mut self, parent: usize, point: [f64; D], size: u32) {
            let slot = self.bounds[parent].slot(&point);
            let (b, width2) = self.bounds[parent].child(slot);
            let id = self.nodes.len() as u32;
            self.nodes.push(Node {
                barycenter: point,
                squared_max_width: width2,
                size,
                kids: NONE,
            });
            self.bounds.push(b);
            if self.nodes[parent].is_leaf() {
                self.nodes[parent].kids = self.children.len() as u32;
                self.children.push([NONE; 8]);
            }
            let kids = self.nodes[parent].kids as usize;
            self.children[kids][slot] = id;
        }
    }

    /// A tree's cells in depth-first slot order: (slot path, width bits,
    /// size, barycenter), whatever the ids.
    type Canonical<const D: usize> = Vec<(Vec<usize>, u64, u32, [f64; D])>;

    fn canonical<const D: usize>(nodes: &[Node<D>], children: &[[u32; 8]]) -> Canonical<D> {
        let mut out = Vec::new();
        let mut stack = vec![(0u32, Vec::new())];
        while let Some((id, path)) = stack.pop() {
            let n = &nodes[id as usize];
            out.push((
                path.clone(),
                n.squared_max_width.to_bits(),
                n.size,
                n.barycenter,
            ));
            if !n.is_leaf() {
                for (slot, &c) in children[n.kids as usize].iter().enumerate().rev() {
                    if c != NONE {
                        let mut p = path.clone();
                        p.push(slot);
                        stack.push((c, p));
                    }
                }
            }
        }
        out
    }

    /// The same cells (paths, widths, sizes) bit for bit; barycenters (sums
    /// over counts, where insertion keeps running means) to rounding.
    fn same_tree_as_insertion<const D: usize>(y: &[f64]) {
        let mut t = Tree::<D>::new();
        t.build(y);
        let r = Inserted::<D>::build(y);
        let (mine, theirs) = (
            canonical(&t.cells.nodes, &t.cells.children),
            canonical(&r.nodes, &r.children),
        );
        assert_eq!(mine.len(), theirs.len());
        for (m, r) in mine.iter().zip(&theirs) {
            assert_eq!((&m.0, m.1, m.2), (&r.0, r.1, r.2));
            for (a, b) in m.3.iter().zip(&r.3) {
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs().max(1.0),
                    "{a} vs {b} at {:?}",
                    m.0
                );
            }
        }
        assert_eq!(t.cells.nodes.len(), r.nodes.len());
        // The walk's cells are the build's, rounded to f32.
        for (w, n) in t.walk.iter().zip(&t.cells.nodes) {
            assert_eq!(w.barycenter, n.barycenter.map(|v| v as f32));
            assert_eq!((w.size, w.kids), (n.size as f32, n.kids));
        }
    }

    /// The attraction in lanes (iterations without the error) gives the
    /// scalar loop's gradient (iterations with it), bit for bit: rows of
    /// 0 to 60 entries, partial slices and chunks.
    fn sliced_attraction_matches<const D: usize>(dof: f64) {
        let mut next = xorshift(0xdead_beef_cafe_f00du64);
        let n = 700;
        let (mut data, mut indices, mut indptr) = (Vec::new(), Vec::new(), vec![0]);
        for i in 0..n {
            let len = if i % 97 == 0 {
                0
            } else {
                (next() % 60) as usize
            };
            let mut cols: Vec<u32> = (0..len).map(|_| (next() % n as u64) as u32).collect();
            cols.sort_unstable();
            cols.dedup();
            for j in cols {
                indices.push(j);
                data.push((next() % 1000) as f64 * 1e-6);
            }
            indptr.push(indices.len());
        }
        let p = SparseP {
            n,
            data,
            indices,
            indptr,
        };
        p.check().unwrap();
        let y: Vec<f64> = (0..n * D)
            .map(|_| (next() % 10_000) as f64 * 1e-3 - 5.0)
            .collect();
        let mut bh = BarnesHut::<D>::new(&p, 0.5, dof);
        assert!(bh.sliced.is_some());
        let (mut lanes, mut rows) = (vec![0.0; n * D], vec![0.0; n * D]);
        bh.evaluate(&y, 12.0, false, &mut lanes).unwrap();
        bh.evaluate(&y, 12.0, true, &mut rows).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&lanes), bits(&rows));
    }

    #[test]
    fn attraction_in_lanes_is_the_row_loop() {
        sliced_attraction_matches::<1>(1.0);
        sliced_attraction_matches::<2>(1.0);
        sliced_attraction_matches::<3>(2.0);
    }

    #[test]
    fn morton_codes_interleave_bits_and_sort_stably() {
        let mut next = xorshift(0x1234_5678_9abc_def1u64);
        fn by_loop<const D: usize>(cell: [u64; D]) -> u64 {
            let mut code = 0u64;
            for bit in (0..MORTON_BITS).rev() {
                for c in cell {
                    code = (code << 1) | ((c >> bit) & 1);
                }
            }
            code
        }
        let max = (1u64 << MORTON_BITS) - 1;
        for _ in 0..10_000 {
            let c = [next() & max, next() & max, next() & max];
            assert_eq!(interleave([c[0]]), by_loop([c[0]]));
            assert_eq!(interleave([c[0], c[1]]), by_loop([c[0], c[1]]));
            assert_eq!(interleave(c), by_loop(c));
        }
        assert_eq!(interleave([max; 3]), by_loop([max; 3]));
        // Few distinct codes (ties in index order), and codes over all bits.
        for spread in [3u64, u64::MAX >> 1] {
            let v: Vec<(u64, u32)> = (0..5000).map(|i| (next() % spread, i)).collect();
            let mut keys = (v.clone(), Vec::new());
            radix_sort(&mut keys, 63);
            let mut expected = v;
            expected.sort_unstable();
            assert_eq!(keys.0, expected);
        }
    }

    #[test]
    fn cell_by_cell_build_is_insertion_in_index_order() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut uniform = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
        // Enough points for the parallel path (clusters, duplicates within
        // EPSILON and exact ones, points on cell boundaries).
        let n = 3 * PARALLEL_CELL;
        let mut y: Vec<f64> = (0..n * 2).map(|_| uniform() * 50.0 - 25.0).collect();
        for v in &mut y[..2000] {
            *v *= 1e-4;
        }
        for i in 0..300 {
            let (a, b) = (y[2 * i], y[2 * i + 1]);
            y[2 * (4000 + i)] = a + 1e-7;
            y[2 * (4000 + i) + 1] = b;
        }
        for i in 5000..5100 {
            y[2 * i] = 0.0;
            y[2 * i + 1] = (i % 7) as f64;
        }
        same_tree_as_insertion::<2>(&y);
        same_tree_as_insertion::<1>(&y);
        same_tree_as_insertion::<3>(&y[..3 * (y.len() / 3)]);
        same_tree_as_insertion::<2>(&y[..2]);
        same_tree_as_insertion::<2>(&[]);
        same_tree_as_insertion::<2>(&[1.0, 1.0, 1.0, 1.0, 1.0 + 1e-7, 1.0]);
        // Beyond the deepest cell.
        let a = 1e300f64;
        let b = f64::from_bits(a.to_bits() + 1);
        same_tree_as_insertion::<2>(&[a, a, b, b, -a, 0.0, b, b]);
    }

    /// The repulsion on one point, through a group of one.
    fn walk_one<const D: usize>(
        t: &Tree<D>,
        point: &[f64; D],
        theta2: f64,
        kernel: Kernel,
    ) -> ([f64; D], f64) {
        let group = Group::<D>::gather(&point.map(|v| v as f32), &[0]);
        let (force, z) =
            t.repulsion::<Portable>(&group, theta2 as f32, kernel, &mut [(0, 0); WALK]);
        (
            std::array::from_fn(|a| f64::from(force[a][0])),
            f64::from(z[0]),
        )
    }

    /// scikit-learn's walk for one point, cell by cell (what the group walk
    /// must reproduce for each of its lanes).
    fn walk_reference<const D: usize>(
        t: &Tree<D>,
        point: &[f32; D],
        theta2: f32,
        kernel: Kernel,
    ) -> ([f32; D], f32) {
        let (mut force, mut z) = ([0.0; D], 0.0);
        let mut stack = vec![0u32];
        while let Some(id) = stack.pop() {
            let node = &t.walk[id as usize];
            let diff: [f32; D] = std::array::from_fn(|a| point[a] - node.barycenter[a]);
            let dist2 = diff.iter().fold(0.0, |s, d| s + d * d);
            if node.is_leaf() && diff.iter().all(|d| d.abs() <= EPSILON as f32) {
                continue;
            }
            if node.is_leaf() || node.squared_max_width < theta2 * dist2 {
                let size = node.size;
                let q = kernel.q32(dist2);
                z += size * q;
                for a in 0..D {
                    force[a] += size * q * q * diff[a];
                }
            } else {
                let kids = &t.cells.children[node.kids as usize][..1 << D];
                stack.extend(kids.iter().rev().filter(|&&c| c != NONE));
            }
        }
        (force, z)
    }

    /// Every lane of a group walk is the point's own walk, bit for bit, for
    /// groups of near and of scattered points, partial groups, duplicates.
    fn group_walks_match<const D: usize, V: Lanes>(dof: f64) {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let mut uniform = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
        let n = 300;
        let mut y: Vec<f64> = (0..n * D).map(|_| uniform() * 20.0 - 10.0).collect();
        // A tight cluster and exact duplicates (and near ones, apart in f64,
        // one value in f32).
        for v in &mut y[..40 * D] {
            *v *= 1e-3;
        }
        let copy = y[..5 * D].to_vec();
        y[50 * D..55 * D].copy_from_slice(&copy);
        for v in &mut y[60 * D..62 * D] {
            *v = 3.0 + 1e-9 * *v;
        }
        let mut t = Tree::<D>::new();
        t.build(&y);
        let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        let (mut keys, mut order) = ((Vec::new(), Vec::new()), Vec::new());
        t.morton_order(&y, &mut keys, &mut order);
        let kernel = Kernel::new(dof);
        for theta in [0.0, 0.3, 0.5, 1.2] {
            // Morton-order groups (as the gradient forms them), then groups
            // of scattered points, then partial ones.
            let scattered: Vec<u32> = (0..n as u32).map(|i| (i * 37) % n as u32).collect();
            let theta2 = (theta * theta) as f32;
            for ids in order.chunks(LANES).chain(scattered.chunks(LANES - 3)) {
                let group = Group::<D>::gather(&y32, ids);
                let (force, z) = t.repulsion::<V>(&group, theta2, kernel, &mut [(0, 0); WALK]);
                for (k, &i) in ids.iter().enumerate() {
                    let i = i as usize;
                    let point: [f32; D] = std::array::from_fn(|a| y32[i * D + a]);
                    let (f0, z0) = walk_reference(&t, &point, theta2, kernel);
                    assert_eq!(z[k].to_bits(), z0.to_bits(), "point {i}, theta {theta}");
                    for a in 0..D {
                        assert_eq!(force[a][k].to_bits(), f0[a].to_bits(), "point {i}");
                    }
                }
            }
        }
    }

    fn group_walks_match_in<V: Lanes>() {
        group_walks_match::<1, V>(1.0);
        group_walks_match::<2, V>(1.0);
        group_walks_match::<3, V>(2.0);
    }

    #[test]
    fn group_walks_are_each_points_own_walk() {
        group_walks_match_in::<Portable>();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                group_walks_match_in::<Avx2>();
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                group_walks_match_in::<Avx512>();
            }
        }
    }

    #[test]
    fn tree_counts_every_point_once() {
        let y = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0 + 1e-7, -2.0, 0.5, 0.3, -0.7];
        let mut t = Tree::<2>::new();
        t.build(&y);
        assert_eq!(t.cells.nodes[0].size, 5);
        // The two points within EPSILON share a leaf of size 2.
        let leaves: Vec<usize> = t
            .cells
            .nodes
            .iter()
            .filter(|n| n.is_leaf())
            .map(|n| n.size as usize)
            .collect();
        assert_eq!(leaves.iter().sum::<usize>(), 5);
        assert!(leaves.contains(&2));
        let mean: Vec<f64> = (0..2)
            .map(|a| y.chunks(2).map(|p| p[a]).sum::<f64>() / 5.0)
            .collect();
        for a in 0..2 {
            assert!((t.cells.nodes[0].barycenter[a] - mean[a]).abs() < 1e-12);
        }
        let (mut keys, mut order) = ((Vec::new(), Vec::new()), Vec::new());
        t.morton_order(&y, &mut keys, &mut order);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        // The two duplicates are neighbours in the order.
        let at = |i: u32| order.iter().position(|&o| o == i).unwrap();
        assert_eq!(at(1).abs_diff(at(2)), 1);
    }

    #[test]
    fn identical_points_do_not_repel() {
        let y = [0.5; 12];
        let mut t = Tree::<3>::new();
        t.build(&y);
        let (f, z) = walk_one(&t, &[0.5; 3], 0.25, Kernel::new(2.0));
        assert_eq!((f, z), ([0.0; 3], 0.0));
    }

    #[test]
    fn angle_zero_visits_every_other_point() {
        let y: Vec<f64> = (0..40).map(|v| ((v * 37) % 11) as f64 * 0.3).collect();
        let mut t = Tree::<1>::new();
        t.build(&y);
        let k = Kernel::new(1.0);
        let (f, z) = walk_one(&t, &[y[3]], 0.0, k);
        let (mut f0, mut z0) = (0.0, 0.0);
        // Every point but the duplicates of y[3] (itself included).
        for &v in y.iter().filter(|&&v| (v - y[3]).abs() > EPSILON) {
            let q = k.q((y[3] - v) * (y[3] - v));
            z0 += q;
            f0 += q * q * (y[3] - v);
        }
        // The walk's f32 against this f64 sum.
        assert!((z - z0).abs() < 1e-5 * z0 && (f[0] - f0).abs() < 1e-5 * f0.abs().max(1e-3));
    }

    #[test]
    fn coordinates_beyond_the_f32_walk_are_an_error_not_a_wrong_gradient() {
        let p = SparseP {
            n: 2,
            data: vec![0.5, 0.5],
            indices: vec![1, 0],
            indptr: vec![0, 1, 2],
        };
        let mut bh = BarnesHut::<2>::new(&p, 0.5, 1.0);
        let mut grad = [0.0; 4];
        bh.evaluate(&[0.0, 1.0, F32_REACH, 2.0], 1.0, true, &mut grad)
            .unwrap();
        assert!(grad.iter().all(|g| g.is_finite()));
        let err = bh
            .evaluate(&[0.0, 1.0, 2.0 * F32_REACH, 2.0], 1.0, true, &mut grad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("method='exact'"), "{err}");
    }

    #[test]
    fn far_apart_points_stay_bounded() {
        // Depth is capped: distinct points f64 midpoints cannot separate.
        let a = 1e300f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let y = [a, a, b, b, -a, 0.0];
        let mut t = Tree::<2>::new();
        t.build(&y);
        assert_eq!(t.cells.nodes[0].size, 3);
        assert!(t.cells.deepest <= MAX_DEPTH);
    }
}
