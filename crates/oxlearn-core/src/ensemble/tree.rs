//! One histogram tree: per node, for each drawn feature, a histogram of
//! (count, weight, target statistics) over that feature's bins, scanned for the
//! best split (random forests) or evaluated at one random bin (extra trees).

use super::rng::Rng;
use super::{Binned, Criterion, ForestParams, Targets, TREE_LEAF, TREE_UNDEFINED};

/// One grown tree in scikit-learn's node layout.
pub(crate) struct Tree {
    pub feature: Vec<i32>,
    pub threshold: Vec<f64>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
    pub impurity: Vec<f64>,
    pub n_node_samples: Vec<i64>,
    pub weighted_n_node_samples: Vec<f64>,
    pub value: Vec<f64>,
}

impl Tree {
    /// Impurity-decrease importances, normalised to sum to 1 (all zeros for a
    /// single-leaf tree), as scikit-learn's `compute_feature_importances`.
    pub fn feature_importances(&self, p: usize) -> Vec<f64> {
        let mut imp = vec![0.0; p];
        for i in 0..self.feature.len() {
            let (l, r) = (self.left[i], self.right[i]);
            if l == TREE_LEAF {
                continue;
            }
            let (l, r) = (l as usize, r as usize);
            imp[self.feature[i] as usize] += self.weighted_n_node_samples[i] * self.impurity[i]
                - self.weighted_n_node_samples[l] * self.impurity[l]
                - self.weighted_n_node_samples[r] * self.impurity[r];
        }
        let total: f64 = imp.iter().sum();
        if total > 0.0 {
            for a in &mut imp {
                *a /= total;
            }
        }
        imp
    }
}

/// How a row contributes to a histogram entry `[count, weight, stats...]`.
struct Layout<'a> {
    targets: Targets<'a>,
    criterion: Criterion,
    n_outputs: usize,
    /// Classification: start of each output's class counts in `stats`.
    class_offset: Vec<usize>,
    /// Entry width: 2 + statistics.
    width: usize,
    max_n_classes: usize,
}

impl<'a> Layout<'a> {
    fn new(targets: Targets<'a>, criterion: Criterion) -> Self {
        match targets {
            Targets::Classes { n_classes, .. } => {
                let mut class_offset = Vec::with_capacity(n_classes.len());
                let mut s = 0;
                for &c in n_classes {
                    class_offset.push(s);
                    s += c;
                }
                Layout {
                    targets,
                    criterion,
                    n_outputs: n_classes.len(),
                    class_offset,
                    width: 2 + s,
                    max_n_classes: n_classes.iter().copied().max().unwrap_or(1),
                }
            }
            Targets::Values { n_outputs, .. } => Layout {
                targets,
                criterion,
                n_outputs,
                class_offset: vec![],
                width: 2 + 2 * n_outputs,
                max_n_classes: 1,
            },
        }
    }

    #[inline]
    fn add(&self, entry: &mut [f64], row: usize, w: f64) {
        entry[0] += 1.0;
        entry[1] += w;
        let k = self.n_outputs;
        match self.targets {
            Targets::Classes { y, .. } => {
                for o in 0..k {
                    entry[2 + self.class_offset[o] + y[row * k + o] as usize] += w;
                }
            }
            Targets::Values { y, .. } => {
                for o in 0..k {
                    let v = y[row * k + o];
                    entry[2 + 2 * o] += w * v;
                    entry[3 + 2 * o] += w * v * v;
                }
            }
        }
    }

    /// Impurity of an entry (mean over outputs).
    fn impurity(&self, e: &[f64]) -> f64 {
        let w = e[1];
        if w <= 0.0 {
            return 0.0;
        }
        let k = self.n_outputs;
        let mut total = 0.0;
        match self.targets {
            Targets::Classes { n_classes, .. } => {
                for o in 0..k {
                    let s = &e[2 + self.class_offset[o]..2 + self.class_offset[o] + n_classes[o]];
                    let mut acc = 0.0;
                    match self.criterion {
                        Criterion::Entropy => {
                            for &c in s {
                                if c > 0.0 {
                                    let q = c / w;
                                    acc -= q * q.log2();
                                }
                            }
                            total += acc;
                        }
                        _ => {
                            for &c in s {
                                acc += c * c;
                            }
                            total += 1.0 - acc / (w * w);
                        }
                    }
                }
            }
            Targets::Values { .. } => {
                for o in 0..k {
                    let m = e[2 + 2 * o] / w;
                    total += e[3 + 2 * o] / w - m * m;
                }
            }
        }
        total / k as f64
    }

    /// The node value: class fractions or means, `n_outputs × max_n_classes`.
    fn value(&self, e: &[f64], out: &mut Vec<f64>) {
        let w = e[1];
        let k = self.n_outputs;
        match self.targets {
            Targets::Classes { n_classes, .. } => {
                for o in 0..k {
                    for c in 0..self.max_n_classes {
                        out.push(if c < n_classes[o] && w > 0.0 {
                            e[2 + self.class_offset[o] + c] / w
                        } else {
                            0.0
                        });
                    }
                }
            }
            Targets::Values { .. } => {
                for o in 0..k {
                    out.push(if w > 0.0 { e[2 + 2 * o] / w } else { 0.0 });
                }
            }
        }
    }
}

struct Split {
    feature: usize,
    bin: usize,
    /// Node-relative gain: impurity - weighted children impurity.
    gain: f64,
}

struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    split: Split,
    /// Weighted improvement (scikit-learn's), the best-first priority.
    improvement: f64,
}

struct Grower<'a> {
    binned: &'a Binned,
    layout: Layout<'a>,
    params: &'a ForestParams,
    weights: Vec<f64>,
    rows: Vec<u32>,
    perm: Vec<usize>,
    hist: Vec<f64>,
    left_acc: Vec<f64>,
    right_acc: Vec<f64>,
    rng: Rng,
    total_weight: f64,
    min_weight_leaf: f64,
    tree: Tree,
    stats: Vec<Vec<f64>>,
}

const EPSILON: f64 = f64::EPSILON;

impl Grower<'_> {
    fn node_stats(&self, start: usize, end: usize) -> Vec<f64> {
        let mut e = vec![0.0; self.layout.width];
        for &r in &self.rows[start..end] {
            let r = r as usize;
            self.layout.add(&mut e, r, self.weights[r]);
        }
        e
    }

    fn add_node(&mut self, stats: Vec<f64>) -> usize {
        let id = self.tree.feature.len();
        self.tree.feature.push(TREE_UNDEFINED);
        self.tree.threshold.push(TREE_UNDEFINED as f64);
        self.tree.left.push(TREE_LEAF);
        self.tree.right.push(TREE_LEAF);
        self.tree.impurity.push(self.layout.impurity(&stats));
        self.tree.n_node_samples.push(stats[0] as i64);
        self.tree.weighted_n_node_samples.push(stats[1]);
        self.layout.value(&stats, &mut self.tree.value);
        self.stats.push(stats);
        id
    }

    /// The split of a node, or `None` when it must stay a leaf.
    fn find_split(
        &mut self,
        node: usize,
        start: usize,
        end: usize,
        depth: usize,
    ) -> Option<(Split, f64)> {
        let p = self.params;
        let n_node = end - start;
        let w_node = self.tree.weighted_n_node_samples[node];
        let imp = self.tree.impurity[node];
        if p.max_depth.is_some_and(|d| depth >= d)
            || n_node < p.min_samples_split
            || n_node < 2 * p.min_samples_leaf
            || w_node < 2.0 * self.min_weight_leaf
            || imp <= EPSILON
        {
            return None;
        }
        let width = self.layout.width;
        let n_rows = self.binned.n_rows;
        let n_features = self.perm.len();
        let mut best: Option<Split> = None;
        let mut visited = 0;
        let mut i = 0;
        while i < n_features && visited < p.max_features {
            let j = i + self.rng.below(n_features - i);
            self.perm.swap(i, j);
            let f = self.perm[i];
            i += 1;
            let nb = self.binned.edges[f].len() + 1;
            let hist = &mut self.hist[..nb * width];
            hist.fill(0.0);
            let codes = &self.binned.codes[f * n_rows..(f + 1) * n_rows];
            for &r in &self.rows[start..end] {
                let r = r as usize;
                let b = codes[r] as usize;
                self.layout
                    .add(&mut hist[b * width..(b + 1) * width], r, self.weights[r]);
            }
            let occupied = |b: usize| hist[b * width] > 0.0;
            let Some(lo) = (0..nb).find(|&b| occupied(b)) else {
                continue;
            };
            let hi = (0..nb).rev().find(|&b| occupied(b)).unwrap_or(lo);
            if lo == hi {
                continue; // constant in this node
            }
            visited += 1;
            let (from, to) = if p.extra {
                let k = lo + self.rng.below(hi - lo);
                (k, k)
            } else {
                (lo, hi - 1)
            };
            let stats = &self.stats[node];
            self.left_acc.fill(0.0);
            for b in 0..from {
                for (a, &h) in self
                    .left_acc
                    .iter_mut()
                    .zip(&hist[b * width..(b + 1) * width])
                {
                    *a += h;
                }
            }
            for k in from..=to {
                for (a, &h) in self
                    .left_acc
                    .iter_mut()
                    .zip(&hist[k * width..(k + 1) * width])
                {
                    *a += h;
                }
                if self.left_acc[0] == 0.0 {
                    continue;
                }
                for ((r, &s), &l) in self.right_acc.iter_mut().zip(stats).zip(&self.left_acc) {
                    *r = s - l;
                }
                let (nl, nr) = (self.left_acc[0], self.right_acc[0]);
                let (wl, wr) = (self.left_acc[1], self.right_acc[1]);
                if nl < p.min_samples_leaf as f64
                    || nr < p.min_samples_leaf as f64
                    || wl < self.min_weight_leaf
                    || wr < self.min_weight_leaf
                    || nr <= 0.0
                {
                    continue;
                }
                let gain = imp
                    - (wl * self.layout.impurity(&self.left_acc)
                        + wr * self.layout.impurity(&self.right_acc))
                        / w_node;
                if best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(Split {
                        feature: f,
                        bin: k,
                        gain,
                    });
                }
            }
        }
        let best = best?;
        let improvement = w_node / self.total_weight * best.gain;
        if improvement + EPSILON < p.min_impurity_decrease {
            return None;
        }
        Some((best, improvement))
    }

    fn split(&mut self, pend: Pending) -> [(usize, usize, usize); 2] {
        let Pending {
            node,
            start,
            end,
            split,
            ..
        } = pend;
        let n_rows = self.binned.n_rows;
        let codes = &self.binned.codes[split.feature * n_rows..(split.feature + 1) * n_rows];
        let rows = &mut self.rows[start..end];
        let mut a = 0;
        let mut b = rows.len();
        while a < b {
            if codes[rows[a] as usize] as usize <= split.bin {
                a += 1;
            } else {
                b -= 1;
                rows.swap(a, b);
            }
        }
        let mid = start + a;
        let ls = self.node_stats(start, mid);
        let rs = self.node_stats(mid, end);
        let l = self.add_node(ls);
        let r = self.add_node(rs);
        self.tree.feature[node] = split.feature as i32;
        self.tree.threshold[node] = self.binned.edges[split.feature][split.bin];
        self.tree.left[node] = l as i32;
        self.tree.right[node] = r as i32;
        [(l, start, mid), (r, mid, end)]
    }
}

/// Grows one tree from its seed.
pub(crate) fn grow(
    binned: &Binned,
    targets: Targets<'_>,
    sample_weight: Option<&[f64]>,
    params: &ForestParams,
    seed: u64,
) -> Tree {
    let n = binned.n_rows;
    let mut rng = Rng::new(seed);
    let mut weights: Vec<f64> = match sample_weight {
        Some(w) => w.to_vec(),
        None => vec![1.0; n],
    };
    if params.bootstrap {
        let mut counts = vec![0u32; n];
        for _ in 0..params.n_bootstrap {
            counts[rng.below(n)] += 1;
        }
        for (w, &c) in weights.iter_mut().zip(&counts) {
            *w *= c as f64;
        }
    }
    let rows: Vec<u32> = (0..n as u32)
        .filter(|&i| weights[i as usize] > 0.0)
        .collect();
    let total_weight: f64 = rows.iter().map(|&i| weights[i as usize]).sum();
    let layout = Layout::new(targets, params.criterion);
    let width = layout.width;
    let max_nb = binned.edges.iter().map(|e| e.len() + 1).max().unwrap_or(1);
    let mut g = Grower {
        binned,
        layout,
        params,
        weights,
        rows,
        perm: (0..binned.edges.len()).collect(),
        hist: vec![0.0; max_nb * width],
        left_acc: vec![0.0; width],
        right_acc: vec![0.0; width],
        rng,
        total_weight,
        min_weight_leaf: params.min_weight_fraction_leaf * total_weight,
        tree: Tree {
            feature: vec![],
            threshold: vec![],
            left: vec![],
            right: vec![],
            impurity: vec![],
            n_node_samples: vec![],
            weighted_n_node_samples: vec![],
            value: vec![],
        },
        stats: vec![],
    };
    let n_used = g.rows.len();
    let root_stats = g.node_stats(0, n_used);
    let root = g.add_node(root_stats);
    let mut frontier: Vec<Pending> = Vec::new();
    if let Some((split, improvement)) = g.find_split(root, 0, n_used, 0) {
        frontier.push(Pending {
            node: root,
            start: 0,
            end: n_used,
            depth: 0,
            split,
            improvement,
        });
    }
    let mut leaves = 1usize;
    loop {
        let next = match params.max_leaf_nodes {
            // Best-first: the pending split of largest improvement (first on ties).
            Some(max_leaves) => {
                if leaves >= max_leaves {
                    break;
                }
                let mut bi = None;
                for (i, pd) in frontier.iter().enumerate() {
                    if bi.is_none_or(|b: usize| pd.improvement > frontier[b].improvement) {
                        bi = Some(i);
                    }
                }
                bi.map(|i| frontier.remove(i))
            }
            None => frontier.pop(),
        };
        let Some(pend) = next else { break };
        let depth = pend.depth;
        let children = g.split(pend);
        leaves += 1;
        // Right first onto the stack so the left subtree is grown first.
        for &(node, s, e) in children.iter().rev() {
            if let Some((split, improvement)) = g.find_split(node, s, e, depth + 1) {
                frontier.push(Pending {
                    node,
                    start: s,
                    end: e,
                    depth: depth + 1,
                    split,
                    improvement,
                });
            }
        }
    }
    g.tree
}
