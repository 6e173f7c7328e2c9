//! Bindings of `oxlearn_core::linear_model`.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use crate::spmd::PyCollective;
use crate::threads::{with_threads_for, work};
use faer::{Mat, MatRef};
use numpy::ndarray::{Array1, Array2};
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::gpu;
use oxlearn_core::linalg::Moments;
use oxlearn_core::linear_model::{
    self as lm, ElasticNetParams, LeastSquaresParams, LinearFit, LogisticOutput, LogisticParams,
    LogisticSolver, RidgeParams, Selection,
};
use oxlearn_core::optimize::Termination;
use oxlearn_core::Real;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_linear_regression, m)?)?;
    m.add_function(wrap_pyfunction!(fit_ridge, m)?)?;
    m.add_function(wrap_pyfunction!(fit_elastic_net, m)?)?;
    m.add_function(wrap_pyfunction!(moments_update, m)?)?;
    m.add_function(wrap_pyfunction!(linear_from_moments, m)?)?;
    m.add_function(wrap_pyfunction!(predict_linear, m)?)?;
    m.add_function(wrap_pyfunction!(fit_logistic_regression, m)?)?;
    m.add_function(wrap_pyfunction!(predict_logistic, m)?)?;
    Ok(())
}

/// Extracts `y` (2-D) and the optional weights with `X`'s dtype.
pub(crate) fn targets<'py, T: Element>(
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
) -> PyResult<(PyReadonlyArray2<'py, T>, Option<PyReadonlyArray1<'py, T>>)> {
    let y = y
        .extract::<PyReadonlyArray2<'py, T>>()
        .map_err(|_| PyTypeError::new_err("y must be a 2-D array with the same dtype as X"))?;
    let w = sample_weight
        .map(|w| w.extract::<PyReadonlyArray1<'py, T>>())
        .transpose()
        .map_err(|_| {
            PyTypeError::new_err("sample_weight must be a 1-D array with the same dtype as X")
        })?;
    Ok((y, w))
}

fn fit_to_py<'py, T: Element + Real>(
    py: Python<'py>,
    fit: &LinearFit,
) -> PyResult<Bound<'py, PyTuple>> {
    let (t, p) = fit.coef.shape();
    let coef = Array2::from_shape_vec((t, p), lm::coef_as::<T>(fit.coef.as_ref()))
        .map_err(|e| PyValueError::new_err(e.to_string()))?
        .into_pyarray(py);
    let intercept: Array1<T> = fit.intercept.iter().map(|&v| T::from_f64(v)).collect();
    let singular = fit.singular.as_ref().map(|s| {
        s.iter()
            .map(|&v| T::from_f64(v))
            .collect::<Array1<T>>()
            .into_pyarray(py)
    });
    (coef, intercept.into_pyarray(py), fit.rank, singular).into_pyobject(py)
}

/// Which linear fit to run (one binding path serves both).
enum LinearSpec {
    LeastSquares(LeastSquaresParams),
    Ridge(RidgeParams),
}

fn fit_linear<'py, T: Element + Real>(
    x: PyReadonlyArray2<'py, T>,
    y: &Bound<'py, PyAny>,
    w: Option<&Bound<'py, PyAny>>,
    spec: LinearSpec,
    n_threads: Option<usize>,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let py = y.py();
    let (y, w) = targets::<T>(y, w)?;
    let (xv, yv) = (mat_ref(&x), mat_ref(&y));
    let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
    let fit = py
        .detach(|| {
            with_threads(n_threads, || match (&spec, device) {
                (LinearSpec::LeastSquares(p), None) => lm::fit_least_squares(xv, yv, wv, p),
                (LinearSpec::Ridge(p), None) => lm::fit_ridge(xv, yv, wv, p),
                (LinearSpec::LeastSquares(p), Some(d)) => gpu::fit_least_squares(d, xv, yv, wv, p),
                (LinearSpec::Ridge(p), Some(d)) => gpu::fit_ridge(d, xv, yv, wv, p),
            })
        })?
        .map_err(core_err)?;
    fit_to_py::<T>(py, &fit)
}

/// Least squares. Returns `(coef (t, p), intercept (t,), rank, singular)` in X's dtype.
#[pyfunction]
/// `device`: a GPU ordinal to compute the moments on (None: the CPU).
#[pyo3(signature = (x, y, sample_weight, fit_intercept, tol, chunk_rows, n_threads, device=None))]
#[allow(clippy::too_many_arguments)]
fn fit_linear_regression<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    fit_intercept: bool,
    tol: f64,
    chunk_rows: usize,
    n_threads: Option<usize>,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let spec = LinearSpec::LeastSquares(LeastSquaresParams {
        fit_intercept,
        tol,
        chunk_rows,
    });
    dispatch_float!(x, fit_linear(y, sample_weight, spec, n_threads, device))
}

/// Ridge. Returns `(coef (t, p), intercept (t,), None, None)` in X's dtype.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, alpha, fit_intercept, chunk_rows, n_threads, device=None))]
#[allow(clippy::too_many_arguments)]
fn fit_ridge<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    alpha: Vec<f64>,
    fit_intercept: bool,
    chunk_rows: usize,
    n_threads: Option<usize>,
    device: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let spec = LinearSpec::Ridge(RidgeParams {
        alpha,
        fit_intercept,
        chunk_rows,
    });
    dispatch_float!(x, fit_linear(y, sample_weight, spec, n_threads, device))
}

/// Elastic net by coordinate descent. `selection` is "cyclic" or "random";
/// `seeds` holds one `rand_r` seed per target. Returns `(coef (t, p),
/// intercept (t,), dual_gap (t,))` in X's dtype, then per target lists of
/// `n_iter`, the solver's gap, its tolerance and whether it converged.
#[pyfunction]
#[pyo3(signature = (
    x, y, sample_weight, coef_init, alpha, l1_ratio, fit_intercept, precompute, max_iter, tol,
    positive, selection, seeds, chunk_rows, n_threads
))]
#[allow(clippy::too_many_arguments)]
fn fit_elastic_net<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    coef_init: Option<PyReadonlyArray2<'py, f64>>,
    alpha: f64,
    l1_ratio: f64,
    fit_intercept: bool,
    precompute: bool,
    max_iter: usize,
    tol: f64,
    positive: bool,
    selection: &str,
    seeds: Vec<u32>,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let selection = match selection {
        "cyclic" => Selection::Cyclic,
        "random" => Selection::Random,
        other => {
            return Err(PyValueError::new_err(format!(
                "selection {other:?} is not one of 'cyclic', 'random'"
            )))
        }
    };
    let params = ElasticNetParams {
        alpha,
        l1_ratio,
        fit_intercept,
        max_iter,
        tol,
        positive,
        selection,
        seeds,
        precompute,
        chunk_rows,
    };
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        y: &Bound<'py, PyAny>,
        w: Option<&Bound<'py, PyAny>>,
        coef_init: Option<&PyReadonlyArray2<'py, f64>>,
        params: &ElasticNetParams,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = y.py();
        let (y, w) = targets::<T>(y, w)?;
        let (xv, yv) = (mat_ref(&x), mat_ref(&y));
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        let init = coef_init.map(mat_ref);
        let fit = py
            .detach(|| with_threads(n_threads, || lm::fit_elastic_net(xv, yv, wv, init, params)))?
            .map_err(core_err)?;
        let (t, p) = fit.coef.shape();
        let coef = Array2::from_shape_vec((t, p), lm::coef_as::<T>(fit.coef.as_ref()))
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py);
        let to_t = |v: &[f64]| v.iter().map(|&v| T::from_f64(v)).collect::<Array1<T>>();
        (
            coef,
            to_t(&fit.intercept).into_pyarray(py),
            to_t(&fit.dual_gap).into_pyarray(py),
            fit.n_iter,
            fit.raw_gap,
            fit.raw_tol,
            fit.converged,
        )
            .into_pyobject(py)
    }
    dispatch_float!(
        x,
        go(y, sample_weight, coef_init.as_ref(), &params, n_threads)
    )
}

pub(crate) fn mat_to_py<'py>(py: Python<'py>, m: MatRef<'_, f64>) -> PyResult<Bound<'py, PyAny>> {
    let (r, c) = m.shape();
    Array2::from_shape_fn((r, c), |(i, j)| m[(i, j)])
        .into_pyarray(py)
        .into_bound_py_any(py)
}

pub(crate) fn moments_to_py<'py>(py: Python<'py>, m: &Moments) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n_samples", m.n_samples)?;
    d.set_item("sum_weights", m.sum_weights)?;
    d.set_item("mean_x", Array1::from(m.mean_x.clone()).into_pyarray(py))?;
    d.set_item("mean_y", Array1::from(m.mean_y.clone()).into_pyarray(py))?;
    d.set_item("cxx", mat_to_py(py, m.cxx.as_ref())?)?;
    d.set_item("cxy", mat_to_py(py, m.cxy.as_ref())?)?;
    Ok(d)
}

pub(crate) fn moments_from_py(d: &Bound<'_, PyDict>, centered: bool) -> PyResult<Moments> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(k)?
            .ok_or_else(|| PyValueError::new_err(format!("moments state lacks {k:?}")))
    };
    let vec = |k: &str| -> PyResult<Vec<f64>> {
        Ok(get(k)?
            .extract::<PyReadonlyArray1<'_, f64>>()?
            .as_array()
            .to_vec())
    };
    let mat = |k: &str| -> PyResult<Mat<f64>> {
        let a = get(k)?.extract::<PyReadonlyArray2<'_, f64>>()?;
        Ok(mat_ref(&a).to_owned())
    };
    let m = Moments {
        n_samples: get("n_samples")?.extract()?,
        sum_weights: get("sum_weights")?.extract()?,
        centered,
        mean_x: vec("mean_x")?,
        mean_y: vec("mean_y")?,
        cxx: mat("cxx")?,
        cxy: mat("cxy")?,
    };
    let (p, t) = (m.mean_x.len(), m.mean_y.len());
    if m.cxx.shape() != (p, p) || m.cxy.shape() != (p, t) {
        return Err(PyValueError::new_err(format!(
            "inconsistent moments state: mean_x has {p} features, mean_y {t} targets, cxx is {:?}, cxy is {:?}",
            m.cxx.shape(),
            m.cxy.shape()
        )));
    }
    Ok(m)
}

/// Adds a batch to accumulated moments (`state` None: start afresh).
/// Returns the new state as a dict of Python numbers and float64 arrays.
#[pyfunction]
#[pyo3(signature = (state, x, y, sample_weight, fit_intercept, chunk_rows, n_threads))]
#[allow(clippy::too_many_arguments)]
fn moments_update<'py>(
    py: Python<'py>,
    state: Option<&Bound<'py, PyDict>>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    fit_intercept: bool,
    chunk_rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        y: &Bound<'py, PyAny>,
        w: Option<&Bound<'py, PyAny>>,
        mut acc: Option<Moments>,
        fit_intercept: bool,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = y.py();
        let (y, w) = targets::<T>(y, w)?;
        let (xv, yv) = (mat_ref(&x), mat_ref(&y));
        let wv = w.as_ref().map(|w| slice(w, "sample_weight")).transpose()?;
        if let Some(a) = &acc {
            if a.n_features() != xv.ncols() || a.n_targets() != yv.ncols() {
                return Err(PyValueError::new_err(format!(
                    "X has {} features and y {} targets, but the model was fitted so far on {} features and {} targets",
                    xv.ncols(),
                    yv.ncols(),
                    a.n_features(),
                    a.n_targets()
                )));
            }
        }
        let batch = py
            .detach(|| {
                with_threads(n_threads, || {
                    Moments::from_data(xv, yv, wv, fit_intercept, chunk_rows)
                })
            })?
            .map_err(core_err)?;
        let merged = match acc.take() {
            Some(mut a) => {
                a.merge(&batch);
                a
            }
            None => batch,
        };
        moments_to_py(py, &merged)
    }
    let _ = py;
    let acc = state
        .map(|s| moments_from_py(s, fit_intercept))
        .transpose()?;
    dispatch_float!(
        x,
        go(y, sample_weight, acc, fit_intercept, chunk_rows, n_threads)
    )
}

/// Solves accumulated moments: least squares (`alpha` None) or ridge.
/// Returns `(coef (t, p), intercept (t,), rank)` in float64.
#[pyfunction]
#[pyo3(signature = (state, fit_intercept, alpha=None))]
fn linear_from_moments<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyDict>,
    fit_intercept: bool,
    alpha: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let m = moments_from_py(state, fit_intercept)?;
    let fit = py
        .detach(|| match &alpha {
            None => lm::least_squares_from_moments(&m),
            Some(a) => lm::ridge_fit_from_moments(&m, a),
        })
        .map_err(core_err)?;
    (
        mat_to_py(py, fit.coef.as_ref())?,
        Array1::from(fit.intercept).into_pyarray(py),
        fit.rank,
    )
        .into_pyobject(py)
}

/// `coef` (2-D) and `intercept` (1-D) as arrays of X's dtype `T`.
fn linear_params<'py, T: Element>(
    coef: &Bound<'py, PyAny>,
    intercept: &Bound<'py, PyAny>,
) -> PyResult<(PyReadonlyArray2<'py, T>, PyReadonlyArray1<'py, T>)> {
    let coef = coef
        .extract::<PyReadonlyArray2<'py, T>>()
        .map_err(|_| PyTypeError::new_err("coef must be a 2-D array with the same dtype as X"))?;
    let b = intercept
        .extract::<PyReadonlyArray1<'py, T>>()
        .map_err(|_| {
            PyTypeError::new_err("intercept must be a 1-D array with the same dtype as X")
        })?;
    Ok((coef, b))
}

/// `X @ coef.T + intercept` as an (n, t) array of X's dtype.
#[pyfunction]
#[pyo3(signature = (x, coef, intercept, n_threads=None))]
fn predict_linear<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: &Bound<'py, PyAny>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        coef: &Bound<'py, PyAny>,
        intercept: &Bound<'py, PyAny>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = coef.py();
        let (coef, b) = linear_params::<T>(coef, intercept)?;
        let (xv, cv) = (mat_ref(&x), mat_ref(&coef));
        let bv = slice(&b, "intercept")?;
        let (n, t) = (xv.nrows(), cv.nrows());
        let mut out = vec![T::from_f64(0.0); n * t];
        let w = work(&[n, xv.ncols(), t]);
        py.detach(|| with_threads_for(n_threads, w, || lm::predict_linear(xv, cv, bv, &mut out)))?
            .map_err(core_err)?;
        Array2::from_shape_vec((n, t), out)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py)
            .into_bound_py_any(py)
    }
    let _ = py;
    dispatch_float!(x, go(coef, intercept, n_threads))
}

/// Logistic regression. `y` holds class indices (uint32) in `0..n_classes`.
/// Returns `(coef (k, p), intercept (k,), n_iter, status, message, loss)`
/// with coef/intercept in X's dtype and `status` one of `"converged"`,
/// `"max_iter"`, `"line_search_failed"`.
///
/// Distributed (SPMD) when `allgather` is given (see `PyCollective`): `x`,
/// `y` are this rank's rows, and every rank gets the same coefficients.
#[pyfunction]
#[pyo3(signature = (
    x, y, sample_weight, n_classes, solver, c, fit_intercept, max_iter, tol,
    init_coef, init_intercept, chunk_rows, n_threads, allgather=None
))]
#[allow(clippy::too_many_arguments)]
fn fit_logistic_regression<'py>(
    x: &Bound<'py, PyAny>,
    y: PyReadonlyArray1<'py, u32>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    n_classes: usize,
    solver: &str,
    c: f64,
    fit_intercept: bool,
    max_iter: usize,
    tol: f64,
    init_coef: Option<PyReadonlyArray2<'py, f64>>,
    init_intercept: Option<PyReadonlyArray1<'py, f64>>,
    chunk_rows: usize,
    n_threads: Option<usize>,
    allgather: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let solver = match solver {
        "lbfgs" => LogisticSolver::Lbfgs,
        "newton-cg" => LogisticSolver::NewtonCg,
        other => {
            return Err(PyValueError::new_err(format!(
                "solver {other:?} is not implemented in oxlearn; use 'lbfgs' or 'newton-cg'"
            )))
        }
    };
    let params = LogisticParams {
        solver,
        c,
        fit_intercept,
        max_iter,
        tol,
        chunk_rows,
    };
    struct Args<'a, 'py> {
        y: &'a PyReadonlyArray1<'py, u32>,
        w: Option<&'a PyReadonlyArray1<'py, f64>>,
        init: Option<(
            &'a PyReadonlyArray2<'py, f64>,
            &'a PyReadonlyArray1<'py, f64>,
        )>,
        n_classes: usize,
        params: &'a LogisticParams,
        n_threads: Option<usize>,
        allgather: Option<Py<PyAny>>,
    }
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        a: &Args<'_, 'py>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let py = x.py();
        let xv = mat_ref(&x);
        let yv = slice(a.y, "y")?;
        let wv = a.w.map(|w| slice(w, "sample_weight")).transpose()?;
        let init = match a.init {
            Some((c, b)) => Some((mat_ref(c), slice(b, "intercept")?)),
            None => None,
        };
        let (n_classes, params, n_threads) = (a.n_classes, a.params, a.n_threads);
        let fit = match &a.allgather {
            None => py
                .detach(|| {
                    with_threads(n_threads, || {
                        lm::fit_logistic(xv, yv, n_classes, wv, init, params)
                    })
                })?
                .map_err(core_err)?,
            Some(f) => {
                let mut coll = PyCollective::new(py, f.clone_ref(py))?;
                let r = py.detach(|| {
                    with_threads(n_threads, || {
                        lm::fit_logistic_distributed(xv, yv, n_classes, wv, init, params, &mut coll)
                    })
                })?;
                coll.finish(r)?
            }
        };
        let (k, p) = fit.coef.shape();
        let coef = Array2::from_shape_vec((k, p), lm::coef_as::<T>(fit.coef.as_ref()))
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py);
        let intercept: Array1<T> = fit.intercept.iter().map(|&v| T::from_f64(v)).collect();
        let status = match fit.termination {
            Termination::Converged => "converged",
            Termination::MaxIter => "max_iter",
            Termination::LineSearchFailed => "line_search_failed",
        };
        (
            coef,
            intercept.into_pyarray(py),
            fit.n_iter,
            status,
            fit.message,
            fit.loss,
        )
            .into_pyobject(py)
    }
    let init = match (&init_coef, &init_intercept) {
        (Some(c), Some(b)) => Some((c, b)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "init_coef and init_intercept must be given together",
            ))
        }
    };
    let args = Args {
        y: &y,
        w: sample_weight.as_ref(),
        init,
        n_classes,
        params: &params,
        n_threads,
        allgather,
    };
    dispatch_float!(x, go(&args))
}

/// Outputs of a fitted logistic regression for `x`: `what` is `"decision"`
/// ((n, k), X's dtype), `"proba"` / `"log_proba"` ((n, max(k, 2)), X's
/// dtype) or `"classes"` ((n,) int64 indices into `classes_`).
#[pyfunction]
#[pyo3(signature = (x, coef, intercept, what, n_threads=None))]
fn predict_logistic<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: &Bound<'py, PyAny>,
    what: &str,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        coef: &Bound<'py, PyAny>,
        intercept: &Bound<'py, PyAny>,
        what: &str,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = coef.py();
        let (coef, b) = linear_params::<T>(coef, intercept)?;
        let (xv, cv) = (mat_ref(&x), mat_ref(&coef));
        let bv = slice(&b, "intercept")?;
        let (n, k) = (xv.nrows(), cv.nrows());
        let output = match what {
            "decision" => None,
            "proba" => Some(LogisticOutput::Proba),
            "log_proba" => Some(LogisticOutput::LogProba),
            "classes" => None,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown output {other:?}; expected decision, proba, log_proba or classes"
                )))
            }
        };
        let mut decision = vec![T::from_f64(0.0); n * k];
        let run = || -> oxlearn_core::Result<Option<Vec<i64>>> {
            lm::predict_linear(xv, cv, bv, &mut decision)?;
            if what == "classes" {
                let mut idx = vec![0i64; n];
                lm::logistic_classes(&decision, k, &mut idx)?;
                return Ok(Some(idx));
            }
            Ok(None)
        };
        let classes = py
            .detach(|| with_threads_for(n_threads, work(&[n, xv.ncols(), k]), run))?
            .map_err(core_err)?;
        if let Some(idx) = classes {
            return Array1::from(idx).into_pyarray(py).into_bound_py_any(py);
        }
        let (cols, out) = match output {
            None => (k, decision),
            Some(o) => {
                let cols = k.max(2);
                let mut out = vec![T::from_f64(0.0); n * cols];
                py.detach(|| {
                    with_threads_for(n_threads, work(&[n, k, 8]), || {
                        lm::logistic_outputs(&decision, k, o, &mut out)
                    })
                })?
                .map_err(core_err)?;
                (cols, out)
            }
        };
        Array2::from_shape_vec((n, cols), out)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py)
            .into_bound_py_any(py)
    }
    let _ = py;
    dispatch_float!(x, go(coef, intercept, what, n_threads))
}
