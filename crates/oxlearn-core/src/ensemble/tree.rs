//! One histogram tree: per node, for each drawn feature, a histogram of
//! (count, weight, target statistics) over that feature's bins, scanned for the
//! best split (random forests) or evaluated at one random bin (extra trees).

use super::rng::{bootstrap_counts, Rng};
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

/// What a row adds to a histogram entry `[count, weight, statistics...]`, and
/// what an entry's impurity and value are. The grower is monomorphised over
/// it, so the common single-output cases run without a per-row `match`.
trait Stats: Sync {
    /// Per-row data kept in node order beside the row (its class, its value,
    /// or the row itself), so filling a histogram reads it sequentially.
    type Item: Copy + Send;
    fn item(&self, row: usize) -> Self::Item;
    /// Entry width: 2 + statistics.
    fn width(&self) -> usize;
    fn add(&self, e: &mut [f64], it: Self::Item, w: f64);
    /// Impurity of an entry (mean over outputs).
    fn impurity(&self, e: &[f64]) -> f64;
    /// The split score to maximise: `-(w_l·imp_l + w_r·imp_r)` up to a term
    /// that depends on the node only (scikit-learn's proxy improvement).
    fn score(&self, l: &[f64], r: &[f64]) -> f64 {
        -(l[1] * self.impurity(l) + r[1] * self.impurity(r))
    }
    /// The node value: class fractions or means, `n_outputs × max_n_classes`.
    fn value(&self, e: &[f64], out: &mut Vec<f64>);
}

/// Single-output classification: `[count, weight, class weights...]`; `NC`
/// is the class count when known at compile time (binary), else 0.
struct Classes1<'a, const ENTROPY: bool, const NC: usize> {
    y: &'a [u32],
    n_classes: usize,
}

impl<const ENTROPY: bool, const NC: usize> Classes1<'_, ENTROPY, NC> {
    #[inline(always)]
    fn nc(&self) -> usize {
        if NC > 0 {
            NC
        } else {
            self.n_classes
        }
    }
}

impl<const ENTROPY: bool, const NC: usize> Stats for Classes1<'_, ENTROPY, NC> {
    type Item = u32;
    #[inline(always)]
    fn item(&self, row: usize) -> u32 {
        self.y[row]
    }
    #[inline(always)]
    fn width(&self) -> usize {
        2 + self.nc()
    }
    #[inline(always)]
    fn add(&self, e: &mut [f64], it: u32, w: f64) {
        e[0] += 1.0;
        e[1] += w;
        e[2 + it as usize] += w;
    }
    #[inline(always)]
    fn impurity(&self, e: &[f64]) -> f64 {
        let w = e[1];
        if w <= 0.0 {
            return 0.0;
        }
        let s = &e[2..2 + self.nc()];
        if ENTROPY {
            let mut acc = 0.0;
            for &c in s {
                if c > 0.0 {
                    let q = c / w;
                    acc -= q * q.log2();
                }
            }
            acc
        } else {
            let acc: f64 = s.iter().map(|&c| c * c).sum();
            1.0 - acc / (w * w)
        }
    }
    #[inline(always)]
    fn score(&self, l: &[f64], r: &[f64]) -> f64 {
        if ENTROPY {
            -(l[1] * self.impurity(l) + r[1] * self.impurity(r))
        } else {
            // w·gini = w - Σc²/w.
            let sl: f64 = l[2..2 + self.nc()].iter().map(|&c| c * c).sum();
            let sr: f64 = r[2..2 + self.nc()].iter().map(|&c| c * c).sum();
            sl / l[1] + sr / r[1]
        }
    }
    fn value(&self, e: &[f64], out: &mut Vec<f64>) {
        let w = e[1];
        out.extend(
            e[2..2 + self.nc()]
                .iter()
                .map(|&c| if w > 0.0 { c / w } else { 0.0 }),
        );
    }
}

/// Single-output regression: `[count, weight, Σwy, Σwy²]`.
struct Values1<'a> {
    y: &'a [f64],
}

impl Stats for Values1<'_> {
    type Item = f64;
    #[inline(always)]
    fn item(&self, row: usize) -> f64 {
        self.y[row]
    }
    #[inline(always)]
    fn width(&self) -> usize {
        4
    }
    #[inline(always)]
    fn add(&self, e: &mut [f64], v: f64, w: f64) {
        e[0] += 1.0;
        e[1] += w;
        e[2] += w * v;
        e[3] += w * v * v;
    }
    #[inline(always)]
    fn impurity(&self, e: &[f64]) -> f64 {
        let w = e[1];
        if w <= 0.0 {
            return 0.0;
        }
        let m = e[2] / w;
        e[3] / w - m * m
    }
    #[inline(always)]
    fn score(&self, l: &[f64], r: &[f64]) -> f64 {
        // w·mse = Σwy² - (Σwy)²/w, and Σwy² is the node's.
        l[2] * l[2] / l[1] + r[2] * r[2] / r[1]
    }
    fn value(&self, e: &[f64], out: &mut Vec<f64>) {
        out.push(if e[1] > 0.0 { e[2] / e[1] } else { 0.0 });
    }
}

/// Any targets (multi-output): the row is the item, its outputs are looked up.
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
}

impl Stats for Layout<'_> {
    type Item = u32;
    fn item(&self, row: usize) -> u32 {
        row as u32
    }
    fn width(&self) -> usize {
        self.width
    }
    #[inline]
    fn add(&self, entry: &mut [f64], row: u32, w: f64) {
        let row = row as usize;
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

/// Bins of a 256-bin histogram that some row of the node fell into: filling
/// and scanning cost O(rows in the node), not O(bins), and most nodes are small.
#[derive(Clone, Copy, Default)]
struct Occupied([u64; 4]);

impl Occupied {
    #[inline(always)]
    fn set(&mut self, b: usize) {
        self.0[b >> 6] |= 1 << (b & 63);
    }

    fn first(&self) -> Option<usize> {
        (0..4)
            .find(|&w| self.0[w] != 0)
            .map(|w| w * 64 + self.0[w].trailing_zeros() as usize)
    }

    fn last(&self) -> Option<usize> {
        (0..4)
            .rev()
            .find(|&w| self.0[w] != 0)
            .map(|w| w * 64 + 63 - self.0[w].leading_zeros() as usize)
    }

    /// The set bins in increasing order.
    fn iter(self) -> impl Iterator<Item = usize> {
        (0..4).flat_map(move |w| {
            let mut bits = self.0[w];
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }
}

struct Grower<'a, S: Stats> {
    binned: &'a Binned,
    st: S,
    params: &'a ForestParams,
    /// The used rows' weights, items and codes (row-major, `n_features`
    /// per row), partitioned at every split so each node owns a contiguous
    /// range: filling a histogram reads them sequentially instead of
    /// gathering from the column-major codes at random rows.
    wts: Vec<f64>,
    items: Vec<S::Item>,
    codes: Vec<u8>,
    /// Scratch of the stable partition.
    s_wts: Vec<f64>,
    s_items: Vec<S::Item>,
    s_codes: Vec<u8>,
    perm: Vec<usize>,
    hist: Vec<f64>,
    left_acc: Vec<f64>,
    right_acc: Vec<f64>,
    best_left: Vec<f64>,
    rng: Rng,
    total_weight: f64,
    min_weight_leaf: f64,
    tree: Tree,
    /// Node entries, `width` per node.
    stats: Vec<f64>,
}

const EPSILON: f64 = f64::EPSILON;

impl<S: Stats> Grower<'_, S> {
    fn range_stats(&self, start: usize, end: usize, e: &mut [f64]) {
        e.fill(0.0);
        for i in start..end {
            self.st.add(e, self.items[i], self.wts[i]);
        }
    }

    fn add_node(&mut self, e: &[f64]) -> usize {
        let id = self.tree.feature.len();
        self.tree.feature.push(TREE_UNDEFINED);
        self.tree.threshold.push(TREE_UNDEFINED as f64);
        self.tree.left.push(TREE_LEAF);
        self.tree.right.push(TREE_LEAF);
        self.tree.impurity.push(self.st.impurity(e));
        self.tree.n_node_samples.push(e[0] as i64);
        self.tree.weighted_n_node_samples.push(e[1]);
        self.st.value(e, &mut self.tree.value);
        self.stats.extend_from_slice(e);
        id
    }

    /// Fills the histogram of feature `f` over the node's rows.
    #[inline(always)]
    fn fill(&mut self, f: usize, start: usize, end: usize) -> Occupied {
        let p = self.perm.len();
        let width = self.st.width();
        let mut occ = Occupied::default();
        let codes = self.codes[start * p..end * p].chunks_exact(p);
        let wts = &self.wts[start..end];
        let items = &self.items[start..end];
        for ((c, &w), &it) in codes.zip(wts).zip(items) {
            let b = c[f] as usize;
            occ.set(b);
            self.st
                .add(&mut self.hist[b * width..(b + 1) * width], it, w);
        }
        occ
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
        let width = self.st.width();
        let n_features = self.perm.len();
        let (msl, mwl) = (p.min_samples_leaf as f64, self.min_weight_leaf);
        let mut best: Option<(Split, f64)> = None;
        let mut visited = 0;
        let mut i = 0;
        while i < n_features && visited < p.max_features {
            let j = i + self.rng.below(n_features - i);
            self.perm.swap(i, j);
            let f = self.perm[i];
            i += 1;
            let occ = self.fill(f, start, end);
            let (Some(lo), Some(hi)) = (occ.first(), occ.last()) else {
                continue;
            };
            if lo != hi {
                visited += 1;
                // Extra trees: one random cut in [lo, hi); else every cut
                // between occupied bins.
                let only = if p.extra {
                    Some(lo + self.rng.below(hi - lo))
                } else {
                    None
                };
                let node_e = &self.stats[node * width..(node + 1) * width];
                let cut = Cuts {
                    occ,
                    hi,
                    only,
                    feature: f,
                    lim: (msl, mwl),
                };
                if width == 4 {
                    // The common entries (binary classes, one regression
                    // output) accumulate in registers, not through memory.
                    let mut node4 = [0.0; 4];
                    node4.copy_from_slice(node_e);
                    let (mut l, mut r) = ([0.0; 4], [0.0; 4]);
                    cut.scan(
                        &self.st,
                        &self.hist,
                        &node4,
                        &mut l,
                        &mut r,
                        &mut best,
                        &mut self.best_left,
                    );
                } else {
                    let (l, r) = (&mut self.left_acc[..width], &mut self.right_acc[..width]);
                    cut.scan(
                        &self.st,
                        &self.hist,
                        node_e,
                        l,
                        r,
                        &mut best,
                        &mut self.best_left,
                    );
                }
            }
            // Clear only what was filled.
            for b in occ.iter() {
                self.hist[b * width..(b + 1) * width].fill(0.0);
            }
        }
        let (best, _) = best?;
        let node_e = &self.stats[node * width..(node + 1) * width];
        for ((r, &s), &l) in self.right_acc.iter_mut().zip(node_e).zip(&self.best_left) {
            *r = s - l;
        }
        let (wl, wr) = (self.best_left[1], self.right_acc[1]);
        let gain = imp
            - (wl * self.st.impurity(&self.best_left) + wr * self.st.impurity(&self.right_acc))
                / w_node;
        let improvement = w_node / self.total_weight * gain;
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
        let p = self.perm.len();
        let (f, bin) = (split.feature, split.bin as u8);
        let mut ls = std::mem::take(&mut self.left_acc);
        let mut rs = std::mem::take(&mut self.right_acc);
        ls.fill(0.0);
        rs.fill(0.0);
        self.s_wts.clear();
        self.s_items.clear();
        self.s_codes.clear();
        // Stable: the left rows, then the right rows, each in their order.
        for (go_left, e) in [(true, &mut ls), (false, &mut rs)] {
            for i in start..end {
                let c = &self.codes[i * p..(i + 1) * p];
                if (c[f] <= bin) == go_left {
                    self.s_wts.push(self.wts[i]);
                    self.s_items.push(self.items[i]);
                    self.s_codes.extend_from_slice(c);
                    self.st.add(e, self.items[i], self.wts[i]);
                }
            }
        }
        let mid = start + ls[0] as usize;
        self.wts[start..end].copy_from_slice(&self.s_wts);
        self.items[start..end].copy_from_slice(&self.s_items);
        self.codes[start * p..end * p].copy_from_slice(&self.s_codes);
        let l = self.add_node(&ls);
        let r = self.add_node(&rs);
        self.left_acc = ls;
        self.right_acc = rs;
        self.tree.feature[node] = split.feature as i32;
        self.tree.threshold[node] = self.binned.edges[split.feature][split.bin];
        self.tree.left[node] = l as i32;
        self.tree.right[node] = r as i32;
        [(l, start, mid), (r, mid, end)]
    }
}

/// The cuts of one feature's filled histogram to score.
struct Cuts {
    occ: Occupied,
    /// Last occupied bin: a cut there leaves the right side empty.
    hi: usize,
    /// Extra trees: the one cut to score.
    only: Option<usize>,
    feature: usize,
    /// Minimum samples and weight in a leaf.
    lim: (f64, f64),
}

impl Cuts {
    /// Scores the cuts, keeping the best in `best` (its left entry in
    /// `best_left`). `left`/`right` are scratch entries of the node's width.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn scan<S: Stats>(
        &self,
        st: &S,
        hist: &[f64],
        node_e: &[f64],
        left: &mut [f64],
        right: &mut [f64],
        best: &mut Option<(Split, f64)>,
        best_left: &mut [f64],
    ) {
        let width = st.width();
        left.fill(0.0);
        for b in self.occ.iter() {
            if b == self.hi || self.only.is_some_and(|k| b > k) {
                break;
            }
            for (a, &h) in left.iter_mut().zip(&hist[b * width..(b + 1) * width]) {
                *a += h;
            }
            if self.only.is_none() {
                consider(
                    st,
                    node_e,
                    left,
                    right,
                    self.lim,
                    self.feature,
                    b,
                    best,
                    best_left,
                );
            }
        }
        if let Some(k) = self.only {
            consider(
                st,
                node_e,
                left,
                right,
                self.lim,
                self.feature,
                k,
                best,
                best_left,
            );
        }
    }
}

/// Scores the cut whose left side is `left` (the node's entry is `node_e`)
/// and keeps it in `best` (and its left entry in `best_left`) when better.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn consider<S: Stats>(
    st: &S,
    node_e: &[f64],
    left: &[f64],
    right: &mut [f64],
    (msl, mwl): (f64, f64),
    feature: usize,
    bin: usize,
    best: &mut Option<(Split, f64)>,
    best_left: &mut [f64],
) {
    for ((r, &s), &l) in right.iter_mut().zip(node_e).zip(left) {
        *r = s - l;
    }
    if left[0] < msl || right[0] < msl || left[1] < mwl || right[1] < mwl {
        return;
    }
    let score = st.score(left, right);
    if best.as_ref().is_none_or(|(_, s)| score > *s) {
        *best = Some((Split { feature, bin }, score));
        best_left.copy_from_slice(left);
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
    match targets {
        Targets::Classes { y, n_classes } if n_classes.len() == 1 => {
            let nc = n_classes[0];
            match (params.criterion == Criterion::Entropy, nc == 2) {
                (false, true) => grow_with(
                    binned,
                    Classes1::<false, 2> { y, n_classes: nc },
                    sample_weight,
                    params,
                    seed,
                ),
                (false, false) => grow_with(
                    binned,
                    Classes1::<false, 0> { y, n_classes: nc },
                    sample_weight,
                    params,
                    seed,
                ),
                (true, true) => grow_with(
                    binned,
                    Classes1::<true, 2> { y, n_classes: nc },
                    sample_weight,
                    params,
                    seed,
                ),
                (true, false) => grow_with(
                    binned,
                    Classes1::<true, 0> { y, n_classes: nc },
                    sample_weight,
                    params,
                    seed,
                ),
            }
        }
        Targets::Values { y, n_outputs: 1 } => {
            grow_with(binned, Values1 { y }, sample_weight, params, seed)
        }
        _ => grow_with(
            binned,
            Layout::new(targets, params.criterion),
            sample_weight,
            params,
            seed,
        ),
    }
}

fn grow_with<S: Stats>(
    binned: &Binned,
    st: S,
    sample_weight: Option<&[f64]>,
    params: &ForestParams,
    seed: u64,
) -> Tree {
    let n = binned.n_rows;
    let rng = Rng::new(seed);
    let mut weights: Vec<f64> = match sample_weight {
        Some(w) => w.to_vec(),
        None => vec![1.0; n],
    };
    if params.bootstrap {
        // The same draws give the out-of-bag rows (oob.rs).
        let counts = bootstrap_counts(seed, n, params.n_bootstrap);
        for (w, &c) in weights.iter_mut().zip(&counts) {
            *w *= c as f64;
        }
    }
    let rows: Vec<usize> = (0..n).filter(|&i| weights[i] > 0.0).collect();
    let wts: Vec<f64> = rows.iter().map(|&i| weights[i]).collect();
    let items: Vec<S::Item> = rows.iter().map(|&i| st.item(i)).collect();
    let p = binned.edges.len();
    let mut codes = vec![0u8; rows.len() * p];
    for f in 0..p {
        let col = &binned.codes[f * n..(f + 1) * n];
        for (k, &i) in rows.iter().enumerate() {
            codes[k * p + f] = col[i];
        }
    }
    let total_weight: f64 = wts.iter().sum();
    let width = st.width();
    let max_nb = binned.edges.iter().map(|e| e.len() + 1).max().unwrap_or(1);
    let mut g = Grower {
        binned,
        st,
        params,
        s_wts: Vec::with_capacity(wts.len()),
        s_items: Vec::with_capacity(items.len()),
        s_codes: Vec::with_capacity(codes.len()),
        wts,
        items,
        codes,
        perm: (0..binned.edges.len()).collect(),
        hist: vec![0.0; max_nb * width],
        left_acc: vec![0.0; width],
        right_acc: vec![0.0; width],
        best_left: vec![0.0; width],
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
    let n_used = g.wts.len();
    let mut root_stats = vec![0.0; width];
    g.range_stats(0, n_used, &mut root_stats);
    let root = g.add_node(&root_stats);
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
