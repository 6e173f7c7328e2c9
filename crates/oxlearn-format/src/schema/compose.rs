//! Schemas of composite models: `Pipeline`, `ColumnTransformer`, and the
//! `"passthrough"` / `"drop"` placeholders they may hold. Their components
//! are the header's `parts`, each validated against its own kind first
//! (`super::validate_at`); these validators check how the parts fit
//! together: each step's output width is the next step's input width, a
//! column transformer's column indices are in range.

use super::{part_width, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::Header;
use serde_json::Value;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&PIPELINE, &COLUMN_TRANSFORMER, &PASSTHROUGH, &DROP];

/// `sklearn.pipeline.Pipeline`: `parts` are the steps, in order.
pub static PIPELINE: Schema = Schema {
    kind: "pipeline.Pipeline",
    version: 1,
    arrays: &[],
    attrs: &[],
    validate: validate_pipeline,
    width: Some(pipeline_width),
    composite: true,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// `sklearn.compose.ColumnTransformer`: `parts` are `transformers_`, in
/// order, the remainder last when it has columns (dropped or not); attrs
/// `_transformer_to_input_indices` (`{"__dict__": {name: [column index,
/// ...]}}`: every part's columns, and possibly the dropped remainder's),
/// `_columns` (each part's column selection as the user gave it),
/// `sparse_output_`, `_remainder`, `output_indices_` (as scikit-learn's).
pub static COLUMN_TRANSFORMER: Schema = Schema {
    kind: "compose.ColumnTransformer",
    version: 1,
    arrays: &[],
    attrs: &[
        "_transformer_to_input_indices",
        "_columns",
        "sparse_output_",
        "_remainder",
        "output_indices_",
    ],
    validate: validate_column_transformer,
    width: Some(column_transformer_width),
    composite: true,
    origin: Origin::Stock,
    serving: Serving::Step,
};

/// The `"passthrough"` step or transformer: its input, unchanged.
pub static PASSTHROUGH: Schema = Schema {
    kind: "compose.passthrough",
    version: 1,
    arrays: &[],
    attrs: &[],
    validate: |_, _| Ok(()),
    width: Some(|h, _| Ok(h.n_features_in.unwrap_or(0))),
    composite: false,
    origin: Origin::Marker,
    serving: Serving::Step,
};

/// The `"drop"` transformer of a column transformer: no output.
pub static DROP: Schema = Schema {
    kind: "compose.drop",
    version: 1,
    arrays: &[],
    attrs: &[],
    validate: |_, _| Ok(()),
    width: Some(|_, _| Ok(0)),
    composite: false,
    origin: Origin::Marker,
    serving: Serving::Step,
};

fn field(h: &Header, name: &str, reason: String) -> FormatError {
    FormatError::InvalidField {
        field: format!("{}.{name}", h.kind),
        reason,
    }
}

/// At least one step; steps chain: the first takes the pipeline's input,
/// each one's output width is the next one's `n_features_in`, and every
/// step but the last is a transformer.
fn validate_pipeline(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let n = h.parts.len();
    if n == 0 {
        return Err(field(h, "parts", "a pipeline has at least one step".into()));
    }
    let first = &h.parts[0];
    if first.n_features_in != h.n_features_in {
        return Err(field(
            h,
            "n_features_in",
            format!(
                "{:?}, but its first step ({:?}) takes {:?}",
                h.n_features_in, first.name, first.n_features_in
            ),
        ));
    }
    if first.feature_names_in.is_some() && first.feature_names_in != h.feature_names_in {
        return Err(field(
            h,
            "feature_names_in",
            format!("differ from those of its first step ({:?})", first.name),
        ));
    }
    for i in 0..n - 1 {
        let out = part_width(h, a.views(), i)?.ok_or_else(|| {
            field(
                h,
                &format!("parts[{i}]"),
                format!(
                    "step {:?} ({}) is not a transformer, so it can only be the last step",
                    h.parts[i].name, h.parts[i].kind
                ),
            )
        })?;
        let next = &h.parts[i + 1];
        if next.n_features_in != Some(out) {
            return Err(field(
                h,
                &format!("parts[{}]", i + 1),
                format!(
                    "step {:?} takes {:?} features, but step {:?} outputs {out}",
                    next.name, next.n_features_in, h.parts[i].name
                ),
            ));
        }
    }
    Ok(())
}

/// A pipeline transforms when its last step does.
fn pipeline_width(h: &Header, a: &Arrays<'_>) -> Result<u64> {
    let last = h
        .parts
        .len()
        .checked_sub(1)
        .ok_or_else(|| field(h, "parts", "a pipeline has at least one step".into()))?;
    part_width(h, a.views(), last)?.ok_or_else(|| {
        field(
            h,
            "parts",
            format!(
                "the last step {:?} is not a transformer",
                h.parts[last].name
            ),
        )
    })
}

/// The column indices each part reads, in part order.
pub fn column_indices(h: &Header) -> Result<Vec<Vec<u64>>> {
    let p = h.n_features_in.unwrap_or(0);
    let map = h
        .attrs
        .get("_transformer_to_input_indices")
        .and_then(|v| v.get("__dict__"))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            field(
                h,
                "attrs._transformer_to_input_indices",
                "missing, or not a {\"__dict__\": {name: [index, ...]}} object".into(),
            )
        })?;
    // Every part has an entry; a dropped remainder may have one too.
    let extra = map.len() == h.parts.len() + 1
        && map.contains_key("remainder")
        && !h.parts.iter().any(|part| part.name == "remainder");
    if map.len() != h.parts.len() && !extra {
        return Err(field(
            h,
            "attrs._transformer_to_input_indices",
            format!("{} entries for {} transformers", map.len(), h.parts.len()),
        ));
    }
    if let Some(rest) = map.get("remainder").filter(|_| extra) {
        let ok = rest
            .as_array()
            .is_some_and(|v| v.iter().all(|c| c.as_u64().is_some_and(|c| c < p)));
        if !ok {
            return Err(field(
                h,
                "attrs._transformer_to_input_indices[\"remainder\"]",
                format!("not a list of column indices below {p}"),
            ));
        }
    }
    h.parts
        .iter()
        .map(|part| {
            let bad = |reason: String| {
                field(
                    h,
                    &format!("attrs._transformer_to_input_indices[{:?}]", part.name),
                    reason,
                )
            };
            let list = map
                .get(&part.name)
                .and_then(Value::as_array)
                .ok_or_else(|| bad("missing, or not a list of column indices".into()))?;
            let cols = list
                .iter()
                .map(|v| v.as_u64().filter(|&c| c < p))
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| {
                    bad(format!(
                        "holds a value that is not a column index below {p}"
                    ))
                })?;
            if part.kind != "compose.drop" && part.n_features_in != Some(cols.len() as u64) {
                return Err(bad(format!(
                    "selects {} columns, but transformer {:?} takes {:?}",
                    cols.len(),
                    part.name,
                    part.n_features_in
                )));
            }
            Ok(cols)
        })
        .collect()
}

/// Every part is a transformer reading columns in range; `sparse_output_`
/// is a boolean.
fn validate_column_transformer(h: &Header, a: &Arrays<'_>) -> Result<()> {
    column_indices(h)?;
    let n = h.parts.len();
    let columns = h.attrs.get("_columns").and_then(Value::as_array);
    if columns.map(Vec::len) != Some(n) {
        return Err(field(
            h,
            "attrs._columns",
            format!("must list the column selection of each of the {n} transformers"),
        ));
    }
    let remainder = h
        .attrs
        .get("_remainder")
        .and_then(|v| v.get("__ndarray__").or(Some(v)));
    let remainder_ok = remainder.and_then(Value::as_array).is_some_and(|r| {
        r.len() == 3
            && r[0] == "remainder"
            && matches!(r[1].as_str(), Some("drop" | "passthrough" | "estimator"))
    });
    if !remainder_ok {
        return Err(field(
            h,
            "attrs._remainder",
            "must be [\"remainder\", \"drop\"|\"passthrough\"|\"estimator\", columns]".into(),
        ));
    }
    let slices = h
        .attrs
        .get("output_indices_")
        .and_then(|v| v.get("__dict__"))
        .and_then(Value::as_object);
    let slices_ok = slices.is_some_and(|m| {
        m.values().all(|v| {
            let b = v
                .as_array()
                .map(|r| r.iter().map(Value::as_u64).collect::<Vec<_>>());
            matches!(b.as_deref(), Some([Some(lo), Some(hi)]) if lo <= hi)
        }) && h.parts.iter().all(|p| m.contains_key(&p.name))
    });
    if !slices_ok {
        return Err(field(
            h,
            "attrs.output_indices_",
            "must map every transformer to [start, stop] with start <= stop".into(),
        ));
    }
    if !matches!(h.attrs.get("sparse_output_"), Some(Value::Bool(_))) {
        return Err(field(
            h,
            "attrs.sparse_output_",
            "missing, or not a boolean".into(),
        ));
    }
    for i in 0..h.parts.len() {
        if part_width(h, a.views(), i)?.is_none() {
            return Err(field(
                h,
                &format!("parts[{i}]"),
                format!(
                    "{:?} ({}) is not a transformer",
                    h.parts[i].name, h.parts[i].kind
                ),
            ));
        }
    }
    Ok(())
}

/// The transformers' outputs side by side.
fn column_transformer_width(h: &Header, a: &Arrays<'_>) -> Result<u64> {
    let mut total = 0u64;
    for i in 0..h.parts.len() {
        let w = part_width(h, a.views(), i)?.unwrap_or(0);
        total = total
            .checked_add(w)
            .ok_or_else(|| field(h, "parts", "output width overflows".into()))?;
    }
    Ok(total)
}
