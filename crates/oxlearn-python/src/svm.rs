//! Bindings of `oxlearn_core::svm` (SVC, NuSVC, OneClassSVM, SVR, NuSVR).

use crate::arrays::slice;
use crate::error::core_err;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::svm::{self, Kernel, SvmModelRef, SvmParams, SvmType};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_svm, m)?)?;
    m.add_function(wrap_pyfunction!(predict_svm, m)?)?;
    Ok(())
}

fn kernel(name: &str, degree: i64, gamma: f64, coef0: f64) -> PyResult<Kernel> {
    Kernel::from_name(name, degree, gamma, coef0).map_err(core_err)
}

fn rows<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<(&'a [f64], usize, usize)> {
    let (n, d) = (a.as_array().nrows(), a.as_array().ncols());
    let s = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))?;
    Ok((s, n, d))
}

type FitOut<'py> = (
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    i32,
    Bound<'py, PyArray1<i32>>,
);

/// Fits an SVM (float64, C-contiguous `x`); returns scikit-learn's
/// `(support_, support_vectors_, _n_support, dual_coef_, intercept_,
/// _probA, _probB, fit_status_, _num_iter)` with libsvm's signs.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, class_weight, svm_type, kernel_name, degree, gamma,
    coef0, c, nu, epsilon, tol, shrinking, probability, cache_size, max_iter, seed, n_threads))]
#[allow(clippy::too_many_arguments)]
fn fit_svm<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: PyReadonlyArray1<'py, f64>,
    class_weight: PyReadonlyArray1<'py, f64>,
    svm_type: &str,
    kernel_name: &str,
    degree: i64,
    gamma: f64,
    coef0: f64,
    c: f64,
    nu: f64,
    epsilon: f64,
    tol: f64,
    shrinking: bool,
    probability: bool,
    cache_size: f64,
    max_iter: i64,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<FitOut<'py>> {
    let params = SvmParams {
        svm_type: SvmType::from_name(svm_type).map_err(core_err)?,
        kernel: kernel(kernel_name, degree, gamma, coef0)?,
        c,
        nu,
        epsilon,
        tol,
        shrinking,
        probability,
        cache_size_mb: cache_size,
        max_iter,
        seed,
    };
    let (xs, n, d) = rows(&x, "X")?;
    let ys = slice(&y, "y")?;
    let sw = slice(&sample_weight, "sample_weight")?;
    let cw = slice(&class_weight, "class_weight")?;
    let f = py
        .detach(|| {
            oxlearn_core::threads::run(n_threads, usize::MAX, || {
                svm::fit(xs, n, d, ys, sw, cw, &params)
            })
        })
        .map_err(core_err)?;
    let n_sv = f.support.len();
    let sv = Array2::from_shape_vec((n_sv, d), f.support_vectors)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    // (n_classes - 1) rows; one-class and regression store [n_sv, n_sv]: 1.
    let rows_coef = f.n_support.len().saturating_sub(1);
    let dual = Array2::from_shape_vec((rows_coef, n_sv), f.dual_coef)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((
        f.support.into_pyarray(py),
        sv.into_pyarray(py),
        f.n_support.into_pyarray(py),
        dual.into_pyarray(py),
        f.intercept.into_pyarray(py),
        f.prob_a.into_pyarray(py),
        f.prob_b.into_pyarray(py),
        f.fit_status,
        f.n_iter.into_pyarray(py),
    ))
}

/// Predicts with a fitted SVM (scikit-learn's private attributes, libsvm's
/// signs). `what`: `"predict"` (class indices, ±1 or values, 1-D),
/// `"decision"` (`n x n_classifiers`) or `"proba"` (`n x n_classes`).
#[pyfunction]
#[pyo3(signature = (x, support_vectors, n_support, dual_coef, intercept, prob_a, prob_b,
    svm_type, kernel_name, degree, gamma, coef0, what, n_threads))]
#[allow(clippy::too_many_arguments)]
fn predict_svm<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    support_vectors: PyReadonlyArray2<'py, f64>,
    n_support: PyReadonlyArray1<'py, i32>,
    dual_coef: PyReadonlyArray2<'py, f64>,
    intercept: PyReadonlyArray1<'py, f64>,
    prob_a: PyReadonlyArray1<'py, f64>,
    prob_b: PyReadonlyArray1<'py, f64>,
    svm_type: &str,
    kernel_name: &str,
    degree: i64,
    gamma: f64,
    coef0: f64,
    what: &str,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let svm_type = SvmType::from_name(svm_type).map_err(core_err)?;
    let (xs, n, d) = rows(&x, "X")?;
    let (sv, m, d_sv) = rows(&support_vectors, "support_vectors_")?;
    let (coef, coef_rows, coef_cols) = rows(&dual_coef, "dual_coef_")?;
    let model = SvmModelRef {
        svm_type,
        kernel: kernel(kernel_name, degree, gamma, coef0)?,
        sv,
        d,
        n_support: slice(&n_support, "_n_support")?,
        dual_coef: coef,
        intercept: slice(&intercept, "_intercept_")?,
        prob_a: slice(&prob_a, "_probA")?,
        prob_b: slice(&prob_b, "_probB")?,
    };
    model
        .check(m, d_sv, coef_rows, coef_cols)
        .map_err(core_err)?;
    if what == "proba" && model.prob_a.len() != model.n_decision() {
        return Err(PyValueError::new_err(
            "predict_proba needs a model fitted with probability=True",
        ));
    }
    let out =
        py.detach(|| {
            oxlearn_core::threads::run(n_threads, n.saturating_mul(m).saturating_mul(d), || {
                match what {
                    "predict" => Ok(model.predict(xs, n)),
                    "decision" => Ok(model.raw_decision(xs, n)),
                    "proba" => Ok(model.predict_proba(xs, n)),
                    other => Err(other.to_string()),
                }
            })
        });
    let out = out.map_err(|w| PyValueError::new_err(format!("unknown output {w:?}")))?;
    let width = match what {
        "predict" => return Ok(out.into_pyarray(py).into_any()),
        "decision" => model.n_decision(),
        _ => model.n_classes(),
    };
    let a = Array2::from_shape_vec((n, width), out)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py).into_any())
}
