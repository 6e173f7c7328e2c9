//! Random forests and extra trees over quantile-binned features.
//!
//! Every tree is grown from its own seed (given per tree by the caller), so a
//! forest is the same whatever the thread count. The fitted forest is a set of
//! flat arrays in scikit-learn's tree layout (features compared as float32,
//! as scikit-learn's trees do) (child indices local to each
//! tree, -1 at leaves) with per-tree offsets; it is also the persisted form.

pub mod bins;
pub mod missing;
pub mod oob;
mod rng;
pub mod structure;
pub mod subsample;
mod tree;

use crate::error::Error;
use crate::Real;
use faer::MatRef;
use rayon::prelude::*;

pub use bins::{bin_matrix, Binned};
pub use rng::Rng;

/// Impurity criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Gini impurity (classification).
    Gini,
    /// Shannon entropy in bits (classification; scikit-learn's entropy/log_loss).
    Entropy,
    /// Mean squared error (regression).
    SquaredError,
}

/// Training targets.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Class indices, row-major `n_rows × n_outputs`, with each output's class count.
    Classes {
        /// Encoded labels.
        y: &'a [u32],
        /// Classes per output.
        n_classes: &'a [usize],
    },
    /// Real values, row-major `n_rows × n_outputs`.
    Values {
        /// Targets.
        y: &'a [f64],
        /// Outputs.
        n_outputs: usize,
    },
}

impl Targets<'_> {
    fn n_outputs(&self) -> usize {
        match self {
            Targets::Classes { n_classes, .. } => n_classes.len(),
            Targets::Values { n_outputs, .. } => *n_outputs,
        }
    }
}

/// Growth parameters of every tree of a forest (scikit-learn's, already
/// resolved to counts by the caller).
#[derive(Debug, Clone)]
pub struct ForestParams {
    /// Impurity criterion.
    pub criterion: Criterion,
    /// Maximum depth (`None`: unbounded).
    pub max_depth: Option<usize>,
    /// Minimum samples to split a node (>= 2).
    pub min_samples_split: usize,
    /// Minimum samples in a leaf (>= 1).
    pub min_samples_leaf: usize,
    /// Minimum fraction of the total weight in a leaf.
    pub min_weight_fraction_leaf: f64,
    /// Features drawn per node (1..=n_features).
    pub max_features: usize,
    /// Maximum leaves (best-first growth when set).
    pub max_leaf_nodes: Option<usize>,
    /// Minimum weighted impurity decrease for a split.
    pub min_impurity_decrease: f64,
    /// Draw a bootstrap sample per tree.
    pub bootstrap: bool,
    /// Draws per bootstrap sample.
    pub n_bootstrap: usize,
    /// Extremely randomised trees: one random threshold per feature.
    pub extra: bool,
    /// At most this many bins per feature (2..=256).
    pub max_bins: usize,
    /// One seed per tree.
    pub seeds: Vec<u64>,
}

/// A fitted forest: scikit-learn's node arrays of all trees, concatenated.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// Features seen at fit.
    pub n_features: usize,
    /// Outputs.
    pub n_outputs: usize,
    /// Largest class count (1 for regression): the last axis of `value`.
    pub max_n_classes: usize,
    /// Node offsets: tree t owns nodes `tree_offsets[t]..tree_offsets[t+1]`.
    pub tree_offsets: Vec<i64>,
    /// Split feature (-2 at leaves).
    pub feature: Vec<i32>,
    /// Split threshold: x <= threshold goes left (-2 at leaves).
    pub threshold: Vec<f64>,
    /// Left child, local to the tree (-1 at leaves).
    pub left: Vec<i32>,
    /// Right child, local to the tree (-1 at leaves).
    pub right: Vec<i32>,
    /// Node impurity.
    pub impurity: Vec<f64>,
    /// Training samples (distinct rows) reaching the node.
    pub n_node_samples: Vec<i64>,
    /// Training weight reaching the node.
    pub weighted_n_node_samples: Vec<f64>,
    /// `n_nodes × n_outputs × max_n_classes`: class fractions or means.
    pub value: Vec<f64>,
}

/// Leaf marker of child arrays (scikit-learn's TREE_LEAF).
pub const TREE_LEAF: i32 = -1;
/// Feature/threshold marker of leaves (scikit-learn's TREE_UNDEFINED).
pub const TREE_UNDEFINED: i32 = -2;

/// A borrowed forest: the arrays prediction reads (zero-copy from numpy or a
/// mapped file). Call [`ForestRef::validate`] before predicting with one.
#[derive(Debug, Clone, Copy)]
pub struct ForestRef<'a> {
    /// Features seen at fit.
    pub n_features: usize,
    /// Outputs.
    pub n_outputs: usize,
    /// Last axis of `value`.
    pub max_n_classes: usize,
    /// Per-tree node offsets.
    pub tree_offsets: &'a [i64],
    /// Split features.
    pub feature: &'a [i32],
    /// Split thresholds.
    pub threshold: &'a [f64],
    /// Left children.
    pub left: &'a [i32],
    /// Right children.
    pub right: &'a [i32],
    /// Node values.
    pub value: &'a [f64],
}

impl Forest {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.tree_offsets.len().saturating_sub(1)
    }

    /// Values per node.
    pub fn value_stride(&self) -> usize {
        self.n_outputs * self.max_n_classes
    }

    /// The borrowed view prediction uses.
    pub fn view(&self) -> ForestRef<'_> {
        ForestRef {
            n_features: self.n_features,
            n_outputs: self.n_outputs,
            max_n_classes: self.max_n_classes,
            tree_offsets: &self.tree_offsets,
            feature: &self.feature,
            threshold: &self.threshold,
            left: &self.left,
            right: &self.right,
            value: &self.value,
        }
    }

    /// [`ForestRef::validate`] plus the lengths of the per-node statistics.
    pub fn validate(&self) -> crate::Result<()> {
        let n_nodes = self.feature.len();
        for (name, len) in [
            ("impurity", self.impurity.len()),
            ("n_node_samples", self.n_node_samples.len()),
            (
                "weighted_n_node_samples",
                self.weighted_n_node_samples.len(),
            ),
        ] {
            if len != n_nodes {
                return Err(Error::InvalidParameter {
                    name: "forest",
                    reason: format!("{name} has {len} entries, expected {n_nodes}"),
                });
            }
        }
        self.view().validate()
    }
}

impl ForestRef<'_> {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.tree_offsets.len().saturating_sub(1)
    }

    /// Values per node.
    pub fn value_stride(&self) -> usize {
        self.n_outputs * self.max_n_classes
    }

    /// Checks every index (children, features, offsets) and every array
    /// length, so traversal can never leave the arrays or loop. Run on every
    /// model that did not come from [`fit_forest`].
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |reason: String| Error::InvalidParameter {
            name: "forest",
            reason,
        };
        let n_nodes = self.feature.len();
        for (name, len) in [
            ("threshold", self.threshold.len()),
            ("left", self.left.len()),
            ("right", self.right.len()),
        ] {
            if len != n_nodes {
                return Err(bad(format!("{name} has {len} entries, expected {n_nodes}")));
            }
        }
        if self.value.len() != n_nodes * self.value_stride() {
            return Err(bad(format!(
                "value has {} entries, expected {}",
                self.value.len(),
                n_nodes * self.value_stride()
            )));
        }
        if self.tree_offsets.is_empty() {
            return Err(bad(
                "tree_offsets is empty; it has one entry more than trees".into(),
            ));
        }
        structure::check_nodes(&structure::NodeIndex {
            n_trees: self.n_trees(),
            n_nodes,
            n_features: self.n_features,
            offset: |t| self.tree_offsets[t],
            feature: |g| self.feature[g],
            left: |g| self.left[g],
            right: |g| self.right[g],
        })
    }
}

/// Grows the forest: one tree per seed, in parallel over trees.
///
/// `sample_weight` is the per-row weight (class weights already applied);
/// bootstrap draws multiply it by the draw counts, as scikit-learn does.
pub fn fit_forest<T: Real>(
    x: MatRef<'_, T>,
    targets: Targets<'_>,
    sample_weight: Option<&[f64]>,
    params: &ForestParams,
) -> crate::Result<(Forest, Vec<f64>)> {
    if let Some(w) = sample_weight {
        if w.len() != x.nrows() {
            return Err(Error::ShapeMismatch {
                what: "sample_weight length".into(),
                expected: x.nrows(),
                got: w.len(),
            });
        }
    }
    let binned = bin_matrix(x, sample_weight, params.max_bins)?;
    fit_forest_binned(&binned, targets, sample_weight, params)
}

/// [`fit_forest`] on already binned data. Also returns the normalised
/// impurity-based feature importances.
pub fn fit_forest_binned(
    binned: &Binned,
    targets: Targets<'_>,
    sample_weight: Option<&[f64]>,
    params: &ForestParams,
) -> crate::Result<(Forest, Vec<f64>)> {
    let n = binned.n_rows;
    let p = binned.edges.len();
    let n_outputs = targets.n_outputs();
    if n_outputs == 0 {
        return Err(Error::EmptyInput { what: "y" });
    }
    match targets {
        Targets::Classes { y, n_classes } => {
            if y.len() != n * n_outputs {
                return Err(Error::ShapeMismatch {
                    what: "encoded y entries".into(),
                    expected: n * n_outputs,
                    got: y.len(),
                });
            }
            for (i, &c) in y.iter().enumerate() {
                if c as usize >= n_classes[i % n_outputs] {
                    return Err(Error::InvalidParameter {
                        name: "y",
                        reason: format!("class index {c} at entry {i} exceeds the class count"),
                    });
                }
            }
            if params.criterion == Criterion::SquaredError {
                return Err(Error::InvalidParameter {
                    name: "criterion",
                    reason: "squared_error is a regression criterion".into(),
                });
            }
        }
        Targets::Values { y, .. } => {
            if y.len() != n * n_outputs {
                return Err(Error::ShapeMismatch {
                    what: "y entries".into(),
                    expected: n * n_outputs,
                    got: y.len(),
                });
            }
            if params.criterion != Criterion::SquaredError {
                return Err(Error::InvalidParameter {
                    name: "criterion",
                    reason: "gini and entropy are classification criteria".into(),
                });
            }
        }
    }
    if let Some(w) = sample_weight {
        if w.len() != n {
            return Err(Error::ShapeMismatch {
                what: "sample_weight length".into(),
                expected: n,
                got: w.len(),
            });
        }
        for (i, &v) in w.iter().enumerate() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidSampleWeight { index: i, value: v });
            }
        }
    }
    if params.max_features == 0 || params.max_features > p {
        return Err(Error::InvalidParameter {
            name: "max_features",
            reason: format!("must be in [1, {p}], got {}", params.max_features),
        });
    }
    if params.seeds.is_empty() {
        return Err(Error::InvalidParameter {
            name: "n_estimators",
            reason: "at least one tree is required".into(),
        });
    }
    let trees: Vec<tree::Tree> = params
        .seeds
        .par_iter()
        .map(|&seed| tree::grow(binned, targets, sample_weight, params, seed))
        .collect();

    let max_n_classes = match targets {
        Targets::Classes { n_classes, .. } => n_classes.iter().copied().max().unwrap_or(1),
        Targets::Values { .. } => 1,
    };
    let mut forest = Forest {
        n_features: p,
        n_outputs,
        max_n_classes,
        tree_offsets: vec![0],
        feature: vec![],
        threshold: vec![],
        left: vec![],
        right: vec![],
        impurity: vec![],
        n_node_samples: vec![],
        weighted_n_node_samples: vec![],
        value: vec![],
    };
    let mut importances = vec![0.0; p];
    for t in &trees {
        forest.feature.extend_from_slice(&t.feature);
        forest.threshold.extend_from_slice(&t.threshold);
        forest.left.extend_from_slice(&t.left);
        forest.right.extend_from_slice(&t.right);
        forest.impurity.extend_from_slice(&t.impurity);
        forest.n_node_samples.extend_from_slice(&t.n_node_samples);
        forest
            .weighted_n_node_samples
            .extend_from_slice(&t.weighted_n_node_samples);
        forest.value.extend_from_slice(&t.value);
        forest.tree_offsets.push(forest.feature.len() as i64);
        let imp = t.feature_importances(p);
        for (a, b) in importances.iter_mut().zip(&imp) {
            *a += b;
        }
    }
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        for a in &mut importances {
            *a /= total;
        }
    }
    Ok((forest, importances))
}

/// One node as traversal reads it (16 bytes, four to a cache line). Leaves
/// point to themselves, so a block of rows can advance in lockstep until none
/// moves. The threshold is the largest float32 not above the float64 one:
/// for a float32 `x`, `x <= t32` exactly when `x <= threshold`.
#[derive(Clone, Copy)]
struct PackedNode {
    threshold: f32,
    feature: u32,
    left: u32,
    right: u32,
}

/// The largest float32 not above `t` (NaN stays NaN: nothing compares below it).
fn f32_at_most(t: f64) -> f32 {
    let r = t as f32;
    if r as f64 <= t || t.is_nan() {
        return r;
    }
    // The float32 just below `r` (`f32::next_down`, newer than the MSRV);
    // `r > t` so `r` is neither NaN nor -inf.
    if r == 0.0 {
        -f32::from_bits(1)
    } else if r > 0.0 {
        f32::from_bits(r.to_bits() - 1)
    } else {
        f32::from_bits(r.to_bits() + 1)
    }
}

/// Packs tree `t` into `buf` (child indices local to the tree).
fn pack_tree(forest: &ForestRef<'_>, t: usize, buf: &mut Vec<PackedNode>) {
    let (a, b) = (
        forest.tree_offsets[t] as usize,
        forest.tree_offsets[t + 1] as usize,
    );
    buf.clear();
    buf.extend((a..b).map(|g| {
        if forest.left[g] == TREE_LEAF {
            let me = (g - a) as u32;
            PackedNode {
                threshold: f32::INFINITY,
                feature: 0,
                left: me,
                right: me,
            }
        } else {
            // `validate` guarantees feature < n_features and children in range.
            PackedNode {
                threshold: f32_at_most(forest.threshold[g]),
                feature: forest.feature[g] as u32,
                left: forest.left[g] as u32,
                right: forest.right[g] as u32,
            }
        }
    }));
}

/// A validated forest's nodes packed for traversal once: repeated
/// predictions then skip validating and packing every node (for large
/// forests that is most of a small batch's time).
pub struct PackedForest {
    nodes: Vec<PackedNode>,
    /// Start of each tree in `nodes`, then the node count.
    offsets: Vec<usize>,
    n_features: usize,
}

impl PackedForest {
    /// Validates `forest` and packs all its trees.
    pub fn new(forest: &ForestRef<'_>) -> crate::Result<PackedForest> {
        forest.validate()?;
        Ok(Self::pack(forest))
    }

    /// Packs all the trees of `forest`, which must be valid
    /// ([`ForestRef::validate`]).
    fn pack(forest: &ForestRef<'_>) -> PackedForest {
        let trees: Vec<Vec<PackedNode>> = (0..forest.n_trees())
            .into_par_iter()
            .map(|t| {
                let mut buf = Vec::new();
                pack_tree(forest, t, &mut buf);
                buf
            })
            .collect();
        let mut nodes = Vec::with_capacity(forest.feature.len());
        let mut offsets = Vec::with_capacity(trees.len() + 1);
        offsets.push(0);
        for t in trees {
            nodes.extend_from_slice(&t);
            offsets.push(nodes.len());
        }
        PackedForest {
            nodes,
            offsets,
            n_features: forest.n_features,
        }
    }

    /// Fails unless `forest` has the trees this was packed from (same tree
    /// sizes and features; values of the expected size), so leaf values are
    /// read in range.
    fn check(&self, forest: &ForestRef<'_>) -> crate::Result<()> {
        let same_trees = forest.tree_offsets.len() == self.offsets.len()
            && forest
                .tree_offsets
                .iter()
                .zip(&self.offsets)
                .all(|(&a, &b)| a >= 0 && a as usize == b);
        let n_nodes = self.nodes.len();
        if !same_trees
            || forest.n_features != self.n_features
            || forest.value.len() != n_nodes * forest.value_stride()
        {
            return Err(Error::InvalidParameter {
                name: "forest",
                reason: "its arrays changed since it was packed for prediction; pack it again"
                    .into(),
            });
        }
        Ok(())
    }

    fn tree(&self, t: usize) -> &[PackedNode] {
        &self.nodes[self.offsets[t]..self.offsets[t + 1]]
    }
}

/// Rows traversed per block: bounds the per-tree results held at once
/// (`rows × trees × values` entries, reused from block to block) to about
/// 64 MB. Each tree goes through all the block's rows at once, so its nodes
/// are fetched into cache once per block rather than once per row.
fn block_rows(n_trees: usize, stride: usize) -> usize {
    ((8usize << 20) / (n_trees * stride).max(1)).clamp(1024, 1 << 16)
}

/// Rows traversed together: independent chains of loads hide each other's
/// cache misses. A lane that reaches its leaf takes the next row at once, so
/// all lanes stay busy whatever the leaves' depths.
const LANES: usize = 16;

/// The leaf (local index) reached from `node` by `row`.
#[inline]
fn walk(tree: &[PackedNode], mut node: usize, row: &[f32]) -> u32 {
    loop {
        let nd = tree[node];
        let next = if row[nd.feature as usize] <= nd.threshold {
            nd.left
        } else {
            nd.right
        } as usize;
        if next == node {
            return node as u32;
        }
        node = next;
    }
}

/// Leaf (local index) of each of the `n` rows of `rows` (row-major float32,
/// `p` per row, `p >= 1`) in `tree`.
fn leaves(tree: &[PackedNode], rows: &[f32], p: usize, out: &mut [u32]) {
    let n = out.len();
    if n < LANES {
        for (i, o) in out.iter_mut().enumerate() {
            *o = walk(tree, 0, &rows[i * p..(i + 1) * p]);
        }
        return;
    }
    let mut node = [0u32; LANES];
    let mut row: [usize; LANES] = std::array::from_fn(|g| g);
    let mut at: [usize; LANES] = std::array::from_fn(|g| g * p);
    let mut next_row = LANES;
    // Lanes left without rows keep stepping on their leaf (it points to
    // itself) while the others finish theirs.
    let mut idle = 0u32;
    loop {
        for g in 0..LANES {
            let nd = tree[node[g] as usize];
            let x = rows[at[g] + nd.feature as usize];
            let nx = if x <= nd.threshold { nd.left } else { nd.right };
            if nx != node[g] {
                node[g] = nx;
                continue;
            }
            out[row[g]] = nx;
            if next_row < n {
                row[g] = next_row;
                at[g] = next_row * p;
                node[g] = 0;
                next_row += 1;
            } else if idle & (1 << g) == 0 {
                idle |= 1 << g;
                if idle.count_ones() as usize == LANES {
                    return;
                }
            }
        }
    }
}

/// Copies the rows `r` of `x` into `buf` as the trees compare them
/// (float32), row-major, in parallel over fixed chunks of rows.
fn fill_rows<T: Real>(x: MatRef<'_, T>, r: std::ops::Range<usize>, buf: &mut Vec<f32>) {
    let p = x.ncols();
    buf.resize(r.len() * p, 0.0);
    buf.par_chunks_mut(FILL_CHUNK * p)
        .enumerate()
        .for_each(|(c, out)| {
            let i0 = r.start + c * FILL_CHUNK;
            for (li, row) in out.chunks_exact_mut(p).enumerate() {
                let i = i0 + li;
                match x.row(i).try_as_row_major() {
                    Some(src) => {
                        for (v, s) in row.iter_mut().zip(src.as_slice()) {
                            *v = s.to_f64() as f32;
                        }
                    }
                    None => {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = x[(i, j)].to_f64() as f32;
                        }
                    }
                }
            }
        });
}

/// Rows per parallel chunk when converting rows and combining the trees.
const FILL_CHUNK: usize = 256;

/// Runs every tree of `packed` over the rows of `x` (`p >= 1` features),
/// block by block of `bs` rows. Within a block the trees run in parallel
/// (and row ranges of a tree too when there are fewer trees than threads to
/// keep busy: results never depend on that split); `per_tree(t, leaves,
/// part)` turns tree `t`'s leaves (local indices) of some of the block's
/// rows into `width` entries per row of `part`. Then `combine(rows, parts)`
/// gets the block's row range and the parts: tree `t`'s entries for the
/// block's row `i` are `parts[(t * bs + i) * width..][..width]`.
///
/// The parts and the rows are buffers reused from block to block.
fn traverse_blocks<T: Real, E: Copy + Default + Send + Sync>(
    packed: &PackedForest,
    x: MatRef<'_, T>,
    width: usize,
    bs: usize,
    per_tree: impl Fn(usize, &[u32], &mut [E]) + Sync,
    mut combine: impl FnMut(std::ops::Range<usize>, &[E]),
) {
    let (n, p) = (x.nrows(), x.ncols());
    let nt = packed.offsets.len() - 1;
    let mut rows = Vec::new();
    let mut parts = vec![E::default(); nt * bs * width];
    for start in (0..n).step_by(bs) {
        let r = start..(start + bs).min(n);
        let m = r.len();
        fill_rows(x, r.clone(), &mut rows);
        let split = (4 * rayon::current_num_threads())
            .div_ceil(nt)
            .min(m.div_ceil(1024))
            .max(1);
        let len = m.div_ceil(split);
        let rows = &rows[..];
        parts
            .par_chunks_mut(bs * width)
            .enumerate()
            .for_each(|(t, part)| {
                let tree = packed.tree(t);
                part[..m * width]
                    .par_chunks_mut(len * width)
                    .enumerate()
                    .for_each_init(Vec::new, |leaf: &mut Vec<u32>, (s, o)| {
                        let a = s * len;
                        leaf.resize(o.len() / width, 0);
                        leaves(tree, &rows[a * p..(a + leaf.len()) * p], p, leaf);
                        per_tree(t, leaf, o);
                    });
            });
        combine(r, &parts);
    }
}

/// Writes to each row of `out` (`K` entries per row) the values of its leaf
/// `leaf` (local to the tree whose first node is `base`).
#[inline(always)]
fn leaf_values<const K: usize>(value: &[f64], base: usize, leaf: &[u32], out: &mut [f64]) {
    for (o, &l) in out.chunks_exact_mut(K).zip(leaf) {
        let g = (base + l as usize) * K;
        o.copy_from_slice(&value[g..g + K]);
    }
}

fn check_x<T: Real>(forest: &ForestRef<'_>, x: MatRef<'_, T>) -> crate::Result<()> {
    if x.ncols() != forest.n_features {
        return Err(Error::ShapeMismatch {
            what: "X features (the forest was fitted with a different number)".into(),
            expected: forest.n_features,
            got: x.ncols(),
        });
    }
    Ok(())
}

/// What every traversal checks first: X's shape, that the forest has trees
/// and, when given, that `packed` was built from these arrays.
fn check_traversal<T: Real>(
    forest: &ForestRef<'_>,
    packed: Option<&PackedForest>,
    x: MatRef<'_, T>,
) -> crate::Result<()> {
    check_x(forest, x)?;
    if let Some(pk) = packed {
        pk.check(forest)?;
    }
    if forest.n_trees() == 0 {
        return Err(Error::InvalidParameter {
            name: "forest",
            reason: "the forest has no trees".into(),
        });
    }
    Ok(())
}

/// Mean over trees of the leaf values, row-major `n_rows × n_outputs ×
/// max_n_classes`: class probabilities or regression predictions. Trees are
/// summed in tree order, so the result is bit-identical for any thread count.
pub fn predict_forest<T: Real>(
    forest: &ForestRef<'_>,
    x: MatRef<'_, T>,
) -> crate::Result<Vec<f64>> {
    predict_forest_with(forest, None, x)
}

/// [`predict_forest`] with the trees of `packed` (built from `forest` by
/// [`PackedForest::new`]), or packed on the fly when `None`.
pub fn predict_forest_with<T: Real>(
    forest: &ForestRef<'_>,
    packed: Option<&PackedForest>,
    x: MatRef<'_, T>,
) -> crate::Result<Vec<f64>> {
    check_traversal(forest, packed, x)?;
    let (n, p) = (x.nrows(), x.ncols());
    let k = forest.value_stride();
    let nt = forest.n_trees();
    let inv = 1.0 / nt as f64;
    if k == 0 {
        return Ok(Vec::new());
    }
    if p == 0 {
        // No splits can exist: every tree is its root leaf.
        let mut out = vec![0.0; n * k];
        for t in 0..nt {
            let root = forest.tree_offsets[t] as usize;
            for row in out.chunks_exact_mut(k) {
                for (o, &a) in row.iter_mut().zip(&forest.value[root * k..(root + 1) * k]) {
                    *o += a;
                }
            }
        }
        out.iter_mut().for_each(|o| *o *= inv);
        return Ok(out);
    }
    let owned;
    let packed = match packed {
        Some(pk) => pk,
        None => {
            owned = PackedForest::pack(forest);
            &owned
        }
    };
    Ok(predict_blocks(forest, packed, x, block_rows(nt, k)))
}

/// The traversal of [`predict_forest_with`] (checked input, `p >= 1`,
/// `k >= 1`) in blocks of `bs` rows.
fn predict_blocks<T: Real>(
    forest: &ForestRef<'_>,
    packed: &PackedForest,
    x: MatRef<'_, T>,
    bs: usize,
) -> Vec<f64> {
    let n = x.nrows();
    let k = forest.value_stride();
    let nt = forest.n_trees();
    let inv = 1.0 / nt as f64;
    let mut out = vec![0.0; n * k];
    let bs = bs.min(n).max(1);
    let value = forest.value;
    traverse_blocks(
        packed,
        x,
        k,
        bs,
        // Each tree's leaf values for the block, read while the tree's
        // nodes are in cache.
        |t, leaf, o| {
            let base = forest.tree_offsets[t] as usize;
            match k {
                1 => leaf_values::<1>(value, base, leaf, o),
                2 => leaf_values::<2>(value, base, leaf, o),
                3 => leaf_values::<3>(value, base, leaf, o),
                4 => leaf_values::<4>(value, base, leaf, o),
                _ => {
                    for (o, &l) in o.chunks_exact_mut(k).zip(leaf) {
                        let g = (base + l as usize) * k;
                        o.copy_from_slice(&value[g..g + k]);
                    }
                }
            }
        },
        // Each row sums its trees in tree order, from 0, then scales by
        // 1/n_trees: the same bits for any thread count.
        |r, vals| {
            out[r.start * k..r.end * k]
                .par_chunks_mut(FILL_CHUNK * k)
                .enumerate()
                .for_each(|(c, o)| {
                    let (off, len) = (c * FILL_CHUNK * k, o.len());
                    for t in 0..nt {
                        let v = &vals[t * bs * k + off..][..len];
                        for (o, &a) in o.iter_mut().zip(v) {
                            *o += a;
                        }
                    }
                    for o in o.iter_mut() {
                        *o *= inv;
                    }
                });
        },
    );
    out
}

/// Leaf index (local to each tree) per row and tree, row-major `n_rows × n_trees`.
pub fn apply_forest<T: Real>(forest: &ForestRef<'_>, x: MatRef<'_, T>) -> crate::Result<Vec<i64>> {
    apply_forest_with(forest, None, x)
}

/// [`apply_forest`] with the trees of `packed` (see [`predict_forest_with`]).
pub fn apply_forest_with<T: Real>(
    forest: &ForestRef<'_>,
    packed: Option<&PackedForest>,
    x: MatRef<'_, T>,
) -> crate::Result<Vec<i64>> {
    check_traversal(forest, packed, x)?;
    let (n, p) = (x.nrows(), x.ncols());
    let nt = forest.n_trees();
    if p == 0 {
        return Ok(vec![0; n * nt]);
    }
    let owned;
    let packed = match packed {
        Some(pk) => pk,
        None => {
            owned = PackedForest::pack(forest);
            &owned
        }
    };
    Ok(apply_blocks(packed, x, block_rows(nt, 1)))
}

/// The traversal of [`apply_forest_with`] (checked input, `p >= 1`) in
/// blocks of `bs` rows.
fn apply_blocks<T: Real>(packed: &PackedForest, x: MatRef<'_, T>, bs: usize) -> Vec<i64> {
    let n = x.nrows();
    let nt = packed.offsets.len() - 1;
    let mut out = vec![0i64; n * nt];
    let bs = bs.min(n).max(1);
    traverse_blocks(
        packed,
        x,
        1,
        bs,
        |_, leaf, o| o.copy_from_slice(leaf),
        |r, per_tree: &[u32]| {
            out[r.start * nt..r.end * nt]
                .par_chunks_mut(FILL_CHUNK * nt)
                .enumerate()
                .for_each(|(c, o)| {
                    for t in 0..nt {
                        let lv = &per_tree[t * bs + c * FILL_CHUNK..];
                        for (o, &l) in o.chunks_exact_mut(nt).zip(lv) {
                            o[t] = l as i64;
                        }
                    }
                });
        },
    );
    out
}

#[cfg(test)]
mod tests;
