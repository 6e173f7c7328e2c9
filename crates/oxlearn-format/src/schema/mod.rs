//! The closed registry of model kinds and their schemas. A kind that is not
//! listed here cannot be loaded: nothing is ever built from a name in a file.

mod basic_statistics;
mod cluster;
mod covariance;
mod decomposition;
mod ensemble;
mod kmeans;
mod linear;
mod neighbors;

pub use neighbors::classifier_labels;

use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};

/// One array of a schema.
#[derive(Debug, Clone, Copy)]
pub struct ArraySpec {
    /// Attribute name on the estimator.
    pub name: &'static str,
    /// Whether a fitted model must have it (optional ones are present only
    /// for some fitting paths).
    pub required: bool,
}

/// An array every fitted model of the kind has.
pub(crate) const fn req(name: &'static str) -> ArraySpec {
    ArraySpec {
        name,
        required: true,
    }
}

/// An array only some fitting paths produce.
pub(crate) const fn opt(name: &'static str) -> ArraySpec {
    ArraySpec {
        name,
        required: false,
    }
}

/// How one model kind is serialized.
#[derive(Debug)]
pub struct Schema {
    /// Kind name, `<sklearn module>.<class>`.
    pub kind: &'static str,
    /// Current schema version of the kind; older versions are migrated on load.
    pub version: u32,
    /// Fitted array attributes, in storage order.
    pub arrays: &'static [ArraySpec],
    /// Fitted scalar attributes, stored in the header's `attrs`.
    pub attrs: &'static [&'static str],
    /// Structural checks beyond the generic ones.
    pub validate: fn(&Header, &Arrays<'_>) -> Result<()>,
}

static REGISTRY: &[&Schema] = &[
    &linear::LINEAR_REGRESSION,
    &linear::RIDGE,
    &linear::INCREMENTAL_LINEAR_REGRESSION,
    &linear::INCREMENTAL_RIDGE,
    &linear::LOGISTIC_REGRESSION,
    &covariance::EMPIRICAL_COVARIANCE,
    &covariance::INCREMENTAL_EMPIRICAL_COVARIANCE,
    &basic_statistics::BASIC_STATISTICS,
    &basic_statistics::INCREMENTAL_BASIC_STATISTICS,
    &decomposition::PCA,
    &decomposition::INCREMENTAL_PCA,
    &cluster::DBSCAN,
    &neighbors::NEAREST_NEIGHBORS,
    &neighbors::KNEIGHBORS_CLASSIFIER,
    &neighbors::KNEIGHBORS_REGRESSOR,
    &kmeans::KMEANS,
    &neighbors::LOCAL_OUTLIER_FACTOR,
    &ensemble::RANDOM_FOREST_CLASSIFIER,
    &ensemble::RANDOM_FOREST_REGRESSOR,
    &ensemble::EXTRA_TREES_CLASSIFIER,
    &ensemble::EXTRA_TREES_REGRESSOR,
];

/// The schema of `kind`, if this build knows it.
pub fn lookup(kind: &str) -> Option<&'static Schema> {
    REGISTRY.iter().copied().find(|s| s.kind == kind)
}

/// Every kind this build can load.
pub fn known_kinds() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.kind).collect()
}

/// Arrays of one model, looked up by name.
pub struct Arrays<'a> {
    kind: &'a str,
    views: &'a [ArrayView<'a>],
    deep: bool,
}

impl<'a> Arrays<'a> {
    /// Whether checks that read every element (O(model size), e.g. a
    /// forest's node walk) run now. A lazily verified load defers them, with
    /// the array checksums, to first use.
    pub fn deep(&self) -> bool {
        self.deep
    }

    /// Every array of the model.
    pub fn views(&self) -> &'a [ArrayView<'a>] {
        self.views
    }

    /// The array called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ArrayView<'a>> {
        self.views.iter().find(|a| a.name == name)
    }

    /// The array called `name`; absent is an error.
    pub fn require(&self, name: &str) -> Result<&ArrayView<'a>> {
        self.get(name).ok_or_else(|| FormatError::MissingArray {
            kind: self.kind.into(),
            name: name.into(),
        })
    }

    /// An error about array `name`.
    pub fn invalid(&self, name: &str, reason: String) -> FormatError {
        FormatError::InvalidArray {
            kind: self.kind.into(),
            name: name.into(),
            reason,
        }
    }

    /// Checks `name`'s dtype and shape (`None` in `shape` matches any size).
    pub fn check(&self, name: &str, dtype: DType, shape: &[Option<u64>]) -> Result<&ArrayView<'a>> {
        let a = self.require(name)?;
        if a.dtype != dtype {
            return Err(self.invalid(
                name,
                format!("dtype is {}, expected {}", a.dtype.name(), dtype.name()),
            ));
        }
        let ok = a.shape.len() == shape.len()
            && a.shape
                .iter()
                .zip(shape)
                .all(|(&d, s)| s.is_none_or(|s| s == d));
        if !ok {
            let want: Vec<String> = shape
                .iter()
                .map(|s| s.map_or("*".into(), |v| v.to_string()))
                .collect();
            return Err(self.invalid(
                name,
                format!("shape is {:?}, expected ({})", a.shape, want.join(", ")),
            ));
        }
        Ok(a)
    }
}

/// Validates a model against its kind's schema: known kind, only known
/// arrays, required arrays present when fitted, then the kind's own checks.
pub fn validate(h: &Header, views: &[ArrayView<'_>]) -> Result<()> {
    validate_with(h, views, true)
}

/// [`validate`]; `deep = false` leaves out the checks that read every
/// element of an array (see [`Arrays::deep`]): a lazily verified load runs
/// them before first use.
pub fn validate_with(h: &Header, views: &[ArrayView<'_>], deep: bool) -> Result<()> {
    let s = lookup(&h.kind).ok_or_else(|| FormatError::UnknownKind {
        kind: h.kind.clone(),
        writer: h.oxlearn_version.clone(),
        reader: env!("CARGO_PKG_VERSION").into(),
        known: known_kinds().join(", "),
    })?;
    let arrays = Arrays {
        kind: s.kind,
        views,
        deep,
    };
    for v in views {
        if !s.arrays.iter().any(|a| a.name == v.name) {
            return Err(FormatError::UnexpectedArray {
                kind: s.kind.into(),
                name: v.name.into(),
            });
        }
    }
    // What the encoder writes, and what decoding it may cost, for every
    // kind: measured on the canonical JSON of the two sections, so that a
    // writer and every reader agree on the bound.
    let text_len = serde_json::to_string(&h.params)
        .map_err(|e| FormatError::BadHeader(e.to_string()))?
        .len()
        + serde_json::to_string(&h.attrs)
            .map_err(|e| FormatError::BadHeader(e.to_string()))?
            .len();
    crate::value::check_values(&h.params, &h.attrs, text_len)?;
    h.check_placement()?;
    for key in h.attrs.keys() {
        if !s.attrs.contains(&key.as_str()) {
            return Err(FormatError::InvalidField {
                field: "attrs".into(),
                reason: format!("unknown attribute {key:?} for {}", s.kind),
            });
        }
    }
    if !h.fitted {
        if !views.is_empty() || !h.attrs.is_empty() {
            return Err(FormatError::InvalidField {
                field: "fitted".into(),
                reason: "an unfitted model must not carry fitted attributes".into(),
            });
        }
        return Ok(());
    }
    for a in s.arrays.iter().filter(|a| a.required) {
        arrays.require(a.name)?;
    }
    let p = h.n_features_in.ok_or_else(|| FormatError::InvalidField {
        field: "n_features_in".into(),
        reason: "a fitted model must record n_features_in".into(),
    })?;
    if p == 0 {
        return Err(FormatError::InvalidField {
            field: "n_features_in".into(),
            reason: "0; must be >= 1".into(),
        });
    }
    if let Some(names) = &h.feature_names_in {
        if names.len() as u64 != p {
            return Err(FormatError::InvalidField {
                field: "feature_names_in".into(),
                reason: format!("{} names for n_features_in = {p}", names.len()),
            });
        }
    }
    (s.validate)(h, &arrays)
}

/// The header's float dtype, which a fitted model must have.
pub(crate) fn float_dtype(h: &Header) -> Result<DType> {
    match h.dtype {
        Some(d @ (DType::Float32 | DType::Float64)) => Ok(d),
        other => Err(FormatError::InvalidField {
            field: "dtype".into(),
            reason: format!("{other:?}; a fitted model's dtype must be float32 or float64"),
        }),
    }
}
