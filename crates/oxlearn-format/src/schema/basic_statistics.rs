//! Schemas of the basic statistics estimators (scikit-learn-intelex's API).

use super::{float_dtype, opt, req, ArraySpec, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{DType, Header};

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&BASIC_STATISTICS, &INCREMENTAL_BASIC_STATISTICS];

/// The statistics, one optional array each: `result_options` chooses which
/// a model has.
const STATISTICS: [&str; 10] = [
    "min_",
    "max_",
    "sum_",
    "mean_",
    "variance_",
    "variation_",
    "sum_squares_",
    "sum_squares_centered_",
    "second_order_raw_moment_",
    "standard_deviation_",
];

/// The mergeable moments an incremental model keeps between batches (float64).
const STATE: [&str; 5] = ["_sum", "_mean", "_m2", "_min", "_max"];

const fn statistics_specs() -> [ArraySpec; 10] {
    let mut out = [opt(""); 10];
    let mut i = 0;
    while i < 10 {
        out[i] = opt(STATISTICS[i]);
        i += 1;
    }
    out
}

static STATISTICS_SPECS: [ArraySpec; 10] = statistics_specs();

static INCREMENTAL_SPECS: [ArraySpec; 15] = {
    let mut out = [opt(""); 15];
    let mut i = 0;
    while i < 10 {
        out[i] = STATISTICS_SPECS[i];
        i += 1;
    }
    while i < 15 {
        out[i] = req(STATE[i - 10]);
        i += 1;
    }
    out
};

/// `oxlearn.basic_statistics.BasicStatistics`.
pub static BASIC_STATISTICS: Schema = Schema {
    kind: "basic_statistics.BasicStatistics",
    version: 1,
    arrays: &STATISTICS_SPECS,
    attrs: &[],
    validate: validate_statistics,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(super::NOTHING_TO_SERVE),
};

/// `oxlearn.basic_statistics.IncrementalBasicStatistics`.
pub static INCREMENTAL_BASIC_STATISTICS: Schema = Schema {
    kind: "basic_statistics.IncrementalBasicStatistics",
    version: 1,
    arrays: &INCREMENTAL_SPECS,
    attrs: &["n_samples_seen_", "batch_size_"],
    validate: validate_incremental,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(super::NOTHING_TO_SERVE),
};

fn validate_statistics(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let mut present = 0;
    for name in STATISTICS {
        if let Some(v) = a.get(name) {
            present += 1;
            // A single feature given as a 1-D X has scalar statistics.
            let shape: &[Option<u64>] = if v.shape.is_empty() && p == 1 {
                &[]
            } else {
                &[Some(p)]
            };
            a.check(name, dt, shape)?;
        }
    }
    if present == 0 {
        return Err(FormatError::InvalidField {
            field: "arrays".into(),
            reason: "a fitted basic statistics model holds at least one statistic".into(),
        });
    }
    Ok(())
}

fn validate_incremental(h: &Header, a: &Arrays<'_>) -> Result<()> {
    validate_statistics(h, a)?;
    let p = h.n_features_in.unwrap_or(0);
    for name in STATE {
        a.check(name, DType::Float64, &[Some(p)])?;
    }
    let ok = h
        .attrs
        .get("n_samples_seen_")
        .and_then(|v| v.as_u64())
        .is_some_and(|n| n > 0);
    if !ok {
        return Err(FormatError::InvalidField {
            field: "attrs.n_samples_seen_".into(),
            reason: format!(
                "{:?}; must be a positive integer",
                h.attrs.get("n_samples_seen_")
            ),
        });
    }
    Ok(())
}
