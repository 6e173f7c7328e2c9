//! Schemas of scikit-learn's preprocessing, imputation and feature
//! selection transformers, stored as scikit-learn fits them (attribute
//! names and meanings of scikit-learn's classes), so that loading gives
//! back the stock objects and the binary can apply them.
//!
//! Category lists (`categories_`) are tagged arrays in `attrs`
//! (`docs/format.md` §1.3): one per input column, numbers or strings.

use super::{opt, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};
use crate::labels::Labels;
use serde_json::Value;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[
    &STANDARD_SCALER,
    &MIN_MAX_SCALER,
    &ROBUST_SCALER,
    &MAX_ABS_SCALER,
    &NORMALIZER,
    &ONE_HOT_ENCODER,
    &ORDINAL_ENCODER,
    &LABEL_ENCODER,
    &SIMPLE_IMPUTER,
    &POLYNOMIAL_FEATURES,
    &VARIANCE_THRESHOLD,
    &SELECT_K_BEST,
];

/// Largest output width of a `PolynomialFeatures` (a forged degree must not
/// make a reader allocate rows of billions of columns).
pub const MAX_POLYNOMIAL_OUTPUT: u64 = 1 << 24;

/// `sklearn.preprocessing.StandardScaler`: `(x - mean_) / scale_`.
pub static STANDARD_SCALER: Schema = Schema {
    kind: "preprocessing.StandardScaler",
    version: 1,
    arrays: &[
        opt("mean_"),
        opt("var_"),
        opt("scale_"),
        opt("n_samples_seen_"),
    ],
    attrs: &["n_samples_seen_", "mean_", "var_", "scale_"],
    validate: |h, a| {
        check_floats(
            h,
            a,
            &[("mean_", "with_mean"), ("scale_", "with_std"), ("var_", "")],
        )?;
        check_samples_seen(h, a)
    },
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.MinMaxScaler`: `x * scale_ + min_`, clipped when `clip`.
pub static MIN_MAX_SCALER: Schema = Schema {
    kind: "preprocessing.MinMaxScaler",
    version: 1,
    arrays: &[
        req("min_"),
        req("scale_"),
        req("data_min_"),
        req("data_max_"),
        req("data_range_"),
        opt("n_samples_seen_"),
    ],
    attrs: &["n_samples_seen_"],
    validate: |h, a| {
        check_floats(
            h,
            a,
            &[
                ("min_", "*"),
                ("scale_", "*"),
                ("data_min_", "*"),
                ("data_max_", "*"),
                ("data_range_", "*"),
            ],
        )?;
        check_samples_seen(h, a)?;
        let range = h
            .params
            .get("feature_range")
            .and_then(|v| v.get("__tuple__"))
            .and_then(Value::as_array)
            .and_then(|v| Some((v.first()?.as_f64()?, v.get(1)?.as_f64()?)));
        match range {
            Some((lo, hi)) if lo < hi => Ok(()),
            _ => Err(param(
                h,
                "feature_range",
                "must be a tuple (min, max) with min < max",
            )),
        }
    },
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.RobustScaler`: `(x - center_) / scale_`.
pub static ROBUST_SCALER: Schema = Schema {
    kind: "preprocessing.RobustScaler",
    version: 1,
    arrays: &[opt("center_"), opt("scale_")],
    attrs: &["center_", "scale_"],
    validate: |h, a| {
        check_floats(
            h,
            a,
            &[("center_", "with_centering"), ("scale_", "with_scaling")],
        )
    },
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.MaxAbsScaler`: `x / scale_`.
pub static MAX_ABS_SCALER: Schema = Schema {
    kind: "preprocessing.MaxAbsScaler",
    version: 1,
    arrays: &[req("max_abs_"), req("scale_"), opt("n_samples_seen_")],
    attrs: &["n_samples_seen_"],
    validate: |h, a| {
        check_floats(h, a, &[("max_abs_", "*"), ("scale_", "*")])?;
        check_samples_seen(h, a)
    },
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.Normalizer`: each row divided by its `norm`.
pub static NORMALIZER: Schema = Schema {
    kind: "preprocessing.Normalizer",
    version: 1,
    arrays: &[],
    attrs: &[],
    validate: |h, _| one_of(h, "norm", &["l1", "l2", "max"]),
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.OneHotEncoder`.
pub static ONE_HOT_ENCODER: Schema = Schema {
    kind: "preprocessing.OneHotEncoder",
    version: 1,
    arrays: &[],
    attrs: &[
        "categories_",
        "drop_idx_",
        "_infrequent_enabled",
        "_infrequent_indices",
        "_default_to_infrequent_mappings",
        "_drop_idx_after_grouping",
        "_n_features_outs",
    ],
    validate: validate_one_hot,
    width: Some(one_hot_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.OrdinalEncoder`.
pub static ORDINAL_ENCODER: Schema = Schema {
    kind: "preprocessing.OrdinalEncoder",
    version: 1,
    arrays: &[],
    attrs: &[
        "categories_",
        "_missing_indices",
        "_infrequent_enabled",
        "_infrequent_indices",
        "_default_to_infrequent_mappings",
    ],
    validate: |h, _| {
        categories(h)?;
        one_of(h, "handle_unknown", &["error", "use_encoded_value"])?;
        if h.attrs.get("_infrequent_enabled") == Some(&Value::Bool(true)) {
            return Err(field(
                h,
                "attrs._infrequent_enabled",
                "infrequent categories of OrdinalEncoder are not supported by the format".into(),
            ));
        }
        Ok(())
    },
    width: Some(same_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.LabelEncoder` (targets): `classes_`, stored as
/// classifiers store theirs ([`Labels`]); `n_features_in` is 1.
pub static LABEL_ENCODER: Schema = Schema {
    kind: "preprocessing.LabelEncoder",
    version: 1,
    arrays: &[opt("classes_")],
    attrs: &["classes_"],
    validate: |h, a| {
        if h.n_features_in != Some(1) {
            return Err(field(
                h,
                "n_features_in",
                "a label encoder has one column".into(),
            ));
        }
        Labels::read(h, a.views(), "classes_").map(|_| ())
    },
    width: None,
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.impute.SimpleImputer` (without `add_indicator`).
pub static SIMPLE_IMPUTER: Schema = Schema {
    kind: "impute.SimpleImputer",
    version: 1,
    arrays: &[opt("statistics_")],
    attrs: &["statistics_", "_fit_dtype", "_fill_dtype", "indicator_"],
    validate: validate_imputer,
    width: Some(imputer_width),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.preprocessing.PolynomialFeatures`.
pub static POLYNOMIAL_FEATURES: Schema = Schema {
    kind: "preprocessing.PolynomialFeatures",
    version: 1,
    arrays: &[],
    attrs: &[
        "n_output_features_",
        "_min_degree",
        "_max_degree",
        "_n_out_full",
    ],
    validate: validate_polynomial,
    width: Some(|h, _| Ok(attr_u64(h, "n_output_features_").unwrap_or(0))),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.feature_selection.VarianceThreshold`: keeps `variances_ > threshold`.
pub static VARIANCE_THRESHOLD: Schema = Schema {
    kind: "feature_selection.VarianceThreshold",
    version: 1,
    arrays: &[req("variances_")],
    attrs: &[],
    validate: |h, a| {
        check_floats(h, a, &[("variances_", "*")])?;
        h.params
            .get("threshold")
            .and_then(Value::as_f64)
            .map(|_| ())
            .ok_or_else(|| param(h, "threshold", "must be a number"))
    },
    width: Some(|h, a| Ok(variance_mask(h, a)?.iter().filter(|&&m| m).count() as u64)),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.feature_selection.SelectKBest`; `score_func` is stored by name.
pub static SELECT_K_BEST: Schema = Schema {
    kind: "feature_selection.SelectKBest",
    version: 1,
    arrays: &[req("scores_"), opt("pvalues_")],
    attrs: &[],
    validate: |h, a| {
        check_floats(h, a, &[("scores_", "*"), ("pvalues_", "")])?;
        one_of(h, "score_func", SCORE_FUNCS)?;
        select_k(h).map(|_| ())
    },
    width: Some(|h, _| select_k(h)),
    composite: false,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// The score functions of `sklearn.feature_selection` a `SelectKBest` may name.
pub const SCORE_FUNCS: &[&str] = &[
    "f_classif",
    "f_regression",
    "chi2",
    "mutual_info_classif",
    "mutual_info_regression",
    "r_regression",
];

fn field(h: &Header, name: &str, reason: String) -> FormatError {
    FormatError::InvalidField {
        field: format!("{}.{name}", h.kind),
        reason,
    }
}

fn param(h: &Header, name: &str, rule: &str) -> FormatError {
    field(
        h,
        &format!("params.{name}"),
        format!("{:?} {rule}", h.params.get(name)),
    )
}

fn one_of(h: &Header, name: &str, allowed: &[&str]) -> Result<()> {
    match h.params.get(name).and_then(Value::as_str) {
        Some(v) if allowed.contains(&v) => Ok(()),
        _ => Err(param(h, name, &format!("must be one of {allowed:?}"))),
    }
}

fn flag(h: &Header, name: &str) -> bool {
    h.params.get(name).and_then(Value::as_bool) == Some(true)
}

fn attr_u64(h: &Header, name: &str) -> Option<u64> {
    h.attrs.get(name).and_then(Value::as_u64)
}

fn same_width(h: &Header, _: &Arrays<'_>) -> Result<u64> {
    Ok(h.n_features_in.unwrap_or(0))
}

/// Each named array, when present, is a float vector of `n_features_in`;
/// it is required when the parameter paired with it is true (`"*"`:
/// always; `""`: never).
fn check_floats(h: &Header, a: &Arrays<'_>, names: &[(&str, &str)]) -> Result<()> {
    let p = h.n_features_in.unwrap_or(0);
    for &(name, when) in names {
        let needed = when == "*" || (!when.is_empty() && flag(h, when));
        match a.get(name) {
            None if needed => {
                return Err(a
                    .require(name)
                    .err()
                    .unwrap_or_else(|| a.invalid(name, "missing".into())))
            }
            None => {}
            Some(v) => {
                let dt = if v.dtype == DType::Float32 {
                    DType::Float32
                } else {
                    DType::Float64
                };
                a.check(name, dt, &[Some(p)])?;
            }
        }
    }
    Ok(())
}

/// `n_samples_seen_`: an integer, or an int64 vector of `n_features_in`
/// (per-column counts when the data had missing values).
fn check_samples_seen(h: &Header, a: &Arrays<'_>) -> Result<()> {
    if a.get("n_samples_seen_").is_some() {
        let v = a.require("n_samples_seen_")?;
        if v.shape.is_empty() {
            return Ok(());
        }
        a.check("n_samples_seen_", DType::Int64, &[h.n_features_in])?;
    }
    Ok(())
}

/// The values of a tagged 1-D array, or of a plain list (an object array
/// of numbers, e.g. a constant imputer's `statistics_`).
pub fn list_items(v: &Value) -> Option<&Vec<Value>> {
    match v.get("__ndarray__") {
        Some(items) => items.as_array(),
        None => v.as_array(),
    }
}

/// The length of a tagged 1-D array (`{"__ndarray__": [...], ...}`).
fn tagged_len(v: &Value) -> Option<usize> {
    let items = v.get("__ndarray__")?.as_array()?;
    let shape = v.get("shape")?.as_array()?;
    (shape.len() == 1).then_some(items.len())
}

/// `categories_`: one tagged 1-D array (or, for strings with a missing
/// value, a plain list) of at least one category per column. Returns each
/// column's number of categories.
pub fn categories(h: &Header) -> Result<Vec<usize>> {
    let p = h.n_features_in.unwrap_or(0) as usize;
    let list = h
        .attrs
        .get("categories_")
        .and_then(Value::as_array)
        .ok_or_else(|| field(h, "attrs.categories_", "missing, or not a list".into()))?;
    if list.len() != p {
        return Err(field(
            h,
            "attrs.categories_",
            format!("{} category lists for n_features_in = {p}", list.len()),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let n = if v.get("__ndarray__").is_some() {
                tagged_len(v)
            } else {
                // Plain: strings, then possibly one null or NaN.
                v.as_array()
                    .filter(|items| {
                        let strings = items.iter().take_while(|x| x.is_string()).count();
                        items.len() - strings <= 1
                            && items.last().is_some_and(|x| {
                                x.is_string() || x.is_null() || x.get("__float__").is_some()
                            })
                    })
                    .map(Vec::len)
            };
            n.filter(|&n| n > 0).ok_or_else(|| {
                field(
                    h,
                    &format!("attrs.categories_[{i}]"),
                    "not a non-empty 1-D array of categories".into(),
                )
            })
        })
        .collect()
}

/// A JSON list of `p` entries, each null or an integer in `0..limit[i]`.
fn optional_indices(h: &Header, name: &str, limits: &[usize]) -> Result<Vec<Option<usize>>> {
    let bad = |reason: String| field(h, &format!("attrs.{name}"), reason);
    let v = match h.attrs.get(name) {
        None | Some(Value::Null) => return Ok(vec![None; limits.len()]),
        Some(v) => v,
    };
    // Either a tagged object array or a plain list.
    let items = v
        .get("__ndarray__")
        .and_then(Value::as_array)
        .or_else(|| v.as_array())
        .ok_or_else(|| bad("not a list".into()))?;
    if items.len() != limits.len() {
        return Err(bad(format!(
            "{} entries for {} columns",
            items.len(),
            limits.len()
        )));
    }
    items
        .iter()
        .zip(limits)
        .map(|(v, &n)| match v {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .filter(|&i| (i as usize) < n)
                .map(|i| Some(i as usize))
                .ok_or_else(|| bad(format!("{v} is not a category index below {n}"))),
        })
        .collect()
}

/// Categories per column, optional dropped category per column, and
/// `_n_features_outs` consistent with them (infrequent categories grouped
/// into one column each).
fn validate_one_hot(h: &Header, _: &Arrays<'_>) -> Result<()> {
    let counts = categories(h)?;
    one_of(
        h,
        "handle_unknown",
        &["error", "ignore", "infrequent_if_exist", "warn"],
    )?;
    optional_indices(h, "drop_idx_", &counts)?;
    let outs = one_hot_outputs(h, &counts)?;
    let infrequent = h.attrs.get("_infrequent_enabled") == Some(&Value::Bool(true));
    for (i, (&out, &n)) in outs.iter().zip(&counts).enumerate() {
        if out > n || (!infrequent && out + 1 < n) {
            return Err(field(
                h,
                "attrs._n_features_outs",
                format!("column {i}: {out} output columns for {n} categories"),
            ));
        }
    }
    Ok(())
}

fn one_hot_outputs(h: &Header, counts: &[usize]) -> Result<Vec<usize>> {
    let list = h
        .attrs
        .get("_n_features_outs")
        .and_then(Value::as_array)
        .ok_or_else(|| field(h, "attrs._n_features_outs", "missing, or not a list".into()))?;
    if list.len() != counts.len() {
        return Err(field(
            h,
            "attrs._n_features_outs",
            format!("{} entries for {} columns", list.len(), counts.len()),
        ));
    }
    list.iter()
        .map(|v| v.as_u64().map(|n| n as usize))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| field(h, "attrs._n_features_outs", "not a list of counts".into()))
}

fn one_hot_width(h: &Header, _: &Arrays<'_>) -> Result<u64> {
    let counts = categories(h)?;
    Ok(one_hot_outputs(h, &counts)?.iter().map(|&n| n as u64).sum())
}

/// `statistics_`: a float vector (numeric data) or a tagged array of
/// `n_features_in` fill values (strings); no missing indicator.
fn validate_imputer(h: &Header, a: &Arrays<'_>) -> Result<()> {
    one_of(
        h,
        "strategy",
        &["mean", "median", "most_frequent", "constant"],
    )?;
    if flag(h, "add_indicator") || !matches!(h.attrs.get("indicator_"), None | Some(Value::Null)) {
        return Err(param(
            h,
            "add_indicator",
            "must be false: the missing indicator is not supported by the format",
        ));
    }
    let p = h.n_features_in.unwrap_or(0);
    match (a.get("statistics_"), h.attrs.get("statistics_")) {
        (Some(_), None) => {
            a.check("statistics_", DType::Float64, &[Some(p)])?;
        }
        (None, Some(v)) if list_items(v).map(Vec::len) == Some(p as usize) => {}
        _ => {
            return Err(field(
                h,
                "statistics_",
                format!("must be one float64 array or one list of {p} values"),
            ))
        }
    }
    Ok(())
}

/// `statistics_` as numbers (NaN for a column that was all missing).
fn float_statistics(a: &ArrayView<'_>) -> Vec<f64> {
    a.data
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}

/// Columns whose statistic is missing are dropped unless `keep_empty_features`.
fn imputer_width(h: &Header, a: &Arrays<'_>) -> Result<u64> {
    let p = h.n_features_in.unwrap_or(0);
    if flag(h, "keep_empty_features") {
        return Ok(p);
    }
    Ok(match a.get("statistics_") {
        Some(s) => float_statistics(s).iter().filter(|v| !v.is_nan()).count() as u64,
        None => {
            let items = h.attrs.get("statistics_").and_then(list_items);
            // A missing statistic: null (None) or {"__float__": "nan"}.
            let missing = |x: &Value| x.is_null() || x.get("__float__").is_some_and(|f| f == "nan");
            items.map_or(p, |v| v.iter().filter(|x| !missing(x)).count() as u64)
        }
    })
}

/// scikit-learn's number of output columns of `PolynomialFeatures`:
/// combinations (with repetition unless `interaction_only`) of degrees
/// `min..=max`, plus the bias column. `None` past `limit`.
pub fn polynomial_outputs(
    p: u64,
    min_degree: u64,
    max_degree: u64,
    interaction_only: bool,
    include_bias: bool,
    limit: u64,
) -> Option<u64> {
    // C(n, k) by the multiplicative formula, stopping past the limit.
    let choose = |n: u64, k: u64| -> Option<u64> {
        if k > n {
            return Some(0);
        }
        let k = k.min(n - k);
        let mut c: u128 = 1;
        for i in 0..k {
            c = c * u128::from(n - i) / u128::from(i + 1);
            if c > u128::from(limit) {
                return None;
            }
        }
        u64::try_from(c).ok()
    };
    let mut total: u64 = 0;
    // Without repetition no term has more than p factors: stop there, so a
    // forged huge degree cannot make this loop run for ever.
    let top = if interaction_only {
        max_degree.min(p)
    } else {
        max_degree
    };
    for d in min_degree.max(1)..=top {
        let n = if interaction_only {
            choose(p, d)?
        } else {
            choose(p.checked_add(d)?.checked_sub(1)?, d)?
        };
        total = total.checked_add(n).filter(|&t| t <= limit)?;
    }
    if include_bias {
        total = total.checked_add(1)?;
    }
    (total <= limit).then_some(total)
}

/// Degrees in range, `n_output_features_` equal to scikit-learn's count,
/// and at most [`MAX_POLYNOMIAL_OUTPUT`].
fn validate_polynomial(h: &Header, _: &Arrays<'_>) -> Result<()> {
    let p = h.n_features_in.unwrap_or(0);
    let (lo, hi) = match (attr_u64(h, "_min_degree"), attr_u64(h, "_max_degree")) {
        (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
        _ => {
            return Err(field(
                h,
                "attrs._max_degree",
                "degrees must be integers with _min_degree <= _max_degree".into(),
            ))
        }
    };
    if h.params.get("order").and_then(Value::as_str) != Some("C") {
        return Err(param(h, "order", "must be \"C\""));
    }
    let expect = polynomial_outputs(
        p,
        lo,
        hi,
        flag(h, "interaction_only"),
        flag(h, "include_bias"),
        MAX_POLYNOMIAL_OUTPUT,
    )
    .ok_or_else(|| {
        field(
            h,
            "attrs.n_output_features_",
            format!("more than {MAX_POLYNOMIAL_OUTPUT} output columns"),
        )
    })?;
    if attr_u64(h, "n_output_features_") != Some(expect) {
        return Err(field(
            h,
            "attrs.n_output_features_",
            format!(
                "{:?}, but {p} features of degrees {lo} to {hi} give {expect}",
                h.attrs.get("n_output_features_")
            ),
        ));
    }
    Ok(())
}

/// The columns `VarianceThreshold` keeps: `variances_ > threshold`.
pub fn variance_mask(h: &Header, a: &Arrays<'_>) -> Result<Vec<bool>> {
    let threshold = h
        .params
        .get("threshold")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let v = a.require("variances_")?;
    Ok(floats_of(v).iter().map(|&x| x > threshold).collect())
}

/// A float array's values as f64.
pub fn floats_of(a: &ArrayView<'_>) -> Vec<f64> {
    match a.dtype {
        DType::Float32 => a
            .data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        _ => float_statistics(a),
    }
}

/// `SelectKBest`'s number of kept columns: `k`, or all for `"all"` (or a
/// `k` above the number of columns: scikit-learn warns and keeps all).
fn select_k(h: &Header) -> Result<u64> {
    let p = h.n_features_in.unwrap_or(0);
    match h.params.get("k") {
        Some(Value::String(s)) if s == "all" => Ok(p),
        Some(v) => v
            .as_u64()
            .map(|k| k.min(p))
            .ok_or_else(|| param(h, "k", "must be \"all\" or a non-negative integer")),
        None => Err(param(h, "k", "is missing")),
    }
}
