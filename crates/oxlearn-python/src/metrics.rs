//! Bindings of `oxlearn_core::metrics`.

use crate::arrays::slice;
use crate::error::core_err;
use crate::threads::with_threads_for;
use numpy::PyReadonlyArray1;
use oxlearn_core::metrics::roc_auc as core_roc_auc;
use pyo3::prelude::*;

/// `(area, positive weight, negative weight)` of one binary problem (see
/// `oxlearn_core::metrics::roc_auc`); the area is NaN when a class has no
/// weight.
#[pyfunction]
#[pyo3(signature = (positive, score, weight, max_fpr, n_threads))]
fn roc_auc(
    py: Python<'_>,
    positive: PyReadonlyArray1<'_, bool>,
    score: PyReadonlyArray1<'_, f64>,
    weight: Option<PyReadonlyArray1<'_, f64>>,
    max_fpr: Option<f64>,
    n_threads: Option<usize>,
) -> PyResult<(f64, f64, f64)> {
    let (p, s) = (slice(&positive, "y_true")?, slice(&score, "y_score")?);
    let w = weight
        .as_ref()
        .map(|w| slice(w, "sample_weight"))
        .transpose()?;
    let r = py
        .detach(|| with_threads_for(n_threads, s.len(), || core_roc_auc(p, s, w, max_fpr)))?
        .map_err(core_err)?;
    Ok((r.area, r.positives, r.negatives))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(roc_auc, m)?)?;
    Ok(())
}
