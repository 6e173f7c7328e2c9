//! The Barnes–Hut approximation of the t-SNE gradient: a 2^d-tree (binary
//! tree, quadtree, octree) of the embedding, rebuilt every iteration, with
//! scikit-learn's construction (`_quad_tree.pyx`) and summary criterion
//! (`_barnes_hut_tsne.pyx`), in `f64`.
//!
//! The repulsive forces are computed for every point independently (in
//! parallel over fixed chunks of points), walking the tree in the same
//! order as scikit-learn's recursive `summarize`. The attractive forces run
//! over the rows of the sparse `P`. The normalisation `Z` and the KL error
//! are sums of per-point terms, added in point order within a chunk and
//! chunk by chunk: the gradient is bit-identical for any thread count.

use super::affinity::SparseP;
use super::tsne::{finite_embedding, Objective};
use crate::{Error, Result};
use rayon::prelude::*;

/// Points closer than this in every coordinate are one point to the tree
/// (scikit-learn's `EPSILON`): a duplicate joins the leaf, and a query
/// point does not repel a leaf it duplicates (its own leaf included).
const EPSILON: f64 = 1e-6;

/// Deepest cell. scikit-learn's tree stops splitting once two points are
/// duplicates, which bounds its depth by `log2(width / EPSILON)`; that
/// bound fails only when the embedding spans more than ~1e22 (and f64
/// midpoints can stop separating two distinct points), where the points
/// reaching this depth are kept together in one leaf instead.
const MAX_DEPTH: u32 = 96;

/// scikit-learn's floor on probabilities inside the KL error's logarithm
/// (`FLOAT32_TINY`).
const FLOAT32_TINY: f64 = f32::MIN_POSITIVE as f64;

/// Points per parallel task: fixed, so sums never depend on thread count.
const CHUNK: usize = 256;

const NONE: u32 = u32::MAX;

/// What the force walk reads of a cell, kept small for the cache.
#[derive(Clone, Copy)]
struct Node<const D: usize> {
    /// Mean of the points below.
    barycenter: [f64; D],
    /// Largest squared side of the cell.
    squared_max_width: f64,
    /// Number of points below (duplicates included).
    size: usize,
    /// Child cells (`NONE`: empty); the first `2^D` are used.
    children: [u32; 8],
    is_leaf: bool,
}

/// What only insertion needs.
#[derive(Clone, Copy)]
struct Bounds<const D: usize> {
    min: [f64; D],
    max: [f64; D],
    center: [f64; D],
    depth: u32,
}

/// A 2^D-tree over the points of an embedding.
pub(crate) struct Tree<const D: usize> {
    nodes: Vec<Node<D>>,
    bounds: Vec<Bounds<D>>,
}

fn is_duplicate<const D: usize>(a: &[f64; D], b: &[f64; D]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= EPSILON)
}

impl<const D: usize> Tree<D> {
    pub(crate) fn new() -> Self {
        Tree {
            nodes: Vec::new(),
            bounds: Vec::new(),
        }
    }

    /// Rebuilds the tree over `y` (`n × D`, row-major, finite), inserting the
    /// points in index order as scikit-learn's `build_tree` does.
    pub(crate) fn build(&mut self, y: &[f64]) {
        self.nodes.clear();
        self.bounds.clear();
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
        self.nodes.push(Node {
            barycenter: [0.0; D],
            squared_max_width: width2,
            size: 0,
            children: [NONE; 8],
            is_leaf: true,
        });
        self.bounds.push(Bounds {
            min: lo,
            max: hi,
            center,
            depth: 0,
        });
        for p in y.chunks_exact(D) {
            let mut point = [0.0; D];
            point.copy_from_slice(p);
            self.insert(point);
        }
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
            if !node.is_leaf {
                let n = node.size as f64;
                for a in 0..D {
                    node.barycenter[a] = (n * node.barycenter[a] + point[a]) / (n + 1.0);
                }
                node.size += 1;
                let slot = self.slot(id, &point);
                match self.nodes[id].children[slot] {
                    NONE => {
                        self.new_child(id, point, 1);
                        return;
                    }
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
            // A leaf holding other point(s): they move to a new child and
            // the cell, now inner, takes the new point again.
            let (moved, size) = (node.barycenter, node.size);
            self.new_child(id, moved, size);
        }
    }

    /// Which child of cell `id` holds `point`: one bit per axis, the first
    /// axis most significant, set when the point is at or past the centre.
    fn slot(&self, id: usize, point: &[f64; D]) -> usize {
        let c = &self.bounds[id].center;
        (0..D).fold(0, |s, a| 2 * s + usize::from(point[a] >= c[a]))
    }

    /// A child of `parent` holding `size` points at `point`.
    fn new_child(&mut self, parent: usize, point: [f64; D], size: usize) {
        let slot = self.slot(parent, &point);
        let pb = self.bounds[parent];
        let mut b = Bounds {
            min: [0.0; D],
            max: [0.0; D],
            center: [0.0; D],
            depth: pb.depth + 1,
        };
        let mut width2: f64 = 0.0;
        for a in 0..D {
            if point[a] >= pb.center[a] {
                b.min[a] = pb.center[a];
                b.max[a] = pb.max[a];
            } else {
                b.min[a] = pb.min[a];
                b.max[a] = pb.center[a];
            }
            b.center[a] = (b.min[a] + b.max[a]) / 2.0;
            let w = b.max[a] - b.min[a];
            width2 = width2.max(w * w);
        }
        // At most n points × MAX_DEPTH cells, far below u32::MAX for any
        // embedding that fits in memory.
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            barycenter: point,
            squared_max_width: width2,
            size,
            children: [NONE; 8],
            is_leaf: true,
        });
        self.bounds.push(b);
        let p = &mut self.nodes[parent];
        p.is_leaf = false;
        p.children[slot] = id;
    }

    /// The repulsive force on `point` (unnormalised: `Σ size q² (y - c)`)
    /// and its share of `Z` (`Σ size q`), over the cells that summarise the
    /// tree as seen from `point`: a leaf, or a cell whose squared width over
    /// squared distance is below `theta2`. Cells are visited in the order of
    /// scikit-learn's recursion (children in slot order).
    fn repulsion(
        &self,
        point: &[f64; D],
        theta2: f64,
        kernel: Kernel,
        stack: &mut Vec<u32>,
    ) -> ([f64; D], f64) {
        let mut force = [0.0; D];
        let mut z = 0.0;
        stack.clear();
        stack.push(0);
        while let Some(id) = stack.pop() {
            let node = &self.nodes[id as usize];
            let mut diff = [0.0; D];
            let mut dist2 = 0.0;
            let mut duplicate = true;
            for a in 0..D {
                diff[a] = point[a] - node.barycenter[a];
                dist2 += diff[a] * diff[a];
                duplicate &= diff[a].abs() <= EPSILON;
            }
            if duplicate && node.is_leaf {
                continue; // no self-interaction
            }
            if node.is_leaf || node.squared_max_width / dist2 < theta2 {
                let size = node.size as f64;
                let q = kernel.q(dist2);
                z += size * q;
                let mult = size * q * q;
                for a in 0..D {
                    force[a] += mult * diff[a];
                }
            } else {
                for &c in node.children[..1 << D].iter().rev() {
                    if c != NONE {
                        stack.push(c);
                    }
                }
            }
        }
        (force, z)
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

    #[inline(always)]
    fn q(self, dist2: f64) -> f64 {
        let q = self.dof / (self.dof + dist2);
        if self.dof == 1.0 {
            q
        } else {
            q.powf(self.exponent)
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
    /// Repulsive forces of the last evaluation (`n × D`).
    neg: Vec<f64>,
}

impl<'a, const D: usize> BarnesHut<'a, D> {
    pub(crate) fn new(p: &'a SparseP, angle: f64, dof: f64) -> Self {
        BarnesHut {
            p,
            theta2: angle * angle,
            kernel: Kernel::new(dof),
            tree: Tree::new(),
            neg: Vec::new(),
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
        self.tree.build(y);
        let (tree, theta2, kernel) = (&self.tree, self.theta2, self.kernel);
        self.neg.resize(n * D, 0.0);
        let z_parts: Vec<f64> = self
            .neg
            .par_chunks_mut(CHUNK * D)
            .enumerate()
            .map(|(c, out)| {
                let mut stack = Vec::new();
                let mut z = 0.0;
                for (r, f) in out.chunks_exact_mut(D).enumerate() {
                    let i = c * CHUNK + r;
                    let mut point = [0.0; D];
                    point.copy_from_slice(&y[i * D..(i + 1) * D]);
                    let (force, zi) = tree.repulsion(&point, theta2, kernel, &mut stack);
                    f.copy_from_slice(&force);
                    z += zi;
                }
                z
            })
            .collect();
        // scikit-learn floors Z at machine epsilon against division by zero.
        let z = z_parts.iter().fold(0.0, |a, &b| a + b).max(f64::EPSILON);
        let c = 2.0 * (kernel.dof + 1.0) / kernel.dof;
        let (p, neg) = (self.p, &self.neg);
        let err_parts: Vec<f64> = grad
            .par_chunks_mut(CHUNK * D)
            .enumerate()
            .map(|(ch, out)| {
                let mut err = 0.0;
                for (r, g) in out.chunks_exact_mut(D).enumerate() {
                    let i = ch * CHUNK + r;
                    let yi = &y[i * D..(i + 1) * D];
                    let mut pos = [0.0; D];
                    for t in p.indptr[i]..p.indptr[i + 1] {
                        let j = p.indices[t] as usize;
                        let pij = p.data[t] * exaggeration;
                        let mut diff = [0.0; D];
                        let mut dist2 = 0.0;
                        for a in 0..D {
                            diff[a] = yi[a] - y[j * D + a];
                            dist2 += diff[a] * diff[a];
                        }
                        let q = kernel.q(dist2);
                        let pq = pij * q;
                        if compute_error {
                            let qn = q / z;
                            err += pij * (pij.max(FLOAT32_TINY) / qn.max(FLOAT32_TINY)).ln();
                        }
                        for a in 0..D {
                            pos[a] += pq * diff[a];
                        }
                    }
                    for a in 0..D {
                        g[a] = c * (pos[a] - neg[i * D + a] / z);
                    }
                }
                err
            })
            .collect();
        Ok(if compute_error {
            err_parts.iter().fold(0.0, |a, &b| a + b)
        } else {
            f64::NAN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_counts_every_point_once() {
        let y = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0 + 1e-7, -2.0, 0.5, 0.3, -0.7];
        let mut t = Tree::<2>::new();
        t.build(&y);
        assert_eq!(t.nodes[0].size, 5);
        // The two points within EPSILON share a leaf of size 2.
        let leaves: Vec<usize> = t
            .nodes
            .iter()
            .filter(|n| n.is_leaf)
            .map(|n| n.size)
            .collect();
        assert_eq!(leaves.iter().sum::<usize>(), 5);
        assert!(leaves.contains(&2));
        let mean: Vec<f64> = (0..2)
            .map(|a| y.chunks(2).map(|p| p[a]).sum::<f64>() / 5.0)
            .collect();
        for a in 0..2 {
            assert!((t.nodes[0].barycenter[a] - mean[a]).abs() < 1e-12);
        }
    }

    #[test]
    fn identical_points_do_not_repel() {
        let y = [0.5; 12];
        let mut t = Tree::<3>::new();
        t.build(&y);
        let (f, z) = t.repulsion(&[0.5; 3], 0.25, Kernel::new(2.0), &mut Vec::new());
        assert_eq!((f, z), ([0.0; 3], 0.0));
    }

    #[test]
    fn angle_zero_visits_every_other_point() {
        let y: Vec<f64> = (0..40).map(|v| ((v * 37) % 11) as f64 * 0.3).collect();
        let mut t = Tree::<1>::new();
        t.build(&y);
        let k = Kernel::new(1.0);
        let (f, z) = t.repulsion(&[y[3]], 0.0, k, &mut Vec::new());
        let (mut f0, mut z0) = (0.0, 0.0);
        // Every point but the duplicates of y[3] (itself included).
        for &v in y.iter().filter(|&&v| (v - y[3]).abs() > EPSILON) {
            let q = k.q((y[3] - v) * (y[3] - v));
            z0 += q;
            f0 += q * q * (y[3] - v);
        }
        assert!((z - z0).abs() < 1e-12 && (f[0] - f0).abs() < 1e-12);
    }

    #[test]
    fn far_apart_points_stay_bounded() {
        // Depth is capped: distinct points f64 midpoints cannot separate.
        let a = 1e300f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let y = [a, a, b, b, -a, 0.0];
        let mut t = Tree::<2>::new();
        t.build(&y);
        assert_eq!(t.nodes[0].size, 3);
        assert!(t.bounds.iter().all(|b| b.depth <= MAX_DEPTH));
    }
}
