//! Schemas of the nearest-neighbour estimators. The training data is the
//! model and is stored once (`_fit_X`, dense; or for a scikit-learn
//! fallback on sparse data the three arrays of a CSR matrix); the search
//! index is rebuilt from it on the first query, never stored.

use super::cluster::{ints, len_1d};
use super::{float_dtype, opt, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};
use crate::labels::Labels;
use serde_json::{json, Value};

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[
    &NEAREST_NEIGHBORS,
    &KNEIGHBORS_CLASSIFIER,
    &KNEIGHBORS_REGRESSOR,
    &LOCAL_OUTLIER_FACTOR,
];

const ARRAYS: &[super::ArraySpec] = &[
    opt("_fit_X"),
    opt("_fit_X_data"),
    opt("_fit_X_indices"),
    opt("_fit_X_indptr"),
    opt("_y"),
    opt("classes_"),
];

const ATTRS: &[&str] = &[
    "n_samples_fit_",
    "_fit_method",
    "effective_metric_",
    "effective_metric_params_",
    "outputs_2d_",
    "_classes_list",
    "_classes_dtype",
];

/// `sklearn.neighbors.NearestNeighbors`.
pub static NEAREST_NEIGHBORS: Schema = Schema {
    kind: "neighbors.NearestNeighbors",
    version: 1,
    arrays: ARRAYS,
    attrs: ATTRS,
    validate: validate_neighbors_model,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    // No predict: `oxlearn serve` answers its neighbour queries (kneighbors).
    serving: Serving::Neighbors,
};

/// `sklearn.neighbors.KNeighborsClassifier`: also `_y` (class numbers) and
/// `classes_` (numeric labels of one output; other labels are a header
/// attribute `_classes_list`).
pub static KNEIGHBORS_CLASSIFIER: Schema = Schema {
    kind: "neighbors.KNeighborsClassifier",
    version: 1,
    arrays: ARRAYS,
    attrs: ATTRS,
    validate: validate_neighbors_model,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Neighbors,
};

/// `sklearn.neighbors.KNeighborsRegressor`: also `_y` (the targets).
pub static KNEIGHBORS_REGRESSOR: Schema = Schema {
    kind: "neighbors.KNeighborsRegressor",
    version: 1,
    arrays: ARRAYS,
    attrs: ATTRS,
    validate: validate_neighbors_model,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Neighbors,
};

const LOF_ARRAYS: &[super::ArraySpec] = &[
    opt("_fit_X"),
    opt("_fit_X_data"),
    opt("_fit_X_indices"),
    opt("_fit_X_indptr"),
    opt("_distances_fit_X_"),
    opt("_lrd"),
    opt("negative_outlier_factor_"),
];

const LOF_ATTRS: &[&str] = &[
    "n_samples_fit_",
    "_fit_method",
    "effective_metric_",
    "effective_metric_params_",
    "n_neighbors_",
    "offset_",
];

/// `sklearn.neighbors.LocalOutlierFactor`: the training data, each
/// training sample's distances to its `n_neighbors_` nearest others
/// (`_distances_fit_X_`), their local reachability densities (`_lrd`) and
/// `negative_outlier_factor_`.
pub static LOCAL_OUTLIER_FACTOR: Schema = Schema {
    kind: "neighbors.LocalOutlierFactor",
    version: 1,
    arrays: LOF_ARRAYS,
    attrs: LOF_ATTRS,
    validate: validate_lof,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Neighbors,
};

fn validate_lof(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let n = validate_neighbors(h, a)?;
    let dt = float_dtype(h)?;
    let k = match h.attrs.get("n_neighbors_").and_then(|v| v.as_u64()) {
        Some(k) if k >= 1 && k < n.max(2) => k,
        other => {
            return Err(FormatError::InvalidField {
                field: "attrs.n_neighbors_".into(),
                reason: format!("{other:?}; must be at least 1 and below the {n} samples"),
            })
        }
    };
    a.check("_distances_fit_X_", dt, &[Some(n), Some(k)])?;
    a.check("_lrd", dt, &[Some(n)])?;
    a.check("negative_outlier_factor_", dt, &[Some(n)])?;
    if !h.attrs.get("offset_").is_some_and(|v| v.is_number()) {
        return Err(FormatError::InvalidField {
            field: "attrs.offset_".into(),
            reason: "missing or not a number".into(),
        });
    }
    Ok(())
}

/// Validates a k-nearest model (training data and targets).
fn validate_neighbors_model(h: &Header, a: &Arrays<'_>) -> Result<()> {
    validate_neighbors(h, a).map(|_| ())
}

/// Validates the training data and the targets; returns the number of
/// training samples.
fn validate_neighbors(h: &Header, a: &Arrays<'_>) -> Result<u64> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let sparse = ["_fit_X_data", "_fit_X_indices", "_fit_X_indptr"];
    let n_sparse = sparse.iter().filter(|s| a.get(s).is_some()).count();
    let n = match (a.get("_fit_X").is_some(), n_sparse) {
        (true, 0) => a.check("_fit_X", dt, &[None, Some(p)])?.shape[0],
        (false, 3) => {
            let nnz = a.check("_fit_X_data", dt, &[None])?.shape[0];
            let rows = len_1d(a, "_fit_X_indptr")?;
            if len_1d(a, "_fit_X_indices")? as u64 != nnz || rows == 0 {
                return Err(a.invalid(
                    "_fit_X_indices",
                    format!("must hold {nnz} entries, and _fit_X_indptr at least one"),
                ));
            }
            if !a.deep() {
                // The element checks come with the deferred digests.
                rows as u64 - 1
            } else {
                let indptr = ints(a, "_fit_X_indptr")?;
                let indices = ints(a, "_fit_X_indices")?;
                if indptr.is_empty()
                    || indptr[0] != 0
                    || indptr.last().map(|&v| v as u64) != Some(nnz)
                    || indptr.windows(2).any(|w| w[0] > w[1])
                {
                    return Err(a.invalid(
                        "_fit_X_indptr",
                        format!(
                            "must hold non-decreasing offsets from 0 to {nnz} (CSR row pointers)"
                        ),
                    ));
                }
                if indices.len() as u64 != nnz {
                    return Err(a.invalid(
                        "_fit_X_indices",
                        format!("has {} entries for {nnz} stored values", indices.len()),
                    ));
                }
                if let Some(&bad) = indices.iter().find(|&&j| j < 0 || j as u64 >= p) {
                    return Err(a.invalid(
                        "_fit_X_indices",
                        format!("holds column {bad}; columns must be below n_features_in = {p}"),
                    ));
                }
                indptr.len() as u64 - 1
            }
        }
        _ => {
            return Err(FormatError::InvalidField {
                field: "arrays".into(),
                reason: "a neighbours model stores _fit_X either dense (_fit_X) or as CSR \
                         (_fit_X_data, _fit_X_indices, _fit_X_indptr), exactly one of the two"
                    .into(),
            })
        }
    };
    if n == 0 {
        return Err(a.invalid("_fit_X", "has no samples; a fitted model has some".into()));
    }
    match h.attrs.get("n_samples_fit_").and_then(|v| v.as_u64()) {
        Some(m) if m == n => {}
        other => {
            return Err(FormatError::InvalidField {
                field: "attrs.n_samples_fit_".into(),
                reason: format!("{other:?}; must equal the {n} stored training samples"),
            })
        }
    }
    check_search_attrs(h)?;
    if h.kind == "neighbors.NearestNeighbors" || h.kind == "neighbors.LocalOutlierFactor" {
        return Ok(n);
    }
    let y = a.require("_y")?;
    if y.shape.is_empty() || y.shape.len() > 2 || y.shape[0] != n {
        return Err(a.invalid(
            "_y",
            format!(
                "shape is {:?}, expected ({n},) or ({n}, n_outputs)",
                y.shape
            ),
        ));
    }
    if h.kind == "neighbors.KNeighborsClassifier" {
        if y.dtype != DType::Int64 {
            return Err(a.invalid(
                "_y",
                format!("dtype is {}, expected int64 class numbers", y.dtype.name()),
            ));
        }
        let outputs_2d = match h.attrs.get("outputs_2d_") {
            Some(Value::Bool(b)) => *b,
            other => {
                return Err(FormatError::InvalidField {
                    field: "attrs.outputs_2d_".into(),
                    reason: format!("{other:?}; must be true or false"),
                })
            }
        };
        // scikit-learn keeps a classifier's `_y` 1-D unless it has several outputs.
        if y.shape.len() != if outputs_2d { 2 } else { 1 } || y.shape.get(1) == Some(&0) {
            return Err(a.invalid(
                "_y",
                format!(
                    "shape is {:?} but outputs_2d_ is {outputs_2d}: one output is ({n},), \
                     several are ({n}, n_outputs)",
                    y.shape
                ),
            ));
        }
        let classes = classifier_labels(h, a.views())?;
        let n_outputs = if outputs_2d { y.shape[1] as usize } else { 1 };
        if classes.len() != n_outputs {
            return Err(FormatError::InvalidField {
                field: "_classes_list (class labels)".into(),
                reason: format!("{} label lists for {n_outputs} outputs", classes.len()),
            });
        }
        // Every class number: with the digests when a load defers them.
        let codes = if a.deep() { y.data } else { &[][..] };
        for (i, c) in codes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .enumerate()
        {
            let k = classes[i % n_outputs].len() as i64;
            if !(0..k).contains(&c) {
                return Err(a.invalid(
                    "_y",
                    format!(
                        "holds class number {c} for output {}, which has {k} classes",
                        i % n_outputs
                    ),
                ));
            }
        }
    }
    Ok(n)
}

/// The attributes a neighbours search reads: how it was fitted, its metric.
fn check_search_attrs(h: &Header) -> Result<()> {
    let field = |name: &str, reason: String| FormatError::InvalidField {
        field: format!("attrs.{name}"),
        reason,
    };
    match h.attrs.get("_fit_method").and_then(Value::as_str) {
        Some("brute" | "kd_tree" | "ball_tree") => {}
        other => {
            return Err(field(
                "_fit_method",
                format!("{other:?}; must be \"brute\", \"kd_tree\" or \"ball_tree\""),
            ))
        }
    }
    if !h
        .attrs
        .get("effective_metric_")
        .is_some_and(Value::is_string)
    {
        return Err(field(
            "effective_metric_",
            format!(
                "{:?}; must be a metric name",
                h.attrs.get("effective_metric_")
            ),
        ));
    }
    let dict = h
        .attrs
        .get("effective_metric_params_")
        .and_then(|v| v.get("__dict__"));
    if !dict.is_some_and(Value::is_object) {
        return Err(field(
            "effective_metric_params_",
            "must be a dict of the metric's parameters".into(),
        ));
    }
    Ok(())
}

/// The class labels of a k-nearest-neighbours classifier, one entry per
/// output, validated as every kind's labels are ([`Labels`]): the
/// `classes_` array (one output, array dtype), or the header attributes
/// `_classes_list` and `_classes_dtype` — a list of labels and its numpy
/// dtype string for one output, a list of such lists and a list of dtype
/// strings for several.
pub fn classifier_labels(h: &Header, arrays: &[ArrayView<'_>]) -> Result<Vec<Labels>> {
    let invalid = |reason: String| FormatError::InvalidField {
        field: "_classes_list (class labels)".into(),
        reason,
    };
    let one = |list: &Value, dtype: &Value| -> Result<Labels> {
        let n = list
            .as_array()
            .map(Vec::len)
            .ok_or_else(|| invalid(format!("{list} is not a list")))?;
        if !dtype.is_string() {
            return Err(invalid(format!(
                "_classes_dtype {dtype} is not a dtype string"
            )));
        }
        let labels = json!({"__ndarray__": list, "dtype": dtype, "shape": [n]});
        // The dtype decides what decoding allocates (`<U100000000`).
        crate::value::check_value(&labels, "attrs._classes_list", labels.to_string().len())?;
        Labels::from_json(&labels).map_err(invalid)
    };
    match (h.attrs.get("_classes_list"), h.attrs.get("_classes_dtype")) {
        (None, None) => Ok(vec![Labels::read(h, arrays, "classes_")?]),
        (Some(list), Some(dtype)) => {
            if arrays.iter().any(|a| a.name == "classes_") {
                return Err(invalid(
                    "stored both as the classes_ array and as _classes_list".into(),
                ));
            }
            match dtype {
                Value::Array(dtypes) => {
                    let lists = list
                        .as_array()
                        .filter(|l| l.len() == dtypes.len() && !l.is_empty())
                        .ok_or_else(|| {
                            invalid(format!("{} dtypes need as many label lists", dtypes.len()))
                        })?;
                    lists.iter().zip(dtypes).map(|(l, d)| one(l, d)).collect()
                }
                _ => Ok(vec![one(list, dtype)?]),
            }
        }
        _ => Err(invalid(
            "_classes_list and _classes_dtype go together".into(),
        )),
    }
}
