//! Bindings of `oxlearn_core::cluster::kmeans`.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use crate::spmd::PyCollective;
use crate::threads::{with_threads_for, work};
use numpy::ndarray::{Array1, Array2};
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use oxlearn_core::cluster::{self as cl, KMeansInit, KMeansParams};
use oxlearn_core::Real;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_kmeans, m)?)?;
    m.add_function(wrap_pyfunction!(predict_kmeans, m)?)?;
    m.add_function(wrap_pyfunction!(transform_kmeans, m)?)?;
    m.add_function(wrap_pyfunction!(inertia_kmeans, m)?)?;
    Ok(())
}

/// The optional sample weights, with `X`'s dtype.
fn weights<'py, T: Element>(
    w: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArray1<'py, T>>> {
    w.map(|w| w.extract::<PyReadonlyArray1<'py, T>>())
        .transpose()
        .map_err(|_| {
            PyTypeError::new_err("sample_weight must be a 1-D array with the same dtype as X")
        })
}

/// k-means. `init_centers` (n_init, k, p) gives the initial centres of each
/// run, or `init_draws` (n_init, 1 + (k - 1) * n_local_trials) the uniform
/// draws of each run's k-means++. Returns `(cluster_centers_ (k, p) in X's
/// dtype, labels_ int32, inertia_, n_iter_)`.
///
/// Distributed (SPMD) when `allgather` is given (see `PyCollective`): `x` is
/// this rank's rows, starting at global row `row_offset`, and the labels
/// are this rank's.
#[pyfunction]
/// `device`: a GPU ordinal for the E-steps (None: the CPU; not distributed).
#[pyo3(signature = (x, sample_weight, init_centers, init_draws, n_clusters, max_iter, tol, n_local_trials, chunk_rows, n_threads, allgather=None, row_offset=0, device=None))]
#[allow(clippy::too_many_arguments)]
fn fit_kmeans<'py>(
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    init_centers: Option<PyReadonlyArray3<'py, f64>>,
    init_draws: Option<PyReadonlyArray2<'py, f64>>,
    n_clusters: usize,
    max_iter: usize,
    tol: f64,
    n_local_trials: usize,
    chunk_rows: usize,
    n_threads: Option<usize>,
    allgather: Option<Py<PyAny>>,
    row_offset: usize,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    if device.is_some() && allgather.is_some() {
        return Err(PyValueError::new_err(
            "a distributed k-means fit cannot run on a GPU; pass device=None",
        ));
    }
    let inits: Vec<KMeansInit> = match (&init_centers, &init_draws) {
        (Some(c), None) => c
            .as_array()
            .outer_iter()
            .map(|run| KMeansInit::Centers(run.iter().copied().collect()))
            .collect(),
        (None, Some(d)) => d
            .as_array()
            .outer_iter()
            .map(|run| KMeansInit::PlusPlus(run.to_vec()))
            .collect(),
        _ => {
            return Err(PyValueError::new_err(
                "exactly one of init_centers and init_draws must be given",
            ))
        }
    };
    if let Some(c) = &init_centers {
        let s = c.as_array().shape().to_vec();
        if s[1] != n_clusters {
            return Err(PyValueError::new_err(format!(
                "the initial centres have {} rows for n_clusters = {n_clusters}",
                s[1]
            )));
        }
    }
    let params = KMeansParams {
        n_clusters,
        max_iter,
        tol,
        n_local_trials,
        chunk_rows,
    };
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        w: Option<&Bound<'py, PyAny>>,
        inits: &[KMeansInit],
        params: &KMeansParams,
        n_threads: Option<usize>,
        allgather: Option<Py<PyAny>>,
        row_offset: usize,
        device: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let w = weights::<T>(w)?;
        let xv = mat_ref(&x);
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        let p = xv.ncols();
        let fit = match allgather {
            None => py
                .detach(|| {
                    with_threads(n_threads, || match device {
                        None => cl::fit_kmeans(xv, wv, inits, params),
                        Some(d) => oxlearn_core::gpu::fit_kmeans(d, xv, wv, inits, params),
                    })
                })?
                .map_err(core_err)?,
            Some(f) => {
                let mut coll = PyCollective::new(py, f)?;
                let r = py.detach(|| {
                    with_threads(n_threads, || {
                        cl::fit_kmeans_distributed(xv, wv, inits, params, &mut coll, row_offset)
                    })
                })?;
                coll.finish(r)?
            }
        };
        let k = fit.centers.len() / p.max(1);
        let centers = Array2::from_shape_vec(
            (k, p),
            fit.centers.iter().map(|&v| T::from_f64(v)).collect(),
        )
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        (
            centers.into_pyarray(py),
            Array1::from(fit.labels).into_pyarray(py),
            fit.inertia,
            fit.n_iter,
        )
            .into_pyobject(py)
    }
    let py = x.py();
    dispatch_float!(
        x,
        go(
            py,
            sample_weight,
            &inits,
            &params,
            n_threads,
            allgather,
            row_offset,
            device
        )
    )
}

/// Nearest centre of each row of X, as int32.
#[pyfunction]
#[pyo3(signature = (x, centers, chunk_rows, n_threads))]
fn predict_kmeans<'py>(
    x: &Bound<'py, PyAny>,
    centers: PyReadonlyArray2<'py, f64>,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        centers: &PyReadonlyArray2<'py, f64>,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (xv, cv) = (mat_ref(&x), mat_ref(centers));
        let mut out = vec![0i32; xv.nrows()];
        let w = work(&[xv.nrows(), cv.nrows(), xv.ncols()]);
        py.detach(|| {
            with_threads_for(n_threads, w, || {
                cl::predict_kmeans(xv, cv, chunk_rows, &mut out)
            })
        })?
        .map_err(core_err)?;
        Array1::from(out).into_pyarray(py).into_bound_py_any(py)
    }
    let py = x.py();
    dispatch_float!(x, go(py, &centers, chunk_rows, n_threads))
}

/// Euclidean distances of the rows of X to the centres, (n, k) float64.
#[pyfunction]
#[pyo3(signature = (x, centers, chunk_rows, n_threads))]
fn transform_kmeans<'py>(
    x: &Bound<'py, PyAny>,
    centers: PyReadonlyArray2<'py, f64>,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        centers: &PyReadonlyArray2<'py, f64>,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (xv, cv) = (mat_ref(&x), mat_ref(centers));
        let (n, k) = (xv.nrows(), cv.nrows());
        let mut out = vec![0f64; n * k];
        py.detach(|| {
            with_threads_for(n_threads, work(&[n, k, xv.ncols()]), || {
                cl::transform_kmeans(xv, cv, chunk_rows, &mut out)
            })
        })?
        .map_err(core_err)?;
        Array2::from_shape_vec((n, k), out)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py)
            .into_bound_py_any(py)
    }
    let py = x.py();
    dispatch_float!(x, go(py, &centers, chunk_rows, n_threads))
}

/// Weighted inertia of X with its nearest centres (minus `score`).
#[pyfunction]
#[pyo3(signature = (x, sample_weight, centers, chunk_rows, n_threads))]
fn inertia_kmeans<'py>(
    x: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    centers: PyReadonlyArray2<'py, f64>,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        w: Option<&Bound<'py, PyAny>>,
        centers: &PyReadonlyArray2<'py, f64>,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<f64> {
        let w = weights::<T>(w)?;
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        let (xv, cv) = (mat_ref(&x), mat_ref(centers));
        py.detach(|| with_threads(n_threads, || cl::inertia_kmeans(xv, wv, cv, chunk_rows)))?
            .map_err(core_err)
    }
    let py = x.py();
    dispatch_float!(x, go(py, sample_weight, &centers, chunk_rows, n_threads))
}
