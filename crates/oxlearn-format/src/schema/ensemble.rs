//! Schemas of the tree ensembles (random forests, extra trees).
//!
//! A forest is scikit-learn's node arrays of all its trees, concatenated,
//! with per-tree offsets (`tree_offsets[t]..tree_offsets[t+1]` are tree
//! `t`'s nodes; child indices are local to the tree, -1 at leaves):
//! `feature` and `children_left`/`children_right` (int32), `threshold`,
//! `impurity`, `weighted_n_node_samples` (float64), `n_node_samples`
//! (int64), `value` (float64, nodes × outputs × largest class count), and
//! for trees grown by scikit-learn on data with missing values
//! `missing_go_to_left` (uint8). `_seeds` holds each tree's `random_state`,
//! `_feature_importances` the normalised importances; the attribute
//! `_grown_by` says whose bootstrap drew the trees (`oxlearn` or `sklearn`:
//! out-of-bag rows and warm starts follow it). The trees themselves
//! (`estimators_`) are rebuilt from these arrays, never stored.
//!
//! Every child and feature index is checked by `oxlearn-core`'s own forest
//! check before any traversal: a forged file cannot make prediction leave
//! the arrays or loop. That walk reads every node, so a lazily verified
//! (memory-mapped) load defers it, with the array checksums, to first use.

use super::cluster::ints;
use super::{family_schema, float_dtype, opt, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};
use crate::labels::Labels;
use oxlearn_core::ensemble::structure::{check_nodes, NodeIndex};
use serde_json::Value;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[
    &RANDOM_FOREST_CLASSIFIER,
    &RANDOM_FOREST_REGRESSOR,
    &EXTRA_TREES_CLASSIFIER,
    &EXTRA_TREES_REGRESSOR,
];

const ARRAYS: &[super::ArraySpec] = &[
    req("tree_offsets"),
    req("feature"),
    req("threshold"),
    req("children_left"),
    req("children_right"),
    req("impurity"),
    req("n_node_samples"),
    req("weighted_n_node_samples"),
    req("value"),
    req("_seeds"),
    req("_feature_importances"),
    opt("missing_go_to_left"),
    opt("classes_"),
    opt("oob_decision_function_"),
    opt("oob_prediction_"),
];

const ATTRS: &[&str] = &[
    "n_outputs_",
    "n_classes_",
    "classes_",
    "_classes_per_output",
    "_n_samples",
    "_n_samples_bootstrap",
    "oob_score_",
    "_grown_by",
];

family_schema!(
    RANDOM_FOREST_CLASSIFIER,
    "ensemble.RandomForestClassifier",
    "`sklearn.ensemble.RandomForestClassifier`.",
    validate_forest,
    Serving::Forest
);
family_schema!(
    RANDOM_FOREST_REGRESSOR,
    "ensemble.RandomForestRegressor",
    "`sklearn.ensemble.RandomForestRegressor`.",
    validate_forest,
    Serving::Forest
);
family_schema!(
    EXTRA_TREES_CLASSIFIER,
    "ensemble.ExtraTreesClassifier",
    "`sklearn.ensemble.ExtraTreesClassifier`.",
    validate_forest,
    Serving::Forest
);
family_schema!(
    EXTRA_TREES_REGRESSOR,
    "ensemble.ExtraTreesRegressor",
    "`sklearn.ensemble.ExtraTreesRegressor`.",
    validate_forest,
    Serving::Forest
);

/// Element `i` of a little-endian array (`None` past its end).
fn i32_at(a: &ArrayView<'_>, i: usize) -> Option<i32> {
    let b = a.data.get(4 * i..4 * i + 4)?;
    Some(i32::from_le_bytes(b.try_into().ok()?))
}

fn i64_at(a: &ArrayView<'_>, i: usize) -> Option<i64> {
    let b = a.data.get(8 * i..8 * i + 8)?;
    Some(i64::from_le_bytes(b.try_into().ok()?))
}

fn attr_u64(h: &Header, name: &str) -> Option<u64> {
    h.attrs.get(name).and_then(Value::as_u64)
}

fn field(name: &str, reason: String) -> FormatError {
    FormatError::InvalidField {
        field: format!("attrs.{name}"),
        reason,
    }
}

fn validate_forest(h: &Header, a: &Arrays<'_>) -> Result<()> {
    validate_forest_with(h, a, a.deep())
}

/// The checks of one forest; `deep` adds the walk over every node.
fn validate_forest_with(h: &Header, a: &Arrays<'_>, deep: bool) -> Result<()> {
    let dt = float_dtype(h)?;
    if dt != DType::Float64 {
        return Err(FormatError::InvalidField {
            field: "dtype".into(),
            reason: format!(
                "{}; a forest's thresholds and values are float64",
                dt.name()
            ),
        });
    }
    let p = h.n_features_in.unwrap_or(0);
    let n_nodes = a.check("feature", DType::Int32, &[None])?.shape[0];
    if n_nodes == 0 {
        return Err(a.invalid("feature", "is empty; a fitted forest has nodes".into()));
    }
    let n = Some(n_nodes);
    a.check("threshold", DType::Float64, &[n])?;
    a.check("children_left", DType::Int32, &[n])?;
    a.check("children_right", DType::Int32, &[n])?;
    a.check("impurity", DType::Float64, &[n])?;
    a.check("n_node_samples", DType::Int64, &[n])?;
    a.check("weighted_n_node_samples", DType::Float64, &[n])?;
    if a.get("missing_go_to_left").is_some() {
        a.check("missing_go_to_left", DType::Uint8, &[n])?;
    }
    let value = a.check("value", DType::Float64, &[n, None, None])?;
    let (n_outputs, max_nc) = (value.shape[1], value.shape[2]);
    if n_outputs == 0 || max_nc == 0 {
        return Err(a.invalid(
            "value",
            format!(
                "shape is {:?}; outputs and classes must be >= 1",
                value.shape
            ),
        ));
    }
    let offsets = a.check("tree_offsets", DType::Int64, &[None])?;
    let n_trees = offsets.shape[0].saturating_sub(1);
    if n_trees == 0 {
        return Err(a.invalid(
            "tree_offsets",
            "needs at least 2 entries (one more than the trees)".into(),
        ));
    }
    a.check("_seeds", DType::Int64, &[Some(n_trees)])?;
    a.check("_feature_importances", DType::Float64, &[Some(p)])?;
    match attr_u64(h, "n_outputs_") {
        Some(v) if v == n_outputs => {}
        other => {
            return Err(field(
                "n_outputs_",
                format!("{other:?}; must equal the {n_outputs} outputs of value"),
            ))
        }
    }
    let n_samples = match attr_u64(h, "_n_samples") {
        Some(v) if v >= 1 => v,
        other => {
            return Err(field(
                "_n_samples",
                format!("{other:?}; must be the (positive) number of training samples"),
            ))
        }
    };
    match h.attrs.get("_n_samples_bootstrap") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|b| b >= 1) => {}
        Some(v) => {
            return Err(field(
                "_n_samples_bootstrap",
                format!("{v}; must be null or a positive integer"),
            ))
        }
    }
    match h.attrs.get("_grown_by").map(Value::as_str) {
        None | Some(Some("oxlearn" | "sklearn")) => {}
        Some(_) => {
            return Err(field(
                "_grown_by",
                format!(
                    "{}; must be \"oxlearn\" or \"sklearn\" (whose bootstrap drew the trees)",
                    h.attrs["_grown_by"]
                ),
            ))
        }
    }
    if let Some(v) = h.attrs.get("oob_score_") {
        if !v.is_number() {
            return Err(field("oob_score_", format!("{v}; must be a number")));
        }
    }
    if h.kind.ends_with("Classifier") {
        validate_classes(h, a, n_outputs, max_nc)?;
        if let Some(oob) = a.get("oob_decision_function_") {
            let ok = oob.dtype == DType::Float64
                && (oob.shape.len() == 2 || oob.shape.len() == 3)
                && oob.shape[0] == n_samples;
            if !ok {
                return Err(a.invalid(
                    "oob_decision_function_",
                    format!(
                        "{} {:?}; expected float64 ({n_samples}, n_classes[, n_outputs])",
                        oob.dtype.name(),
                        oob.shape
                    ),
                ));
            }
        }
    } else {
        if max_nc != 1 {
            return Err(a.invalid(
                "value",
                format!("shape is {:?}; a regressor's last axis is 1", value.shape),
            ));
        }
        for name in ["classes_", "n_classes_", "_classes_per_output"] {
            if a.get(name).is_some() || h.attrs.contains_key(name) {
                return Err(field(name, "a regressor has no classes".into()));
            }
        }
        if a.get("oob_prediction_").is_some() {
            let shape: &[Option<u64>] = if n_outputs == 1 {
                &[Some(n_samples)]
            } else {
                &[Some(n_samples), Some(n_outputs)]
            };
            a.check("oob_prediction_", DType::Float64, shape)?;
        }
    }
    if deep {
        let (feature, left, right) = (
            a.require("feature")?,
            a.require("children_left")?,
            a.require("children_right")?,
        );
        // Out-of-range reads (impossible after the shape checks) read as
        // invalid indices, which the check refuses.
        check_nodes(&NodeIndex {
            n_trees: n_trees as usize,
            n_nodes: n_nodes as usize,
            n_features: p as usize,
            offset: |t| i64_at(offsets, t).unwrap_or(-1),
            feature: |g| i32_at(feature, g).unwrap_or(-1),
            left: |g| i32_at(left, g).unwrap_or(-3),
            right: |g| i32_at(right, g).unwrap_or(-3),
        })
        .map_err(|e| FormatError::InvalidArray {
            kind: h.kind.clone(),
            name: "tree nodes".into(),
            reason: e.to_string(),
        })?;
        let counts = ints(a, "n_node_samples")?;
        if let Some(bad) = counts.iter().find(|&&c| c < 0) {
            return Err(a.invalid("n_node_samples", format!("holds {bad}; counts are >= 0")));
        }
    }
    Ok(())
}

/// Class labels: `classes_` (array or attribute) for one output, a list of
/// label objects `_classes_per_output` for several; `n_classes_` agrees,
/// and the largest count is `value`'s last axis.
fn validate_classes(h: &Header, a: &Arrays<'_>, n_outputs: u64, max_nc: u64) -> Result<()> {
    let counts: Vec<u64> = if n_outputs == 1 {
        let labels = Labels::read(h, a.views(), "classes_")?;
        match attr_u64(h, "n_classes_") {
            Some(k) if k == labels.len() as u64 => vec![k],
            other => {
                return Err(field(
                    "n_classes_",
                    format!(
                        "{other:?}; must equal the {} labels of classes_",
                        labels.len()
                    ),
                ))
            }
        }
    } else {
        if a.get("classes_").is_some() || h.attrs.contains_key("classes_") {
            return Err(field(
                "classes_",
                "several outputs keep their labels in _classes_per_output".into(),
            ));
        }
        let per = h
            .attrs
            .get("_classes_per_output")
            .and_then(Value::as_array)
            .filter(|l| l.len() as u64 == n_outputs)
            .ok_or_else(|| {
                field(
                    "_classes_per_output",
                    format!("missing or not a list of {n_outputs} label arrays"),
                )
            })?;
        let n_classes = h
            .attrs
            .get("n_classes_")
            .and_then(Value::as_array)
            .filter(|l| l.len() as u64 == n_outputs)
            .ok_or_else(|| {
                field(
                    "n_classes_",
                    format!("must be a list of {n_outputs} counts"),
                )
            })?;
        let mut counts = Vec::with_capacity(per.len());
        for (k, (labels, count)) in per.iter().zip(n_classes).enumerate() {
            let labels = Labels::from_json(labels)
                .map_err(|e| field("_classes_per_output", format!("output {k}: {e}")))?;
            if count.as_u64() != Some(labels.len() as u64) {
                return Err(field(
                    "n_classes_",
                    format!("output {k}: {count} for {} labels", labels.len()),
                ));
            }
            counts.push(labels.len() as u64);
        }
        counts
    };
    let largest = counts.iter().copied().max().unwrap_or(0);
    if counts.contains(&0) || largest != max_nc {
        return Err(field(
            "n_classes_",
            format!("{counts:?}; each output has classes and the largest count equals value's last axis ({max_nc})"),
        ));
    }
    Ok(())
}
