//! Schemas of the PCA estimators.

use super::{float_dtype, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::Header;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&PCA, &INCREMENTAL_PCA];

/// `sklearn.decomposition.PCA`.
pub static PCA: Schema = Schema {
    kind: "decomposition.PCA",
    version: 1,
    arrays: &[
        req("components_"),
        req("explained_variance_"),
        req("explained_variance_ratio_"),
        req("singular_values_"),
        req("mean_"),
        req("noise_variance_"),
    ],
    attrs: &["n_components_", "n_samples_"],
    validate: |h, a| validate_pca(h, a, "n_samples_"),
    width: Some(pca_width),
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Pca,
};

/// `sklearn.decomposition.IncrementalPCA`.
pub static INCREMENTAL_PCA: Schema = Schema {
    kind: "decomposition.IncrementalPCA",
    version: 1,
    arrays: &[
        req("components_"),
        req("explained_variance_"),
        req("explained_variance_ratio_"),
        req("singular_values_"),
        req("mean_"),
        req("var_"),
        req("noise_variance_"),
    ],
    attrs: &["n_components_", "n_samples_seen_", "batch_size_"],
    validate: |h, a| {
        validate_pca(h, a, "n_samples_seen_")?;
        let p = h.n_features_in.unwrap_or(0);
        a.check("var_", float_dtype(h)?, &[Some(p)])?;
        Ok(())
    },
    width: Some(pca_width),
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Pca,
};

fn positive_int(h: &Header, key: &str) -> Result<u64> {
    h.attrs
        .get(key)
        .and_then(|v| v.as_u64())
        .filter(|&n| n > 0)
        .ok_or_else(|| FormatError::InvalidField {
            field: format!("attrs.{key}"),
            reason: format!("{:?}; must be a positive integer", h.attrs.get(key)),
        })
}

fn validate_pca(h: &Header, a: &Arrays<'_>, samples_key: &str) -> Result<()> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let k = a.check("components_", dt, &[None, Some(p)])?.shape[0];
    if k > p {
        return Err(a.invalid(
            "components_",
            format!("{k} components of {p} features; at most {p}"),
        ));
    }
    for name in [
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
    ] {
        a.check(name, dt, &[Some(k)])?;
    }
    a.check("mean_", dt, &[Some(p)])?;
    a.check("noise_variance_", dt, &[])?;
    let n_components = h.attrs.get("n_components_").and_then(|v| v.as_u64());
    if n_components != Some(k) {
        return Err(FormatError::InvalidField {
            field: "attrs.n_components_".into(),
            reason: format!(
                "{:?}; must equal the {k} rows of components_",
                h.attrs.get("n_components_")
            ),
        });
    }
    positive_int(h, samples_key)?;
    Ok(())
}

/// A fitted PCA's output width: its number of components.
fn pca_width(_: &Header, a: &Arrays<'_>) -> Result<u64> {
    Ok(a.require("components_")?
        .shape
        .first()
        .copied()
        .unwrap_or(0))
}
