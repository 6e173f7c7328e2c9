//! Schemas of the clustering estimators.

use super::{opt, req, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{ArrayView, DType, Header};

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&DBSCAN];

/// `sklearn.cluster.DBSCAN`. DBSCAN has no predict: the model is its fitted
/// labels, core sample indices and core samples (`components_`, in the
/// dtype of the data it was fitted on: a dense array, or for sparse data the
/// three arrays of a CSR matrix).
pub static DBSCAN: Schema = Schema {
    kind: "cluster.DBSCAN",
    version: 1,
    arrays: &[
        req("labels_"),
        req("core_sample_indices_"),
        opt("components_"),
        opt("_components_data"),
        opt("_components_indices"),
        opt("_components_indptr"),
    ],
    attrs: &[],
    validate: validate_dbscan,
    width: None,
    composite: false,
    origin: Origin::Oxlearn,
    serving: Serving::Refused(
        "has no predict: DBSCAN labels only the samples it was fitted on, and the file holds \
         those labels (labels_, core_sample_indices_, components_; `oxlearn inspect` lists \
         them); to cluster new data, fit DBSCAN on it",
    ),
};

/// The length of a 1-D integer array (int32 or int64), without reading it.
pub(crate) fn len_1d(a: &Arrays<'_>, name: &str) -> Result<usize> {
    let v: &ArrayView<'_> = a.require(name)?;
    match (v.dtype, v.shape) {
        (DType::Int64 | DType::Int32, [n]) => Ok(*n as usize),
        (DType::Int64 | DType::Int32, shape) => {
            Err(a.invalid(name, format!("shape is {shape:?}, expected 1-D")))
        }
        (other, _) => Err(a.invalid(
            name,
            format!("dtype is {}, expected int64 or int32", other.name()),
        )),
    }
}

/// The values of an integer array (int32 or int64), or why not.
pub(crate) fn ints(a: &Arrays<'_>, name: &str) -> Result<Vec<i64>> {
    let v: &ArrayView<'_> = a.require(name)?;
    if v.shape.len() != 1 {
        return Err(a.invalid(name, format!("shape is {:?}, expected 1-D", v.shape)));
    }
    match v.dtype {
        DType::Int64 => Ok(v
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()),
        DType::Int32 => Ok(v
            .data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect()),
        other => Err(a.invalid(
            name,
            format!("dtype is {}, expected int64 or int32", other.name()),
        )),
    }
}

fn validate_dbscan(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = h.dtype.ok_or_else(|| FormatError::InvalidField {
        field: "dtype".into(),
        reason: "null; a fitted DBSCAN records the dtype of components_".into(),
    })?;
    let p = h.n_features_in.unwrap_or(0);
    // The element checks read every index: with the digests when a load
    // defers them; the shapes are checked now.
    let deep = a.deep();
    let n = len_1d(a, "labels_")? as i64;
    if n == 0 {
        return Err(a.invalid(
            "labels_",
            "is empty; a fitted model has labelled samples".into(),
        ));
    }
    let k = len_1d(a, "core_sample_indices_")? as u64;
    if deep {
        let labels = ints(a, "labels_")?;
        if let Some(&bad) = labels.iter().find(|&&l| l < -1 || l >= n) {
            return Err(a.invalid(
                "labels_",
                format!("holds {bad}; labels are -1 (noise) or cluster numbers below {n}"),
            ));
        }
        let mut prev = -1;
        for &i in &ints(a, "core_sample_indices_")? {
            if i <= prev || i >= n {
                return Err(a.invalid(
                    "core_sample_indices_",
                    format!("holds {i} after {prev}; indices must increase and be below {n}"),
                ));
            }
            if labels[i as usize] == -1 {
                return Err(a.invalid(
                    "core_sample_indices_",
                    format!("core sample {i} is labelled noise in labels_"),
                ));
            }
            prev = i;
        }
    }
    let sparse = [
        "_components_data",
        "_components_indices",
        "_components_indptr",
    ];
    let n_sparse = sparse.iter().filter(|s| a.get(s).is_some()).count();
    match (a.get("components_").is_some(), n_sparse) {
        (true, 0) => {
            a.check("components_", dt, &[Some(k), Some(p)])?;
        }
        (false, 3) => {
            let data = a.check("_components_data", dt, &[None])?;
            let nnz = data.shape[0];
            if len_1d(a, "_components_indptr")? as u64 != k + 1 {
                return Err(a.invalid(
                    "_components_indptr",
                    format!("must hold {} offsets (the CSR row pointers)", k + 1),
                ));
            }
            if len_1d(a, "_components_indices")? as u64 != nnz {
                return Err(a.invalid(
                    "_components_indices",
                    format!("must hold {nnz} entries, one per stored value"),
                ));
            }
            if !deep {
                return Ok(());
            }
            let indptr = ints(a, "_components_indptr")?;
            let indices = ints(a, "_components_indices")?;
            if indptr.first() != Some(&0)
                || indptr.last().map(|&v| v as u64) != Some(nnz)
                || indptr.windows(2).any(|w| w[0] > w[1])
            {
                return Err(a.invalid(
                    "_components_indptr",
                    format!(
                        "must hold {} non-decreasing offsets from 0 to {nnz} (the CSR row pointers)",
                        k + 1
                    ),
                ));
            }
            if indices.len() as u64 != nnz {
                return Err(a.invalid(
                    "_components_indices",
                    format!("has {} entries for {nnz} stored values", indices.len()),
                ));
            }
            if let Some(&bad) = indices.iter().find(|&&j| j < 0 || j as u64 >= p) {
                return Err(a.invalid(
                    "_components_indices",
                    format!("holds column {bad}; columns must be below n_features_in = {p}"),
                ));
            }
        }
        _ => {
            return Err(FormatError::InvalidField {
                field: "arrays".into(),
                reason: "a DBSCAN model stores components_ either dense (components_) or as \
                         CSR (_components_data, _components_indices, _components_indptr), \
                         exactly one of the two"
                    .into(),
            })
        }
    }
    Ok(())
}
