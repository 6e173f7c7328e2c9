//! Schemas of the covariance estimators.

use super::{float_dtype, opt, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{DType, Header};

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&EMPIRICAL_COVARIANCE, &INCREMENTAL_EMPIRICAL_COVARIANCE];

/// `sklearn.covariance.EmpiricalCovariance`.
pub static EMPIRICAL_COVARIANCE: Schema = Schema {
    kind: "covariance.EmpiricalCovariance",
    version: 1,
    arrays: &[req("location_"), req("covariance_"), opt("precision_")],
    // `precision_` is None without store_precision: recorded as null here.
    attrs: &["precision_"],
    validate: |h, a| validate_covariance(h, a),
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(super::NOTHING_TO_SERVE),
};

/// `oxlearn.covariance.IncrementalEmpiricalCovariance` (scikit-learn-intelex's API).
pub static INCREMENTAL_EMPIRICAL_COVARIANCE: Schema = Schema {
    kind: "covariance.IncrementalEmpiricalCovariance",
    version: 1,
    arrays: &[
        req("location_"),
        req("covariance_"),
        opt("precision_"),
        req("_mean_x"),
        req("_cxx"),
    ],
    attrs: &[
        "precision_",
        "n_samples_seen_",
        "batch_size_",
        "_sum_weights",
    ],
    validate: validate_incremental,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(super::NOTHING_TO_SERVE),
};

fn validate_covariance(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    a.check("location_", dt, &[Some(p)])?;
    a.check("covariance_", dt, &[Some(p), Some(p)])?;
    match (a.get("precision_").is_some(), h.attrs.get("precision_")) {
        (true, None) => {
            a.check("precision_", dt, &[Some(p), Some(p)])?;
        }
        (false, Some(v)) if v.is_null() => {}
        _ => {
            return Err(FormatError::InvalidField {
                field: "attrs.precision_".into(),
                reason: "precision_ must be either an array or null, exactly once".into(),
            })
        }
    }
    Ok(())
}

fn validate_incremental(h: &Header, a: &Arrays<'_>) -> Result<()> {
    validate_covariance(h, a)?;
    let p = h.n_features_in.unwrap_or(0);
    a.check("_mean_x", DType::Float64, &[Some(p)])?;
    a.check("_cxx", DType::Float64, &[Some(p), Some(p)])?;
    for key in ["n_samples_seen_", "_sum_weights"] {
        let ok = h
            .attrs
            .get(key)
            .is_some_and(|v| v.as_f64().is_some_and(|f| f.is_finite() && f > 0.0));
        if !ok {
            return Err(FormatError::InvalidField {
                field: format!("attrs.{key}"),
                reason: format!("{:?}; must be a positive number", h.attrs.get(key)),
            });
        }
    }
    Ok(())
}
