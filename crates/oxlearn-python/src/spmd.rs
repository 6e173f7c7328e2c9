//! Bindings of `oxlearn_core::spmd`: each rank's partial results, their
//! merge in rank order, and [`PyCollective`], the core's `Collective` over a
//! Python `allgather` callable (mpi4py's, in `oxlearn.spmd`).

use crate::arrays::{mat_ref, slice, with_threads};
use crate::basic_statistics::{column_moments_from_py, column_moments_to_py};
use crate::decomposition::vec_py;
use crate::error::core_err;
use crate::linear_model::{mat_to_py, moments_from_py, moments_to_py, targets};
use numpy::{Element, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::spmd::{self, Collective};
use oxlearn_core::{decomposition as dec, Error, Real};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::sync::Mutex;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spmd_local_moments, m)?)?;
    m.add_function(wrap_pyfunction!(spmd_merge_moments, m)?)?;
    m.add_function(wrap_pyfunction!(spmd_local_column_moments, m)?)?;
    m.add_function(wrap_pyfunction!(spmd_merge_column_moments, m)?)?;
    m.add_function(wrap_pyfunction!(pca_from_moments, m)?)?;
    Ok(())
}

/// The core's [`Collective`] over a Python callable `allgather(array of
/// float64) -> list of arrays, in rank order`. The callable runs with the
/// GIL taken back; a Python exception it raises is kept and re-raised by
/// [`PyCollective::finish`] in place of the core's error.
pub(crate) struct PyCollective {
    allgather: Py<PyAny>,
    rank: usize,
    error: Mutex<Option<PyErr>>,
}

impl PyCollective {
    /// `allgather` also has this rank's index as its `rank` attribute.
    pub(crate) fn new(py: Python<'_>, allgather: Py<PyAny>) -> PyResult<Self> {
        let rank = allgather.bind(py).getattr("rank")?.extract()?;
        Ok(PyCollective {
            allgather,
            rank,
            error: Mutex::new(None),
        })
    }

    /// The result of a fit that used this collective, as a Python result:
    /// the callable's own exception when it raised one.
    pub(crate) fn finish<R>(self, r: oxlearn_core::Result<R>) -> PyResult<R> {
        let kept = self.error.into_inner().ok().flatten();
        match (r, kept) {
            (Ok(v), _) => Ok(v),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(core_err(e)),
        }
    }
}

impl Collective for PyCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn allgather(&mut self, local: &[f64]) -> oxlearn_core::Result<Vec<Vec<f64>>> {
        Python::attach(|py| -> PyResult<Vec<Vec<f64>>> {
            let arr = PyArray1::from_slice(py, local);
            let parts = self.allgather.bind(py).call1((arr,))?;
            let parts = parts.cast::<PyList>()?;
            parts
                .iter()
                .map(|p| {
                    Ok(p.extract::<PyReadonlyArray1<'_, f64>>()?
                        .as_array()
                        .to_vec())
                })
                .collect()
        })
        .map_err(|e| {
            let msg = format!("the allgather between ranks failed: {e}");
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert(e);
            }
            Error::NumericalFailure(msg)
        })
    }
}

/// This rank's moments of `[X | y]` (empty when it holds no row), as the
/// dict `moments_update` returns.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, centered, chunk_rows, n_threads))]
fn spmd_local_moments<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    centered: bool,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        y: &Bound<'py, PyAny>,
        w: Option<&Bound<'py, PyAny>>,
        centered: bool,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = y.py();
        let (y, w) = targets::<T>(y, w)?;
        let (xv, yv) = (mat_ref(&x), mat_ref(&y));
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        let m = py
            .detach(|| {
                with_threads(n_threads, || {
                    spmd::local_moments(xv, yv, wv, centered, chunk_rows)
                })
            })?
            .map_err(core_err)?;
        moments_to_py(py, &m)
    }
    dispatch_float!(x, go(y, sample_weight, centered, chunk_rows, n_threads))
}

/// The ranks' moments (dicts, in rank order) merged in that order.
#[pyfunction]
fn spmd_merge_moments<'py>(
    py: Python<'py>,
    states: Vec<Bound<'py, PyDict>>,
    centered: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let parts = states
        .iter()
        .map(|s| moments_from_py(s, centered))
        .collect::<PyResult<Vec<_>>>()?;
    let m = spmd::merge_moments(&parts).map_err(core_err)?;
    moments_to_py(py, &m)
}

/// This rank's per-feature moments (empty when it holds no row).
#[pyfunction]
#[pyo3(signature = (x, sample_weight, chunk_rows, n_threads))]
fn spmd_local_column_moments<'py>(
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        w: Option<&Bound<'py, PyAny>>,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = w
            .map(|w| w.extract::<PyReadonlyArray1<'py, T>>())
            .transpose()?;
        let xv = mat_ref(&x);
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        let m = py
            .detach(|| with_threads(n_threads, || spmd::local_column_moments(xv, wv, chunk_rows)))?
            .map_err(core_err)?;
        column_moments_to_py(py, &m)
    }
    let py = x.py();
    dispatch_float!(x, go(py, sample_weight, chunk_rows, n_threads))
}

/// The ranks' per-feature moments merged in rank order.
#[pyfunction]
fn spmd_merge_column_moments<'py>(
    py: Python<'py>,
    states: Vec<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let parts = states
        .iter()
        .map(column_moments_from_py)
        .collect::<PyResult<Vec<_>>>()?;
    let m = spmd::merge_column_moments(&parts).map_err(core_err)?;
    column_moments_to_py(py, &m)
}

/// The full PCA spectrum of merged centred moments: `(mean, components,
/// explained_variance, singular_values)` as float64 arrays, as `fit_pca`.
#[pyfunction]
fn pca_from_moments<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyTuple>> {
    let m = moments_from_py(state, true)?;
    let s = py
        .detach(|| dec::spectrum_from_moments(&m))
        .map_err(core_err)?;
    (
        vec_py(py, s.mean)?,
        mat_to_py(py, s.components.as_ref())?,
        vec_py(py, s.explained_variance)?,
        vec_py(py, s.singular_values)?,
    )
        .into_pyobject(py)
}
