//! Bindings of `oxlearn_core::decomposition`.

use crate::arrays::{mat_ref, with_threads};
use crate::error::core_err;
use crate::linear_model::mat_to_py;
use crate::threads::{with_threads_for, work};
use faer::Mat;
use numpy::ndarray::Array1;
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::decomposition::{self as dec, IpcaState, PcaSolver};
use oxlearn_core::Real;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_pca, m)?)?;
    m.add_function(wrap_pyfunction!(pca_transform_map, m)?)?;
    m.add_function(wrap_pyfunction!(ipca_partial_fit, m)?)?;
    Ok(())
}

pub(crate) fn vec_py<'py>(py: Python<'py>, v: Vec<f64>) -> PyResult<Bound<'py, PyAny>> {
    Array1::from(v).into_pyarray(py).into_bound_py_any(py)
}

fn vec_of(a: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    Ok(a.extract::<PyReadonlyArray1<'_, f64>>()?
        .as_array()
        .to_vec())
}

fn mat_of(a: &Bound<'_, PyAny>) -> PyResult<Mat<f64>> {
    let a = a.extract::<PyReadonlyArray2<'_, f64>>()?;
    Ok(mat_ref(&a).to_owned())
}

/// The full PCA spectrum of X: `(mean, components, explained_variance,
/// singular_values)` as float64 arrays; `solver` is "full" or "covariance_eigh".
#[pyfunction]
/// `device`: a GPU ordinal to compute the covariance on (None: the CPU).
#[pyo3(signature = (x, solver, chunk_rows, n_threads, device=None))]
fn fit_pca<'py>(
    x: &Bound<'py, PyAny>,
    solver: &str,
    chunk_rows: usize,
    n_threads: Option<usize>,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let solver = match solver {
        "full" => PcaSolver::Full,
        "covariance_eigh" => PcaSolver::CovarianceEigh,
        other => {
            return Err(PyValueError::new_err(format!(
                "svd_solver={other:?} is not computed by oxlearn (full, covariance_eigh)"
            )))
        }
    };
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        solver: PcaSolver,
        chunk_rows: usize,
        n_threads: Option<usize>,
        device: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let xv = mat_ref(&x);
        let s = py
            .detach(|| {
                with_threads(n_threads, || match device {
                    None => dec::fit_pca(xv, solver, chunk_rows),
                    Some(d) => oxlearn_core::gpu::fit_pca(d, xv, solver, chunk_rows),
                })
            })?
            .map_err(core_err)?;
        (
            vec_py(py, s.mean)?,
            mat_to_py(py, s.components.as_ref())?,
            vec_py(py, s.explained_variance)?,
            vec_py(py, s.singular_values)?,
        )
            .into_pyobject(py)
    }
    let py = x.py();
    dispatch_float!(x, go(py, solver, chunk_rows, n_threads, device))
}

/// `(coef, intercept)` of the PCA transform as a linear map (float64).
#[pyfunction]
#[pyo3(signature = (components, mean, whiten_variance, eps))]
fn pca_transform_map<'py>(
    py: Python<'py>,
    components: &Bound<'py, PyAny>,
    mean: &Bound<'py, PyAny>,
    whiten_variance: Option<&Bound<'py, PyAny>>,
    eps: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let c = mat_of(components)?;
    let var = whiten_variance.map(vec_of).transpose()?;
    let (coef, intercept) = dec::pca_transform_map(c.as_ref(), &vec_of(mean)?, var.as_deref(), eps)
        .map_err(core_err)?;
    (mat_to_py(py, coef.as_ref())?, vec_py(py, intercept)?).into_pyobject(py)
}

/// One incremental-PCA batch. `state` is None for the first batch, else a
/// dict with n_samples_seen, mean, var, components, singular_values; the
/// returned dict adds explained_variance, explained_variance_ratio and
/// noise_variance (all float64).
#[pyfunction]
#[pyo3(signature = (state, x, n_components, n_threads=None))]
fn ipca_partial_fit<'py>(
    py: Python<'py>,
    state: Option<&Bound<'py, PyDict>>,
    x: &Bound<'py, PyAny>,
    n_components: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let state = state
        .map(|d| -> PyResult<IpcaState> {
            let get = |k: &str| -> PyResult<Bound<'py, PyAny>> {
                d.get_item(k)?.ok_or_else(|| {
                    PyValueError::new_err(format!("incremental PCA state lacks {k:?}"))
                })
            };
            Ok(IpcaState {
                n_samples_seen: get("n_samples_seen")?.extract()?,
                mean: vec_of(&get("mean")?)?,
                var: vec_of(&get("var")?)?,
                components: mat_of(&get("components")?)?,
                singular_values: vec_of(&get("singular_values")?)?,
            })
        })
        .transpose()?;
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        state: Option<&IpcaState>,
        k: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let xv = mat_ref(&x);
        let step = py
            .detach(|| {
                let w = work(&[xv.nrows(), xv.ncols(), k.max(1)]);
                with_threads_for(n_threads, w, || dec::partial_fit_ipca(state, xv, k))
            })?
            .map_err(core_err)?;
        let d = PyDict::new(py);
        d.set_item("n_samples_seen", step.state.n_samples_seen)?;
        d.set_item("mean", vec_py(py, step.state.mean)?)?;
        d.set_item("var", vec_py(py, step.state.var)?)?;
        d.set_item("components", mat_to_py(py, step.state.components.as_ref())?)?;
        d.set_item("singular_values", vec_py(py, step.state.singular_values)?)?;
        d.set_item("explained_variance", vec_py(py, step.explained_variance)?)?;
        d.set_item(
            "explained_variance_ratio",
            vec_py(py, step.explained_variance_ratio)?,
        )?;
        d.set_item("noise_variance", step.noise_variance)?;
        Ok(d)
    }
    dispatch_float!(x, go(py, state.as_ref(), n_components, n_threads))
}
