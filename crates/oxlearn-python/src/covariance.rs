//! Bindings of `oxlearn_core::covariance`.

use crate::arrays::{mat_ref, with_threads};
use crate::error::core_err;
use crate::linear_model::{mat_to_py, moments_from_py};
use faer::MatRef;
use numpy::ndarray::{Array1, Array2};
use numpy::{Element, IntoPyArray, PyReadonlyArray2};
use oxlearn_core::covariance::{self as cov, CovarianceFit};
use oxlearn_core::Real;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_covariance, m)?)?;
    m.add_function(wrap_pyfunction!(covariance_from_moments, m)?)?;
    Ok(())
}

fn square<'py, T: Element + Real>(
    py: Python<'py>,
    m: MatRef<'_, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let p = m.nrows();
    Array2::from_shape_fn((p, p), |(i, j)| T::from_f64(m[(i, j)]))
        .into_pyarray(py)
        .into_bound_py_any(py)
}

fn fit_to_py<'py, T: Element + Real>(
    py: Python<'py>,
    fit: &CovarianceFit,
) -> PyResult<Bound<'py, PyTuple>> {
    let location: Array1<T> = fit.location.iter().map(|&v| T::from_f64(v)).collect();
    let precision = fit
        .precision
        .as_ref()
        .map(|p| square::<T>(py, p.as_ref()))
        .transpose()?;
    (
        location.into_pyarray(py),
        square::<T>(py, fit.covariance.as_ref())?,
        precision,
    )
        .into_pyobject(py)
}

/// Empirical covariance. Returns `(location_, covariance_, precision_ or None)` in X's dtype.
#[pyfunction]
#[pyo3(signature = (x, assume_centered, store_precision, chunk_rows, n_threads))]
fn fit_covariance<'py>(
    x: &Bound<'py, PyAny>,
    assume_centered: bool,
    store_precision: bool,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        assume_centered: bool,
        store_precision: bool,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let xv = mat_ref(&x);
        let fit = py
            .detach(|| {
                with_threads(n_threads, || {
                    cov::fit_covariance(xv, assume_centered, store_precision, chunk_rows)
                })
            })?
            .map_err(core_err)?;
        fit_to_py::<T>(py, &fit)
    }
    let py = x.py();
    dispatch_float!(
        x,
        go(py, assume_centered, store_precision, chunk_rows, n_threads)
    )
}

/// The covariance model of accumulated moments (incremental fits), float64.
#[pyfunction]
fn covariance_from_moments<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyDict>,
    assume_centered: bool,
    store_precision: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let m = moments_from_py(state, !assume_centered)?;
    let fit = py
        .detach(|| cov::covariance_from_moments(&m, store_precision))
        .map_err(core_err)?;
    let precision = fit
        .precision
        .as_ref()
        .map(|p| mat_to_py(py, p.as_ref()))
        .transpose()?;
    (
        Array1::from(fit.location).into_pyarray(py),
        mat_to_py(py, fit.covariance.as_ref())?,
        precision,
    )
        .into_pyobject(py)
}
