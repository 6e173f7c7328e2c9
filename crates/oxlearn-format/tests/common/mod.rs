//! What the schema tests share (a folder, so Cargo does not take it for a
//! test target of its own).

use oxlearn_format::{DType, Header, FORMAT_VERSION};

/// A fitted float64 model of `kind` with `p` features, written by this
/// crate's version and scikit-learn 1.9.1: no params, attributes, parts or
/// arrays yet. Tests set the fields they exercise with `..header(kind, p)`.
pub fn header(kind: &str, p: u64) -> Header {
    Header {
        format_version: FORMAT_VERSION.into(),
        kind: kind.into(),
        schema_version: 1,
        oxlearn_version: env!("CARGO_PKG_VERSION").into(),
        sklearn_version: "1.9.1".into(),
        numpy_version: "2.4.6".into(),
        python_version: "3.11.7".into(),
        device: "cpu".into(),
        array_namespace: None,
        fitted: true,
        dtype: Some(DType::Float64),
        n_features_in: Some(p),
        feature_names_in: None,
        params: serde_json::Map::new(),
        attrs: serde_json::Map::new(),
        parts: Vec::new(),
        arrays: vec![],
        checksum: String::new(),
    }
}
