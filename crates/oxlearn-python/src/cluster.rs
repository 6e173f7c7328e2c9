//! Bindings of `oxlearn_core::cluster`.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::cluster::{fit_dbscan as core_fit_dbscan, DbscanParams, Distances};
use oxlearn_core::neighbors::{Algorithm, IndexParams, Metric};
use oxlearn_core::Real;
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_dbscan, m)?)?;
    Ok(())
}

type Labels<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

/// DBSCAN. Returns `(labels_, core_sample_indices_)` as int64 arrays.
///
/// `metric` is a metric name (`p` is the Minkowski order) or
/// `"precomputed"`; `sample_weight` is float64 or None.
#[pyfunction]
#[pyo3(signature = (x, eps, min_samples, metric, p, sample_weight, algorithm, leaf_size, chunk_rows, n_threads))]
#[allow(clippy::too_many_arguments)]
fn fit_dbscan<'py>(
    x: &Bound<'py, PyAny>,
    eps: f64,
    min_samples: usize,
    metric: &str,
    p: Option<f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    algorithm: &str,
    leaf_size: usize,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Labels<'py>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        params: DbscanParams,
        w: Option<&[f64]>,
        n_threads: Option<usize>,
    ) -> PyResult<Labels<'py>> {
        let xv = mat_ref(&x);
        let fit = py
            .detach(|| with_threads(n_threads, || core_fit_dbscan(xv, w, &params)))?
            .map_err(core_err)?;
        Ok((
            fit.labels.into_pyarray(py),
            fit.core_sample_indices.into_pyarray(py),
        ))
    }
    let py = x.py();
    let distances = if metric == "precomputed" {
        Distances::Precomputed
    } else {
        Distances::Metric(Metric::from_name(metric, p).map_err(core_err)?)
    };
    let params = DbscanParams {
        eps,
        min_samples,
        distances,
        index: IndexParams {
            algorithm: Algorithm::from_name(algorithm).map_err(core_err)?,
            leaf_size,
        },
        chunk_rows,
    };
    let w = sample_weight
        .as_ref()
        .map(|w| slice(w, "sample_weight"))
        .transpose()?;
    dispatch_float!(x, go(py, params, w, n_threads))
}
