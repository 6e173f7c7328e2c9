//! A kd-tree in flat arrays, for exact radius search.
//!
//! Built once: each node splits its points at the median of the dimension of
//! widest spread; a node of at most `leaf_size` points is a leaf. Node boxes
//! are the tight bounds of their points. Points are stored in tree order,
//! dimension-major (`xt[j * n + k]`), so a leaf's coordinates along one
//! dimension are contiguous and the leaf scan vectorises across points while
//! each point's distance is still accumulated dimension by dimension, in
//! order, exactly as scikit-learn's `rdist` does.

use super::metric::{Euclid, Reduce};
use super::topk::TopK;
use crate::simd::multiversion;

/// Default number of points of a leaf.
pub const DEFAULT_LEAF_SIZE: usize = 32;

/// The tree. Node 0 is the root; the children of node `i` (when it is not a
/// leaf) are `child[i]` and `child[i] + 1`.
#[derive(Debug, Clone)]
pub struct KdTree {
    n: usize,
    d: usize,
    /// Original index of each point, in tree order.
    idx: Vec<u32>,
    /// Coordinates in tree order, dimension-major: `xt[j * n + k]`.
    xt: Vec<f64>,
    /// First position (tree order) of each node's points.
    start: Vec<u32>,
    /// One past the last position of each node's points.
    end: Vec<u32>,
    /// First child of each node; 0 for a leaf.
    child: Vec<u32>,
    /// Per node, the lower then the upper bounds: `bounds[2 d i .. 2 d i + d]`
    /// and `bounds[2 d i + d .. 2 d (i + 1)]`.
    bounds: Vec<f64>,
    /// Largest number of points in a leaf.
    max_leaf: usize,
}

impl KdTree {
    /// Builds the tree of `x`, `n` rows of `d` coordinates (row-major, finite),
    /// with at most `leaf_size` points per leaf (`0`: [`DEFAULT_LEAF_SIZE`]).
    /// `n` must fit in `u32` (checked by the caller).
    pub fn build(x: &[f64], n: usize, d: usize, leaf_size: usize) -> KdTree {
        debug_assert_eq!(x.len(), n * d);
        let leaf_size = if leaf_size == 0 {
            DEFAULT_LEAF_SIZE
        } else {
            leaf_size
        };
        let mut idx: Vec<u32> = (0..n as u32).collect();
        let mut start = vec![0u32];
        let mut end = vec![n as u32];
        let mut child = vec![0u32];
        let mut bounds = Vec::new();
        let mut max_leaf = 0;
        let mut keyed: Vec<(f64, u32)> = Vec::with_capacity(n);
        // Breadth-first: children are allocated in pairs, after their parent.
        let mut node = 0;
        while node < start.len() {
            let (s, e) = (start[node] as usize, end[node] as usize);
            let base = bounds.len();
            bounds.resize(base + 2 * d, 0.0);
            let (lo, hi) = bounds[base..].split_at_mut(d);
            lo.fill(f64::INFINITY);
            hi.fill(f64::NEG_INFINITY);
            for &i in &idx[s..e] {
                let row = &x[i as usize * d..(i as usize + 1) * d];
                for j in 0..d {
                    lo[j] = lo[j].min(row[j]);
                    hi[j] = hi[j].max(row[j]);
                }
            }
            if s == e {
                lo.fill(0.0);
                hi.fill(0.0);
            }
            // Widest spread; the first such dimension on ties.
            let mut dim = 0;
            let mut spread = 0.0;
            for j in 0..d {
                if hi[j] - lo[j] > spread {
                    spread = hi[j] - lo[j];
                    dim = j;
                }
            }
            // Identical points cannot be split: they stay in one leaf.
            if e - s > leaf_size && spread > 0.0 {
                let mid = s + (e - s) / 2;
                // Select on (coordinate, index) pairs gathered once: the
                // comparisons then read contiguous memory, not rows of x.
                keyed.clear();
                keyed.extend(idx[s..e].iter().map(|&i| (x[i as usize * d + dim], i)));
                keyed.select_nth_unstable_by(mid - s, |a, b| {
                    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                });
                for (o, &(_, i)) in idx[s..e].iter_mut().zip(keyed.iter()) {
                    *o = i;
                }
                child[node] = start.len() as u32;
                start.extend([s as u32, mid as u32]);
                end.extend([mid as u32, e as u32]);
                child.extend([0, 0]);
            } else {
                max_leaf = max_leaf.max(e - s);
            }
            node += 1;
        }
        let mut xt = vec![0.0; n * d];
        for (k, &i) in idx.iter().enumerate() {
            for j in 0..d {
                xt[j * n + k] = x[i as usize * d + j];
            }
        }
        KdTree {
            n,
            d,
            idx,
            xt,
            start,
            end,
            child,
            bounds,
            max_leaf,
        }
    }

    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.n
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.start.len()
    }

    /// Original index of each point, in tree order.
    pub fn order(&self) -> &[u32] {
        &self.idx
    }

    /// The tree position of the first point of the leaf `q` falls in (the
    /// nearer child at every node, by the euclidean box bound).
    pub(crate) fn home_position(&self, q: &[f64]) -> usize {
        let mut node = 0;
        while self.child[node] != 0 {
            let c = self.child[node] as usize;
            let near = box_min(self, Euclid, c, q) <= box_min(self, Euclid, c + 1, q);
            node = if near { c } else { c + 1 };
        }
        self.start[node] as usize
    }

    /// Copies the coordinates of the points at tree positions `range` into
    /// `out`, row-major.
    pub fn rows_in_tree_order(&self, range: std::ops::Range<usize>, out: &mut Vec<f64>) {
        out.clear();
        out.resize(range.len() * self.d, 0.0);
        for j in 0..self.d {
            let col = &self.xt[j * self.n + range.start..j * self.n + range.end];
            for (k, &v) in col.iter().enumerate() {
                out[k * self.d + j] = v;
            }
        }
    }
}

multiversion! {
    /// Radius search for each row of `rows` (row-major, `d` columns): the
    /// original indices of the points within reduced distance `r_red`,
    /// sorted, appended to `out`, and their number appended to `lens`.
    /// Returns the number of neighbours found.
    pub(crate) fn radius_rows<M: Reduce>(
        tree: &KdTree,
        m: M,
        exact_bounds: bool,
        rows: &[f64],
        r_red: f64,
        lens: &mut Vec<u32>,
        out: &mut Vec<u32>,
    ) -> usize
    => radius_rows_portable
}

#[inline(always)]
fn radius_rows_portable<M: Reduce>(
    tree: &KdTree,
    m: M,
    exact_bounds: bool,
    rows: &[f64],
    r_red: f64,
    lens: &mut Vec<u32>,
    out: &mut Vec<u32>,
) -> usize {
    let d = tree.d;
    // Box bounds are exact bounds of the points' reduced distances for
    // metrics computed with + and * only; powers are not guaranteed
    // monotone to the last bit, so they get a small margin (it only visits
    // a few more nodes; every point is still decided by its exact distance).
    let (prune_above, all_within) = if exact_bounds {
        (r_red, r_red)
    } else {
        (r_red * (1.0 + 1e-9), r_red * (1.0 - 1e-9))
    };
    let mut stack: Vec<u32> = Vec::with_capacity(64);
    let mut acc = vec![0.0f64; tree.max_leaf.max(1)];
    let first = out.len();
    for q in rows.chunks_exact(d.max(1)) {
        let from = out.len();
        if tree.n > 0 {
            stack.clear();
            stack.push(0);
        }
        while let Some(node) = stack.pop() {
            let node = node as usize;
            let b = &tree.bounds[2 * d * node..2 * d * (node + 1)];
            let (lo, hi) = b.split_at(d);
            let mut rmin = 0.0;
            let mut rmax = 0.0;
            for j in 0..d {
                let below = lo[j] - q[j];
                let above = q[j] - hi[j];
                let gap = if below > 0.0 {
                    below
                } else if above > 0.0 {
                    above
                } else {
                    0.0
                };
                let far_lo = q[j] - lo[j];
                let far_hi = hi[j] - q[j];
                let far = if far_lo > far_hi { far_lo } else { far_hi };
                rmin = M::combine(rmin, m.term(gap));
                rmax = M::combine(rmax, m.term(far));
            }
            if rmin > prune_above {
                continue;
            }
            let (s, e) = (tree.start[node] as usize, tree.end[node] as usize);
            if rmax <= all_within {
                out.extend_from_slice(&tree.idx[s..e]);
                continue;
            }
            let c = tree.child[node];
            if c != 0 {
                stack.push(c + 1);
                stack.push(c);
                continue;
            }
            let acc = &mut acc[..e - s];
            scan_block(m, q, &tree.xt, tree.n, s, acc);
            for (k, &a) in acc.iter().enumerate() {
                if a <= r_red {
                    out.push(tree.idx[s + k]);
                }
            }
        }
        out[from..].sort_unstable();
        lens.push((out.len() - from) as u32);
    }
    out.len() - first
}

multiversion! {
    /// k-nearest search for each row of `rows` (row-major, `d` columns):
    /// appends each query's `k` best `(reduced distance, original index)`,
    /// best first, to `rds` and `idx`. Depth-first, nearer child first; a
    /// node is skipped only when its box is farther than the worst kept
    /// candidate (a box at exactly that distance may still hold a tie with
    /// a smaller index, so it is visited). Returns the number of points
    /// whose distances were computed (how well the tree prunes).
    pub(crate) fn knn_rows<M: Reduce>(
        tree: &KdTree,
        m: M,
        exact_bounds: bool,
        rows: &[f64],
        k: usize,
        rds: &mut Vec<f64>,
        idx: &mut Vec<u32>,
    ) -> usize
    => knn_rows_portable
}

/// Lower bound of the reduced distance from `q` to the box of `node`.
#[inline(always)]
fn box_min<M: Reduce>(tree: &KdTree, m: M, node: usize, q: &[f64]) -> f64 {
    let d = tree.d;
    let b = &tree.bounds[2 * d * node..2 * d * (node + 1)];
    let (lo, hi) = b.split_at(d);
    let mut rmin = 0.0;
    for j in 0..d {
        // Branch-free (at most one of the two is positive): the sides a
        // query falls on are unpredictable.
        let below = lo[j] - q[j];
        let above = q[j] - hi[j];
        let g = if below > above { below } else { above };
        let gap = if g > 0.0 { g } else { 0.0 };
        rmin = M::combine(rmin, m.term(gap));
    }
    rmin
}

#[inline(always)]
fn knn_rows_portable<M: Reduce>(
    tree: &KdTree,
    m: M,
    exact_bounds: bool,
    rows: &[f64],
    k: usize,
    rds: &mut Vec<f64>,
    idx: &mut Vec<u32>,
) -> usize {
    let d = tree.d;
    // Powers are not guaranteed monotone to the last bit: their box bound
    // gets a small margin (a few more nodes visited, same answer).
    let shrink = if exact_bounds { 1.0 } else { 1.0 - 1e-9 };
    let mut stack: Vec<(u32, f64)> = Vec::with_capacity(64);
    let mut best = TopK::new(k);
    let mut scanned = 0;
    for q in rows.chunks_exact(d.max(1)) {
        best.clear();
        stack.clear();
        if tree.n > 0 {
            stack.push((0, box_min(tree, m, 0, q) * shrink));
        }
        while let Some((node, rmin)) = stack.pop() {
            if rmin > best.bound() {
                continue;
            }
            let node = node as usize;
            let c = tree.child[node] as usize;
            if c != 0 {
                let r0 = box_min(tree, m, c, q) * shrink;
                let r1 = box_min(tree, m, c + 1, q) * shrink;
                // The nearer child is popped first.
                if r0 <= r1 {
                    stack.push(((c + 1) as u32, r1));
                    stack.push((c as u32, r0));
                } else {
                    stack.push((c as u32, r0));
                    stack.push(((c + 1) as u32, r1));
                }
                continue;
            }
            let (s, e) = (tree.start[node] as usize, tree.end[node] as usize);
            scanned += e - s;
            scan_leaf_knn(m, q, tree, s, e, &mut best);
        }
        best.drain_sorted(rds, idx);
    }
    scanned
}

/// Offers the points at tree positions `s..e` (one leaf) to `best`.
///
/// Blocks of 8 points are accumulated in registers, each distance over the
/// dimensions in order (the same arithmetic as [`scan_block`]). A leaf's
/// last, partial block reads its neighbours' coordinates too (positions
/// stay inside the array) and ignores them. Terms are never negative and
/// rounding is monotone, so a partial sum over the first dimensions never
/// exceeds the full one: when `PARTIAL`, a block whose partial sums all
/// exceed the current k-th best after half the dimensions is dropped
/// without the rest.
#[inline(always)]
fn scan_leaf_knn<M: Reduce>(m: M, q: &[f64], tree: &KdTree, s: usize, e: usize, best: &mut TopK) {
    const L: usize = 8;
    const PARTIAL: bool = true;
    let (n, d, xt) = (tree.n, tree.d, &tree.xt[..]);
    if n < L {
        for p in s..e {
            let mut a = 0.0;
            for (j, &qj) in q.iter().enumerate() {
                a = M::combine(a, m.term(qj - xt[j * n + p]));
            }
            if a <= best.bound() {
                best.push(a, tree.idx[p]);
            }
        }
        return;
    }
    let half = if PARTIAL && d >= 6 { d / 2 } else { d };
    let mut p = s;
    while p < e {
        // The block's first position, and its lanes that are in the leaf.
        let b0 = p.min(n - L);
        let (lo, hi) = (p - b0, (e - b0).min(L));
        let mut acc = [0.0f64; L];
        for (j, &qj) in q[..half].iter().enumerate() {
            let col: &[f64; L] = xt[j * n + b0..j * n + b0 + L]
                .try_into()
                .unwrap_or(&[0.0; L]);
            for l in 0..L {
                acc[l] = M::combine(acc[l], m.term(qj - col[l]));
            }
        }
        let bound = best.bound();
        let mut alive = 0u32;
        for &a in &acc[lo..hi] {
            alive += (a <= bound) as u32;
        }
        if alive > 0 && half < d {
            for (j, &qj) in q.iter().enumerate().skip(half) {
                let col: &[f64; L] = xt[j * n + b0..j * n + b0 + L]
                    .try_into()
                    .unwrap_or(&[0.0; L]);
                for l in 0..L {
                    acc[l] = M::combine(acc[l], m.term(qj - col[l]));
                }
            }
            alive = 0;
            for &a in &acc[lo..hi] {
                alive += (a <= bound) as u32;
            }
        }
        if alive > 0 {
            for (l, &a) in acc.iter().enumerate().take(hi).skip(lo) {
                if a <= best.bound() {
                    best.push(a, tree.idx[b0 + l]);
                }
            }
        }
        p = b0 + hi;
    }
}

/// Reduced distances from `q` to the points at positions `s..s + acc.len()`
/// of the dimension-major array `xt` (`n` points per dimension), into `acc`.
/// Each distance is accumulated over dimensions in order, as scikit-learn's
/// `rdist`; the loop over points vectorises.
#[inline(always)]
pub(crate) fn scan_block<M: Reduce>(
    m: M,
    q: &[f64],
    xt: &[f64],
    n: usize,
    s: usize,
    acc: &mut [f64],
) {
    acc.fill(0.0);
    let len = acc.len();
    for (j, &qj) in q.iter().enumerate() {
        let col = &xt[j * n + s..j * n + s + len];
        for (a, &v) in acc.iter_mut().zip(col) {
            *a = M::combine(*a, m.term(qj - v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbors::metric::{with_reduce, Metric};

    fn brute(x: &[f64], d: usize, q: &[f64], metric: Metric, r: f64) -> Vec<u32> {
        let r_red = metric.reduced(r);
        x.chunks_exact(d)
            .enumerate()
            .filter(|(_, p)| metric.rdist(q, p) <= r_red)
            .map(|(i, _)| i as u32)
            .collect()
    }

    fn query(tree: &KdTree, metric: Metric, q: &[f64], r: f64) -> Vec<u32> {
        let (mut lens, mut out) = (vec![], vec![]);
        let exact = !matches!(metric, Metric::Minkowski(_));
        with_reduce!(metric, |m| radius_rows(
            tree,
            m,
            exact,
            q,
            metric.reduced(r),
            &mut lens,
            &mut out
        ));
        assert_eq!(lens, vec![out.len() as u32]);
        out
    }

    #[test]
    fn structure_covers_every_point_once() {
        let x: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64).collect();
        let tree = KdTree::build(&x, 250, 2, 7);
        let mut seen = tree.order().to_vec();
        seen.sort_unstable();
        assert_eq!(seen, (0..250).collect::<Vec<u32>>());
        assert!(tree.max_leaf <= 7);
        assert!(tree.n_nodes() > 1);
        // Every point lies inside the box of every node that holds it.
        for node in 0..tree.n_nodes() {
            for k in tree.start[node] as usize..tree.end[node] as usize {
                for j in 0..2 {
                    let v = tree.xt[j * 250 + k];
                    assert!(tree.bounds[4 * node + j] <= v && v <= tree.bounds[4 * node + 2 + j]);
                }
            }
        }
    }

    #[test]
    fn identical_points_and_empty_tree() {
        let x = vec![1.5; 3 * 100];
        let tree = KdTree::build(&x, 100, 3, 4);
        assert_eq!(tree.n_nodes(), 1);
        assert_eq!(
            query(&tree, Metric::Euclidean, &[1.5; 3], 1e-300).len(),
            100
        );
        assert!(query(&tree, Metric::Euclidean, &[1.6, 1.5, 1.5], 0.05).is_empty());
        let empty = KdTree::build(&[], 0, 3, 4);
        assert!(query(&empty, Metric::Euclidean, &[0.0; 3], 1.0).is_empty());
    }

    #[test]
    fn boundary_points_are_included() {
        // A 2-D integer grid: with r = 1 the four axis neighbours are at
        // exactly the radius under every metric, the diagonals only under
        // chebyshev.
        let mut x = vec![];
        for a in 0..10 {
            for b in 0..10 {
                x.extend([a as f64, b as f64]);
            }
        }
        let tree = KdTree::build(&x, 100, 2, 3);
        let centre = [4.0, 4.0];
        assert_eq!(
            query(&tree, Metric::Euclidean, &centre, 1.0),
            vec![34, 43, 44, 45, 54]
        );
        assert_eq!(query(&tree, Metric::Manhattan, &centre, 1.0).len(), 5);
        assert_eq!(query(&tree, Metric::Minkowski(3.0), &centre, 1.0).len(), 5);
        assert_eq!(query(&tree, Metric::Chebyshev, &centre, 1.0).len(), 9);
        assert_eq!(
            query(&tree, Metric::Euclidean, &centre, 1.0 - 1e-12).len(),
            1
        );
    }

    /// Tree answers equal brute force on random data, every metric, many
    /// radii and leaf sizes, with duplicated points and boundary distances.
    #[test]
    fn matches_brute_force_randomised() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let mut runner = TestRunner::new(Config {
            cases: 48,
            ..Config::default()
        });
        let strategy = (
            1usize..6,
            1usize..120,
            1usize..12,
            0u8..4,
            prop::collection::vec(-3i32..4, 720),
            prop::bool::ANY,
        );
        runner
            .run(&strategy, |(d, n, leaf, which, ints, coarse)| {
                // Coarse data: small integers, with many exact ties and
                // distances exactly at the radius; fine data: continuous.
                let x: Vec<f64> = ints[..n * d]
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| {
                        if coarse {
                            v as f64
                        } else {
                            v as f64 * 0.37 + ((k * 7919) % 113) as f64 / 97.0
                        }
                    })
                    .collect();
                let metric = [
                    Metric::Euclidean,
                    Metric::Manhattan,
                    Metric::Chebyshev,
                    Metric::Minkowski(3.0),
                ][which as usize];
                let tree = KdTree::build(&x, n, d, leaf);
                for r in [0.5, 1.0, 2.0, 3.3] {
                    for q in x.chunks_exact(d).step_by(7) {
                        prop_assert_eq!(query(&tree, metric, q, r), brute(&x, d, q, metric, r));
                    }
                    let outside: Vec<f64> = (0..d).map(|j| j as f64 - 4.5).collect();
                    prop_assert_eq!(
                        query(&tree, metric, &outside, r),
                        brute(&x, d, &outside, metric, r)
                    );
                }
                Ok(())
            })
            .unwrap();
    }
}
