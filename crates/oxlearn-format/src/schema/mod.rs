//! The closed registry of model kinds and their schemas. A kind that is not
//! listed here cannot be loaded: nothing is ever built from a name in a file.

mod basic_statistics;
mod cluster;
mod compose;
mod covariance;
mod decomposition;
mod ensemble;
mod kmeans;
mod linear;
mod manifold;
mod neighbors;
mod preprocessing;
mod svm;

pub use neighbors::classifier_labels;

use crate::error::{FormatError, Result};
use crate::header::{part_arrays, ArrayView, DType, Header};

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

/// Who implements a kind: how Python builds a loaded model of it, and
/// whether the binary serves it as one estimator or as a composite of
/// scikit-learn steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An oxlearn estimator, class `oxlearn.<module>.<class>` of the kind
    /// `<module>.<class>`.
    Oxlearn,
    /// A stock scikit-learn class stored as it is, `sklearn.<module>.<class>`:
    /// pipelines, column transformers and the transformers they hold.
    Stock,
    /// A placeholder a pipeline or column transformer holds as a string
    /// (`"passthrough"`, `"drop"`): no class, and it may select no column.
    Marker,
}

impl Origin {
    /// Every origin, in the order [`Origin::name`] lists them.
    pub const ALL: [Origin; 3] = [Origin::Oxlearn, Origin::Stock, Origin::Marker];

    /// The origin's name in the Python bindings (`_core.known_kinds(origin)`).
    pub fn name(self) -> &'static str {
        match self {
            Origin::Oxlearn => "oxlearn",
            Origin::Stock => "sklearn",
            Origin::Marker => "marker",
        }
    }
}

/// `pub static $name: Schema` for one kind of a family whose kinds share
/// `ARRAYS`, `ATTRS` (items in scope where it is used) and a validator,
/// implemented by oxlearn (random forests, SVMs), served as `$serving`.
macro_rules! family_schema {
    ($name:ident, $kind:literal, $doc:literal, $validate:path, $serving:expr) => {
        #[doc = $doc]
        pub static $name: Schema = Schema {
            kind: $kind,
            version: 1,
            arrays: ARRAYS,
            attrs: ATTRS,
            validate: $validate,
            width: None,
            composite: false,
            origin: Origin::Oxlearn,
            serving: $serving,
        };
    };
}
pub(crate) use family_schema;

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
    /// For transformers, the number of columns `transform` returns for a
    /// fitted model (called after `validate`): how a pipeline checks that
    /// each step's output is the next step's input.
    pub width: Option<fn(&Header, &Arrays<'_>) -> Result<u64>>,
    /// Whether the kind has components (`Header::parts`): a pipeline, a
    /// column transformer. No other kind may have them.
    pub composite: bool,
    /// Who implements the kind.
    pub origin: Origin,
    /// How the `oxlearn` binary answers a fitted model of the kind.
    pub serving: Serving,
}

/// How the `oxlearn` binary answers a fitted model of a kind: the form of
/// its predict or transform (and their companion methods: predict_proba,
/// decision_function, kneighbors), which `oxlearn-cli` builds from the
/// header and arrays. It is part of the kind's one registry entry, so a new kind is
/// served, or refused with its reason, where its schema is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// `X coefᵀ + intercept`: the linear regressors.
    Linear,
    /// A linear decision function and its `classes_`: logistic regression.
    LinearClassifier,
    /// k-nearest neighbours: a vote, a mean, LOF's outlier labels, or
    /// neighbour queries only (NearestNeighbors).
    Neighbors,
    /// PCA's `transform`, a linear map.
    Pca,
    /// A random forest or extra trees.
    Forest,
    /// The nearest cluster centre: k-means.
    NearestCenter,
    /// A support vector machine of the formulation.
    Svm(oxlearn_core::svm::SvmType),
    /// A scikit-learn class or marker: a pipeline, a column transformer or
    /// one of their steps (the binary's `pipeline.rs`).
    Step,
    /// A valid model with nothing to serve: why (the message after the kind).
    Refused(&'static str),
}

/// Why a kind that neither predicts nor transforms is not served.
pub(crate) const NOTHING_TO_SERVE: &str = "has no predict or transform: there is nothing for \
    the binary to serve (the file itself verified; `oxlearn inspect` lists its arrays)";

/// Deepest nesting of composite models (a pipeline in a column
/// transformer in a pipeline is depth 3).
pub const MAX_PART_DEPTH: usize = 8;

/// Every kind, family by family (each family module lists its own kinds:
/// a new kind of a family is declared in that family's file only).
static FAMILIES: &[&[&Schema]] = &[
    linear::KINDS,
    covariance::KINDS,
    basic_statistics::KINDS,
    decomposition::KINDS,
    cluster::KINDS,
    neighbors::KINDS,
    kmeans::KINDS,
    ensemble::KINDS,
    compose::KINDS,
    preprocessing::KINDS,
    manifold::KINDS,
    svm::KINDS,
];

/// The registry: every kind this build knows, in a fixed order.
fn registry() -> impl Iterator<Item = &'static Schema> {
    FAMILIES.iter().flat_map(|f| f.iter().copied())
}

/// The schema of `kind`, if this build knows it.
pub fn lookup(kind: &str) -> Option<&'static Schema> {
    registry().find(|s| s.kind == kind)
}

/// Every kind this build can load.
pub fn known_kinds() -> Vec<&'static str> {
    registry().map(|s| s.kind).collect()
}

/// The kinds of one origin, in registry order.
pub fn kinds_of(origin: Origin) -> Vec<&'static str> {
    registry()
        .filter(|s| s.origin == origin)
        .map(|s| s.kind)
        .collect()
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
    validate_at(h, views, deep, 0)
}

/// The index of the part an array belongs to (`3/scale_` → 3), when its
/// name has a part prefix: decimal, without leading zeros.
fn part_index(name: &str) -> Option<Option<usize>> {
    let (index, _) = name.split_once('/')?;
    let canonical = !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && (index == "0" || !index.starts_with('0'));
    Some(if canonical { index.parse().ok() } else { None })
}

fn validate_at(h: &Header, views: &[ArrayView<'_>], deep: bool, depth: usize) -> Result<()> {
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
    if !h.parts.is_empty() && !s.composite {
        return Err(FormatError::InvalidField {
            field: "parts".into(),
            reason: format!("{} is not a composite model; it has no components", s.kind),
        });
    }
    if depth > MAX_PART_DEPTH {
        return Err(FormatError::InvalidField {
            field: "parts".into(),
            reason: format!("composite models nested deeper than {MAX_PART_DEPTH} levels"),
        });
    }
    for v in views {
        if let Some(index) = part_index(v.name) {
            if index.is_some_and(|i| i < h.parts.len()) {
                continue; // checked with its part
            }
            return Err(FormatError::UnexpectedArray {
                kind: s.kind.into(),
                name: v.name.into(),
            });
        }
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
    for (i, part) in h.parts.iter().enumerate() {
        let sub = h
            .part(i)
            .ok_or_else(|| FormatError::BadHeader("part index".into()))?;
        let field = |reason: String| FormatError::InvalidField {
            field: format!("parts[{i}] ({:?})", part.name),
            reason,
        };
        if part.fitted != h.fitted {
            return Err(field(format!(
                "fitted is {}, the composite's is {}: a composite is fitted exactly when \
                 all its components are",
                part.fitted, h.fitted
            )));
        }
        if h.parts[..i].iter().any(|o| o.name == part.name) {
            return Err(field("a component name appears twice".into()));
        }
        let ps = lookup(&part.kind).ok_or_else(|| FormatError::UnknownKind {
            kind: part.kind.clone(),
            writer: h.oxlearn_version.clone(),
            reader: env!("CARGO_PKG_VERSION").into(),
            known: known_kinds().join(", "),
        })?;
        if part.schema_version == 0 || part.schema_version > ps.version {
            return Err(field(format!(
                "schema version {} of {}; this oxlearn reads versions 1 to {}",
                part.schema_version, part.kind, ps.version
            )));
        }
        validate_at(&sub, &part_arrays(views, i), deep, depth + 1)
            .map_err(|e| e.within(&format!("parts[{i}] ({:?})", part.name)))?;
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
    // A column transformer's passthrough or drop may select no column.
    if p == 0 && s.origin != Origin::Marker {
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

/// The number of columns part `index` of a fitted composite outputs, if it
/// is a transformer (`None`: a final estimator). Call on validated models.
pub fn part_width(h: &Header, views: &[ArrayView<'_>], index: usize) -> Result<Option<u64>> {
    let sub = h
        .part(index)
        .ok_or_else(|| FormatError::BadHeader(format!("no part {index}")))?;
    width(&sub, &part_arrays(views, index))
}

/// The number of columns a fitted model's `transform` outputs, if it is a
/// transformer. Call on validated models.
pub fn width(h: &Header, views: &[ArrayView<'_>]) -> Result<Option<u64>> {
    let s = lookup(&h.kind).ok_or_else(|| FormatError::UnknownKind {
        kind: h.kind.clone(),
        writer: h.oxlearn_version.clone(),
        reader: env!("CARGO_PKG_VERSION").into(),
        known: known_kinds().join(", "),
    })?;
    let arrays = Arrays {
        kind: s.kind,
        views,
        deep: false,
    };
    s.width.map(|w| w(h, &arrays)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each family lists its own kinds: a kind listed twice (in two
    /// families, or twice in one) would be shadowed by its first entry.
    #[test]
    fn every_kind_is_listed_once_and_found_by_lookup() {
        let kinds = known_kinds();
        let mut seen = std::collections::HashSet::new();
        for kind in &kinds {
            assert!(seen.insert(*kind), "{kind} is listed twice");
            let schema = lookup(kind).map(|s| s.kind);
            assert_eq!(schema, Some(*kind));
        }
        let by_origin: usize = [Origin::Oxlearn, Origin::Stock, Origin::Marker]
            .into_iter()
            .map(|o| kinds_of(o).len())
            .sum();
        assert_eq!(by_origin, kinds.len());
    }
}
