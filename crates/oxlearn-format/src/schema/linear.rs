//! Schemas of the linear models.

use super::{float_dtype, opt, req, ArraySpec, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{DType, Header};
use crate::labels::Labels;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[
    &LINEAR_REGRESSION,
    &RIDGE,
    &INCREMENTAL_LINEAR_REGRESSION,
    &INCREMENTAL_RIDGE,
    &LOGISTIC_REGRESSION,
    &ELASTIC_NET,
    &LASSO,
];

/// `sklearn.linear_model.LinearRegression`.
pub static LINEAR_REGRESSION: Schema = Schema {
    kind: "linear_model.LinearRegression",
    version: 1,
    arrays: &[req("coef_"), req("intercept_"), opt("singular_")],
    attrs: &["rank_"],
    validate: |h, a| validate_linear(h, a).map(|_| ()),
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// `sklearn.linear_model.Ridge`.
pub static RIDGE: Schema = Schema {
    kind: "linear_model.Ridge",
    version: 1,
    arrays: &[req("coef_"), req("intercept_")],
    attrs: &["n_iter_", "solver_"],
    validate: |h, a| validate_linear(h, a).map(|_| ()),
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// `sklearn.linear_model.ElasticNet`.
pub static ELASTIC_NET: Schema = Schema {
    kind: "linear_model.ElasticNet",
    version: 1,
    arrays: &[req("coef_"), req("intercept_"), req("dual_gap_")],
    attrs: &["n_iter_"],
    validate: validate_coordinate_descent,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// `sklearn.linear_model.Lasso`.
pub static LASSO: Schema = Schema {
    kind: "linear_model.Lasso",
    version: 1,
    arrays: &[req("coef_"), req("intercept_"), req("dual_gap_")],
    attrs: &["n_iter_"],
    validate: validate_coordinate_descent,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// coef_ and intercept_ as [`validate_linear`]; one target (coef_ (p)):
/// dual_gap_ () and n_iter_ a non-negative integer, as scikit-learn sets
/// them; t targets (coef_ (t, p)): dual_gap_ (t) and n_iter_ a list of t.
fn validate_coordinate_descent(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let t = validate_linear(h, a)?;
    let dt = float_dtype(h)?;
    let one = a.require("coef_")?.shape.len() == 1;
    if one {
        a.check("dual_gap_", dt, &[])?;
    } else {
        a.check("dual_gap_", dt, &[Some(t)])?;
    }
    let count = |v: &serde_json::Value| v.as_u64().is_some();
    let ok = match h.attrs.get("n_iter_") {
        Some(v) if one => count(v),
        Some(v) => v
            .as_array()
            .is_some_and(|l| l.len() as u64 == t && l.iter().all(count)),
        None => false,
    };
    if !ok {
        return Err(FormatError::InvalidField {
            field: "attrs.n_iter_".into(),
            reason: format!(
                "{:?}; must be a non-negative integer for one target, a list of {t} of them \
                 for {t} targets",
                h.attrs.get("n_iter_")
            ),
        });
    }
    Ok(())
}

const INCREMENTAL_ARRAYS: &[ArraySpec] = &[
    req("coef_"),
    req("intercept_"),
    req("_mean_x"),
    req("_mean_y"),
    req("_cxx"),
    req("_cxy"),
];
const INCREMENTAL_ATTRS: &[&str] = &["n_samples_seen_", "batch_size_", "_sum_weights"];

/// `oxlearn.linear_model.IncrementalLinearRegression` (scikit-learn-intelex's API).
pub static INCREMENTAL_LINEAR_REGRESSION: Schema = Schema {
    kind: "linear_model.IncrementalLinearRegression",
    version: 1,
    arrays: INCREMENTAL_ARRAYS,
    attrs: INCREMENTAL_ATTRS,
    validate: validate_incremental,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// `oxlearn.linear_model.IncrementalRidge` (scikit-learn-intelex's API).
pub static INCREMENTAL_RIDGE: Schema = Schema {
    kind: "linear_model.IncrementalRidge",
    version: 1,
    arrays: INCREMENTAL_ARRAYS,
    attrs: INCREMENTAL_ATTRS,
    validate: validate_incremental,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Linear,
};

/// `sklearn.linear_model.LogisticRegression`. `classes_` is an array when
/// its dtype is one the format stores, else an attribute (see
/// [`crate::labels`]); `_coef_sparse` records that `coef_` was a scipy
/// sparse matrix (after `sparsify()`), stored dense.
pub static LOGISTIC_REGRESSION: Schema = Schema {
    kind: "linear_model.LogisticRegression",
    version: 1,
    arrays: &[
        req("coef_"),
        req("intercept_"),
        opt("classes_"),
        req("n_iter_"),
    ],
    attrs: &["classes_", "_coef_sparse"],
    validate: validate_logistic,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::LinearClassifier,
};

/// classes_ (c ≥ 2, sorted, distinct); coef_ (k, p) with k = 1 for two
/// classes, else c; intercept_ (k) or (); n_iter_ (m) int32, non-negative.
fn validate_logistic(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let classes = Labels::read(h, a.views(), "classes_")?;
    let c = classes.len() as u64;
    if c < 2 {
        return Err(FormatError::InvalidField {
            field: "classes_".into(),
            reason: format!("{c} class(es); a logistic regression has at least 2"),
        });
    }
    let k = if c == 2 { 1 } else { c };
    a.check("coef_", dt, &[Some(k), Some(p)])?;
    if a.require("intercept_")?.shape.is_empty() {
        a.check("intercept_", dt, &[])?;
    } else {
        a.check("intercept_", dt, &[Some(k)])?;
    }
    let n_iter = a.check("n_iter_", DType::Int32, &[None])?;
    let negative = n_iter
        .data
        .chunks_exact(4)
        .any(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) < 0);
    if negative {
        return Err(a.invalid("n_iter_", "holds a negative iteration count".into()));
    }
    if let Some(v) = h.attrs.get("_coef_sparse") {
        if v.as_bool() != Some(true) {
            return Err(FormatError::InvalidField {
                field: "attrs._coef_sparse".into(),
                reason: format!("{v}; must be true when present"),
            });
        }
    }
    Ok(())
}

/// coef_ (p) or (t, p); intercept_ () or (1) for (p), () or (t) (or () for (t, p) without an
/// intercept); singular_ (k ≤ p); rank_ ≤ p.
/// Returns the number of targets in the moments' sense (1 for 1-D y).
fn validate_linear(h: &Header, a: &Arrays<'_>) -> Result<u64> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let coef = a.require("coef_")?;
    let t = match coef.shape.len() {
        1 => {
            a.check("coef_", dt, &[Some(p)])?;
            // Ridge fitted on a (n, 1) target ravels coef_ but keeps intercept_ (1).
            if a.require("intercept_")?.shape.is_empty() {
                a.check("intercept_", dt, &[])?;
            } else {
                a.check("intercept_", dt, &[Some(1)])?;
            }
            1
        }
        2 => {
            let t = coef.shape[0];
            if t == 0 {
                return Err(a.invalid("coef_", "has zero targets".into()));
            }
            a.check("coef_", dt, &[Some(t), Some(p)])?;
            // scikit-learn stores a scalar 0.0 without fit_intercept.
            if a.require("intercept_")?.shape.is_empty() {
                a.check("intercept_", dt, &[])?;
            } else {
                a.check("intercept_", dt, &[Some(t)])?;
            }
            t
        }
        n => return Err(a.invalid("coef_", format!("has {n} dimensions, expected 1 or 2"))),
    };
    if a.get("singular_").is_some() {
        let s = a.check("singular_", dt, &[None])?;
        if s.shape[0] > p {
            return Err(a.invalid(
                "singular_",
                format!("has {} values for {p} features", s.shape[0]),
            ));
        }
    }
    if let Some(rank) = h.attrs.get("rank_") {
        match rank.as_u64() {
            Some(r) if r <= p => {}
            _ => {
                return Err(FormatError::InvalidField {
                    field: "attrs.rank_".into(),
                    reason: format!("{rank}; must be an integer between 0 and n_features_in = {p}"),
                })
            }
        }
    }
    Ok(t)
}

fn validate_incremental(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let t = validate_linear(h, a)?;
    let p = h.n_features_in.unwrap_or(0);
    a.check("_mean_x", DType::Float64, &[Some(p)])?;
    a.check("_mean_y", DType::Float64, &[Some(t)])?;
    a.check("_cxx", DType::Float64, &[Some(p), Some(p)])?;
    a.check("_cxy", DType::Float64, &[Some(p), Some(t)])?;
    for key in ["n_samples_seen_", "_sum_weights"] {
        let ok = h
            .attrs
            .get(key)
            .is_some_and(|v| v.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0));
        if !ok {
            return Err(FormatError::InvalidField {
                field: format!("attrs.{key}"),
                reason: format!("{:?}; must be a non-negative number", h.attrs.get(key)),
            });
        }
    }
    Ok(())
}
