//! Structural checks of flat forest arrays, shared by [`super::ForestRef::validate`]
//! and the model-file reader (`oxlearn-format`), which reads the same arrays
//! from untrusted bytes. Traversal relies on them: every child index is in
//! its tree and after its parent (so a walk always ends), every split feature
//! is a column of X.

use super::TREE_LEAF;
use crate::error::Error;
use rayon::prelude::*;

/// Node arrays as indexable accessors, so that callers holding typed slices
/// and callers holding little-endian bytes share one check.
pub struct NodeIndex<O, F, L, R>
where
    O: Fn(usize) -> i64,
    F: Fn(usize) -> i32,
    L: Fn(usize) -> i32,
    R: Fn(usize) -> i32,
{
    /// Number of trees (`tree_offsets` has one more entry).
    pub n_trees: usize,
    /// Number of nodes (the length of `feature`, `left`, `right`).
    pub n_nodes: usize,
    /// Features of X.
    pub n_features: usize,
    /// `tree_offsets[t]`.
    pub offset: O,
    /// `feature[g]`.
    pub feature: F,
    /// `children_left[g]` (local to the node's tree).
    pub left: L,
    /// `children_right[g]` (local to the node's tree).
    pub right: R,
}

fn bad(reason: String) -> Error {
    Error::InvalidParameter {
        name: "forest",
        reason,
    }
}

/// Checks per-tree offsets (from 0 to `n_nodes`, every tree non-empty),
/// children (both -1 at a leaf, else in `(node, tree size)`) and split
/// features (`< n_features`). Reads every node once.
pub fn check_nodes<O, F, L, R>(ix: &NodeIndex<O, F, L, R>) -> crate::Result<()>
where
    O: Fn(usize) -> i64 + Sync,
    F: Fn(usize) -> i32 + Sync,
    L: Fn(usize) -> i32 + Sync,
    R: Fn(usize) -> i32 + Sync,
{
    let n_nodes = ix.n_nodes;
    if (ix.offset)(0) != 0 || (ix.offset)(ix.n_trees) != n_nodes as i64 {
        return Err(bad(format!(
            "tree_offsets must start at 0 and end at {n_nodes} (the node count), got {} and {}",
            (ix.offset)(0),
            (ix.offset)(ix.n_trees)
        )));
    }
    for t in 0..ix.n_trees {
        let (a, b) = ((ix.offset)(t), (ix.offset)(t + 1));
        if b <= a || a < 0 || b > n_nodes as i64 {
            return Err(bad(format!(
                "tree {t} has offsets {a}..{b}; offsets must increase within 0..={n_nodes}"
            )));
        }
    }
    // Trees in parallel (this runs before every predict); the error
    // reported is the first tree's, whatever the thread count.
    let errors: Vec<Option<String>> = (0..ix.n_trees)
        .into_par_iter()
        .map(|t| check_tree(ix, t))
        .collect();
    match errors.into_iter().flatten().next() {
        Some(reason) => Err(bad(reason)),
        None => Ok(()),
    }
}

/// What is wrong with tree `t`'s nodes, if anything (offsets already checked).
fn check_tree<O, F, L, R>(ix: &NodeIndex<O, F, L, R>, t: usize) -> Option<String>
where
    O: Fn(usize) -> i64,
    F: Fn(usize) -> i32,
    L: Fn(usize) -> i32,
    R: Fn(usize) -> i32,
{
    let a = (ix.offset)(t) as usize;
    let size = (ix.offset)(t + 1) as usize - a;
    for local in 0..size {
        let g = a + local;
        let (l, r) = ((ix.left)(g), (ix.right)(g));
        if l == TREE_LEAF && r == TREE_LEAF {
            continue;
        }
        // Children strictly after their parent: traversal always ends.
        let ok = |c: i32| c > local as i32 && (c as usize) < size;
        if !ok(l) || !ok(r) {
            return Some(format!(
                "tree {t} node {local}: children ({l}, {r}) must both be -1 (a leaf) or \
                 in ({local}, {size})"
            ));
        }
        let f = (ix.feature)(g);
        if f < 0 || f as usize >= ix.n_features {
            return Some(format!(
                "tree {t} node {local}: feature {f} is not in [0, {})",
                ix.n_features
            ));
        }
    }
    None
}
