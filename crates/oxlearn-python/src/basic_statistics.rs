//! Bindings of `oxlearn_core::basic_statistics`.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use numpy::ndarray::Array1;
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::basic_statistics::ColumnMoments;
use oxlearn_core::Real;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(column_moments_update, m)?)?;
    m.add_function(wrap_pyfunction!(basic_statistics, m)?)?;
    Ok(())
}

const VECTORS: [&str; 5] = ["sum", "mean", "m2", "min", "max"];

pub(crate) fn column_moments_to_py<'py>(
    py: Python<'py>,
    m: &ColumnMoments,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n_samples", m.n_samples)?;
    for (k, v) in VECTORS.iter().zip([&m.sum, &m.mean, &m.m2, &m.min, &m.max]) {
        d.set_item(*k, Array1::from(v.clone()).into_pyarray(py))?;
    }
    Ok(d)
}

pub(crate) fn column_moments_from_py(d: &Bound<'_, PyDict>) -> PyResult<ColumnMoments> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| PyValueError::new_err(format!("basic statistics state lacks {k:?}")))
    };
    let vec = |k: &str| -> PyResult<Vec<f64>> {
        Ok(get(k)?
            .extract::<PyReadonlyArray1<'_, f64>>()?
            .as_array()
            .to_vec())
    };
    let m = ColumnMoments {
        n_samples: get("n_samples")?.extract()?,
        sum: vec("sum")?,
        mean: vec("mean")?,
        m2: vec("m2")?,
        min: vec("min")?,
        max: vec("max")?,
    };
    let p = m.mean.len();
    if [&m.sum, &m.m2, &m.min, &m.max].iter().any(|v| v.len() != p) {
        return Err(PyValueError::new_err(
            "inconsistent basic statistics state: vectors of different lengths",
        ));
    }
    Ok(m)
}

/// Adds a batch (rows scaled by `sample_weight` when given) to accumulated
/// per-feature moments (`state` None: start afresh); returns the new state.
#[pyfunction]
/// `device`: a GPU ordinal to compute the batch's moments on (None: the CPU).
#[pyo3(signature = (state, x, sample_weight, chunk_rows, n_threads, device=None))]
fn column_moments_update<'py>(
    py: Python<'py>,
    state: Option<&Bound<'py, PyDict>>,
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    chunk_rows: usize,
    n_threads: Option<usize>,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        w: Option<&Bound<'py, PyAny>>,
        acc: Option<ColumnMoments>,
        chunk_rows: usize,
        n_threads: Option<usize>,
        device: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = w
            .map(|w| w.extract::<PyReadonlyArray1<'py, T>>())
            .transpose()?;
        let xv = mat_ref(&x);
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        if let Some(a) = &acc {
            if a.n_features() != xv.ncols() {
                return Err(PyValueError::new_err(format!(
                    "X has {} features, but the statistics so far are of {} features",
                    xv.ncols(),
                    a.n_features()
                )));
            }
        }
        let batch = py
            .detach(|| {
                with_threads(n_threads, || match device {
                    None => ColumnMoments::from_data(xv, wv, chunk_rows),
                    Some(d) => oxlearn_core::gpu::column_moments(d, xv, wv),
                })
            })?
            .map_err(core_err)?;
        let merged = match acc {
            Some(mut a) => {
                a.merge(&batch);
                a
            }
            None => batch,
        };
        column_moments_to_py(py, &merged)
    }
    let acc = state.map(column_moments_from_py).transpose()?;
    dispatch_float!(x, go(py, sample_weight, acc, chunk_rows, n_threads, device))
}

/// The reported statistics of accumulated moments, as float64 arrays keyed
/// by scikit-learn-intelex's result option names.
#[pyfunction]
fn basic_statistics<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = column_moments_from_py(state)?
        .statistics()
        .map_err(core_err)?;
    let d = PyDict::new(py);
    for (k, v) in [
        ("min", s.min),
        ("max", s.max),
        ("sum", s.sum),
        ("mean", s.mean),
        ("variance", s.variance),
        ("variation", s.variation),
        ("sum_squares", s.sum_squares),
        ("sum_squares_centered", s.sum_squares_centered),
        ("second_order_raw_moment", s.second_order_raw_moment),
        ("standard_deviation", s.standard_deviation),
    ] {
        d.set_item(k, Array1::from(v).into_pyarray(py))?;
    }
    Ok(d)
}
