//! Schema of t-SNE.

use super::{float_dtype, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::Header;
use serde_json::Value;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&TSNE];

/// `sklearn.manifold.TSNE`. t-SNE has no transform: the model is the
/// embedding of the samples it was fitted on, with the statistics of its
/// optimisation.
pub static TSNE: Schema = Schema {
    kind: "manifold.TSNE",
    version: 1,
    arrays: &[req("embedding_")],
    attrs: &["kl_divergence_", "n_iter_", "learning_rate_"],
    validate: validate_tsne,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(
        "has no predict or transform: t-SNE embeds only the samples it was fitted on, and the \
         file holds that embedding (embedding_; `oxlearn inspect` lists it); to embed new \
         data, fit TSNE on all of it",
    ),
};

fn field(key: &str, h: &Header, want: &str) -> FormatError {
    FormatError::InvalidField {
        field: format!("attrs.{key}"),
        reason: format!("{:?}; must be {want}", h.attrs.get(key)),
    }
}

/// embedding_ (n, n_components) in the model's float dtype, n >= 1 (and
/// n_components as the params say, when they hold an integer);
/// kl_divergence_ a number (NaN or infinity, tagged, included: it is only
/// reported); n_iter_ a non-negative integer; learning_rate_ a positive,
/// finite number.
fn validate_tsne(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    let k = h.params.get("n_components").and_then(Value::as_u64);
    let emb = a.check("embedding_", dt, &[None, k])?;
    if emb.shape[0] == 0 || emb.shape[1] == 0 {
        return Err(a.invalid(
            "embedding_",
            format!(
                "shape is {:?}; a fitted t-SNE embeds at least one sample in at least one \
                 dimension",
                emb.shape
            ),
        ));
    }
    let kl = h.attrs.get("kl_divergence_");
    if !kl.is_some_and(|v| v.is_number() || v.get("__float__").is_some()) {
        return Err(field("kl_divergence_", h, "a number"));
    }
    if h.attrs.get("n_iter_").and_then(Value::as_u64).is_none() {
        return Err(field("n_iter_", h, "a non-negative integer"));
    }
    let rate_ok = h
        .attrs
        .get("learning_rate_")
        .and_then(Value::as_f64)
        .is_some_and(|v| v.is_finite() && v > 0.0);
    if !rate_ok {
        return Err(field("learning_rate_", h, "a positive, finite number"));
    }
    Ok(())
}
