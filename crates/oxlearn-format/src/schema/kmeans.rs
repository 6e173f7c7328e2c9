//! Schema of k-means.

use super::{float_dtype, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{DType, Header};

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&KMEANS];

/// `sklearn.cluster.KMeans`.
pub static KMEANS: Schema = Schema {
    kind: "cluster.KMeans",
    version: 1,
    arrays: &[req("cluster_centers_"), req("labels_")],
    attrs: &["inertia_", "n_iter_"],
    validate: validate_kmeans,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::NearestCenter,
};

/// cluster_centers_ (k, p) in the model's dtype, k >= 1; labels_ (n,) int32
/// in [0, k); inertia_ finite and non-negative; n_iter_ a positive integer.
fn validate_kmeans(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    let p = h.n_features_in.unwrap_or(0);
    let centers = a.check("cluster_centers_", dt, &[None, Some(p)])?;
    let k = centers.shape[0];
    if k == 0 {
        return Err(a.invalid("cluster_centers_", "has no clusters".into()));
    }
    let labels = a.check("labels_", DType::Int32, &[None])?;
    // Reads every label: with the digests when a load defers them.
    let scanned = if a.deep() { labels.data } else { &[][..] };
    for (i, b) in scanned.chunks_exact(4).enumerate() {
        let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v < 0 || v as u64 >= k {
            return Err(a.invalid(
                "labels_",
                format!("labels_[{i}] = {v} is not a cluster index in [0, {k})"),
            ));
        }
    }
    let inertia_ok = h
        .attrs
        .get("inertia_")
        .and_then(|v| v.as_f64())
        .is_some_and(|v| v.is_finite() && v >= 0.0);
    if !inertia_ok {
        return Err(FormatError::InvalidField {
            field: "attrs.inertia_".into(),
            reason: format!(
                "{:?}; must be a finite non-negative number",
                h.attrs.get("inertia_")
            ),
        });
    }
    let n_iter_ok = h
        .attrs
        .get("n_iter_")
        .and_then(|v| v.as_u64())
        .is_some_and(|v| v >= 1);
    if !n_iter_ok {
        return Err(FormatError::InvalidField {
            field: "attrs.n_iter_".into(),
            reason: format!("{:?}; must be a positive integer", h.attrs.get("n_iter_")),
        });
    }
    Ok(())
}
