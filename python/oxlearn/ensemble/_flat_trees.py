"""The flat forest arrays and scikit-learn's trees, each way.

The persisted (and Rust-served) forest is scikit-learn's node arrays of every
tree, concatenated, with per-tree offsets (oxlearn-format's ensemble schema);
``estimators_`` are real scikit-learn ``DecisionTree*`` objects built from
them on demand. Conversions only: no fitting here.
"""

from numbers import Integral

import numpy as np

from oxlearn._sklearn_private import NODE_DTYPE, Tree

_MAX_INT = np.iinfo(np.int32).max
# Per-node arrays of the flat forest, in schema order.
_NODE_ARRAYS = ("feature", "threshold", "children_left", "children_right", "impurity",
                "n_node_samples", "weighted_n_node_samples", "value")


def flatten_trees(trees):
    """The flat forest arrays of fitted scikit-learn trees (as a forest of them)."""
    tr = [t.tree_ for t in trees]
    counts = np.array([t.node_count for t in tr], dtype=np.int64)
    if counts.sum() >= _MAX_INT:
        raise ValueError(f"the forest has {counts.sum()} nodes; at most {_MAX_INT - 1} are "
                         "supported")
    forest = {"tree_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}
    for name, attr, dtype in (("feature", "feature", np.int32),
                              ("threshold", "threshold", np.float64),
                              ("children_left", "children_left", np.int32),
                              ("children_right", "children_right", np.int32),
                              ("impurity", "impurity", np.float64),
                              ("n_node_samples", "n_node_samples", np.int64),
                              ("weighted_n_node_samples", "weighted_n_node_samples",
                               np.float64)):
        forest[name] = np.concatenate([getattr(t, attr) for t in tr]).astype(dtype)
    forest["value"] = np.ascontiguousarray(np.concatenate([t.value for t in tr]),
                                           dtype=np.float64)
    missing = np.concatenate([t.missing_go_to_left for t in tr]).astype(np.uint8)
    if missing.any():  # only trees grown with missing values need it
        forest["missing_go_to_left"] = missing
    forest["_seeds"] = np.array(
        [t.random_state if isinstance(t.random_state, Integral) else 0 for t in trees],
        dtype=np.int64)
    # scikit-learn's BaseForest.feature_importances_, on these trees.
    imps = [t.feature_importances_ for t in trees if t.tree_.node_count > 1]
    if imps:
        imp = np.mean(imps, axis=0, dtype=np.float64)
        imp = imp / np.sum(imp)
    else:
        imp = np.zeros(trees[0].n_features_in_, dtype=np.float64)
    forest["_feature_importances"] = imp
    return forest


def forest_importances(f, n_features):
    """Return scikit-learn's forest feature importances from the flat arrays.

    Each tree's impurity decreases, normalised, summed over trees, normalised.
    """
    off = f["tree_offsets"]
    n_trees = off.shape[0] - 1
    tree_of = np.repeat(np.arange(n_trees), np.diff(off))
    g = np.flatnonzero(f["children_left"] >= 0)
    base = off[tree_of[g]]
    w, imp = f["weighted_n_node_samples"], f["impurity"]
    left, right = base + f["children_left"][g], base + f["children_right"][g]
    dec = w[g] * imp[g] - w[left] * imp[left] - w[right] * imp[right]
    per_tree = np.zeros((n_trees, n_features))
    np.add.at(per_tree, (tree_of[g], f["feature"][g]), dec)
    totals = per_tree.sum(axis=1, keepdims=True)
    per_tree = np.divide(per_tree, totals, out=np.zeros_like(per_tree), where=totals > 0)
    out = per_tree.sum(axis=0)
    total = out.sum()
    return out / total if total > 0 else out


def concat_forests(a, b, n_features):
    """The trees of ``a`` then those of ``b`` (a warm start adds trees)."""
    out = {"tree_offsets": np.concatenate(
        [a["tree_offsets"], b["tree_offsets"][1:] + a["tree_offsets"][-1]])}
    for key in (*_NODE_ARRAYS, "_seeds"):
        out[key] = np.concatenate([a[key], b[key]])
    out["_feature_importances"] = forest_importances(out, n_features)
    return out


def tree_depth(left, right):
    """Depth of a tree whose children always follow their parent."""
    depth = np.zeros(left.shape[0], dtype=np.int64)
    for i in range(left.shape[0]):
        if left[i] >= 0:
            depth[left[i]] = depth[right[i]] = depth[i] + 1
    return int(depth.max())


def sklearn_tree(f, t, n_features, n_classes):
    """Tree ``t`` of flat forest ``f`` as a scikit-learn ``Tree``.

    The caller has verified ``f`` (child and feature indices in range):
    scikit-learn's trees trust their indices.
    """
    value = f["value"]
    n_outputs, max_nc = value.shape[1], value.shape[2]
    off = f["tree_offsets"]
    a, b = int(off[t]), int(off[t + 1])
    nodes = np.zeros(b - a, dtype=NODE_DTYPE)
    nodes["left_child"] = f["children_left"][a:b]
    nodes["right_child"] = f["children_right"][a:b]
    nodes["feature"] = f["feature"][a:b]
    nodes["threshold"] = f["threshold"][a:b]
    nodes["impurity"] = f["impurity"][a:b]
    nodes["n_node_samples"] = f["n_node_samples"][a:b]
    nodes["weighted_n_node_samples"] = f["weighted_n_node_samples"][a:b]
    if "missing_go_to_left" in f:
        nodes["missing_go_to_left"] = f["missing_go_to_left"][a:b]
    else:
        # As scikit-learn's trees grown without missing values: a
        # missing value goes to the child with more samples.
        split = nodes["left_child"] >= 0
        counts = nodes["n_node_samples"]
        nodes["missing_go_to_left"][split] = (
            counts[nodes["left_child"][split]] > counts[nodes["right_child"][split]])
    tree = Tree(n_features, n_classes, n_outputs)
    tree.__setstate__({
        "max_depth": tree_depth(nodes["left_child"], nodes["right_child"]),
        "node_count": b - a,
        "nodes": nodes,
        "values": np.ascontiguousarray(value[a:b]).reshape(b - a, n_outputs, max_nc),
    })
    return tree
