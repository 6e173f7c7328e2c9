//! Bindings of `oxlearn_core::manifold` (t-SNE).

use crate::arrays::{mat_ref, slice};
use crate::error::core_err;
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::manifold::{
    self as mf, Affinities, Gradient, SparseP, Stop, TsneFit, TsneParams,
};
use oxlearn_core::Real;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tsne_joint_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(tsne_joint_probabilities_nn, m)?)?;
    m.add_function(wrap_pyfunction!(tsne_optimize_exact, m)?)?;
    m.add_function(wrap_pyfunction!(tsne_optimize_barnes_hut, m)?)?;
    Ok(())
}

type SparsePy<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    f64,
);

/// Dense joint probabilities of t-SNE's exact method (euclidean): returns
/// `(P, beta_sum)`, `P` float64 `n × n` with a zero diagonal.
#[pyfunction]
fn tsne_joint_probabilities<'py>(
    x: &Bound<'py, PyAny>,
    perplexity: f64,
    n_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, f64)> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        perplexity: f64,
        n_threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyArray2<f64>>, f64)> {
        let xv = mat_ref(&x);
        let n = xv.nrows();
        let work = n.saturating_mul(n).saturating_mul(xv.ncols().max(1));
        let (p, beta_sum) = py
            .detach(|| {
                oxlearn_core::threads::run(n_threads, work, || {
                    let sqd = mf::pairwise_sqeuclidean(xv)?;
                    let (cond, beta_sum) =
                        mf::conditional_probabilities(&sqd, n, n, true, perplexity)?;
                    drop(sqd);
                    Ok((mf::joint_probabilities(&cond, n)?, beta_sum))
                })
            })
            .map_err(core_err)?;
        let p =
            Array2::from_shape_vec((n, n), p).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((p.into_pyarray(py), beta_sum))
    }
    let py = x.py();
    dispatch_float!(x, go(py, perplexity, n_threads))
}

/// Sparse joint probabilities of t-SNE's Barnes–Hut method over the
/// `n_neighbors` nearest neighbours (euclidean): returns `(data, indices,
/// indptr, beta_sum)` of a CSR matrix.
#[pyfunction]
fn tsne_joint_probabilities_nn<'py>(
    x: &Bound<'py, PyAny>,
    perplexity: f64,
    n_neighbors: usize,
    n_threads: Option<usize>,
) -> PyResult<SparsePy<'py>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        perplexity: f64,
        k: usize,
        n_threads: Option<usize>,
    ) -> PyResult<SparsePy<'py>> {
        let xv = mat_ref(&x);
        let n = xv.nrows();
        let work = n.saturating_mul(k.max(1)).saturating_mul(xv.ncols().max(1));
        let (p, beta_sum) = py
            .detach(|| {
                oxlearn_core::threads::run(n_threads, work, || {
                    let (cols, sqd) = mf::knn_sqeuclidean(xv, k)?;
                    let (cond, beta_sum) =
                        mf::conditional_probabilities(&sqd, n, k, false, perplexity)?;
                    Ok((mf::joint_probabilities_nn(&cond, &cols, n, k)?, beta_sum))
                })
            })
            .map_err(core_err)?;
        let indices: Vec<i64> = p.indices.iter().map(|&j| j as i64).collect();
        let indptr: Vec<i64> = p.indptr.iter().map(|&o| o as i64).collect();
        Ok((
            p.data.into_pyarray(py),
            indices.into_pyarray(py),
            indptr.into_pyarray(py),
            beta_sum,
        ))
    }
    let py = x.py();
    dispatch_float!(x, go(py, perplexity, n_neighbors, n_threads))
}

/// scikit-learn's schedule: `(early_exaggeration, learning_rate_, max_iter,
/// _EXPLORATION_MAX_ITER, _N_ITER_CHECK, n_iter_without_progress,
/// min_grad_norm)`.
type Schedule = (f64, f64, usize, usize, usize, i64, f64);

/// The optimisation's parameters.
fn params(n_components: usize, schedule: Schedule, gradient: Gradient) -> TsneParams {
    let (
        early_exaggeration,
        learning_rate,
        max_iter,
        exploration_iter,
        n_iter_check,
        n_iter_without_progress,
        min_grad_norm,
    ) = schedule;
    TsneParams {
        n_components,
        early_exaggeration,
        learning_rate,
        max_iter,
        exploration_iter,
        n_iter_check,
        n_iter_without_progress,
        min_grad_norm,
        gradient,
    }
}

type FitPy<'py> = (Bound<'py, PyArray2<f64>>, f64, usize, Bound<'py, PyList>);

/// `(embedding, kl_divergence, n_iter, stages)`; each stage is `(checks,
/// stop, iteration, error)` with checks `(iteration, error, grad_norm,
/// seconds)` and stop `"completed"`, `"no_progress"` or `"small_gradient"`.
fn fit_to_py<'py>(py: Python<'py>, fit: TsneFit, n: usize, k: usize) -> PyResult<FitPy<'py>> {
    let stages = PyList::empty(py);
    for s in &fit.stages {
        let checks = PyList::empty(py);
        for c in &s.checks {
            checks.append((c.iteration, c.error, c.grad_norm, c.seconds))?;
        }
        let stop = match s.stop {
            Stop::Completed => "completed",
            Stop::NoProgress => "no_progress",
            Stop::SmallGradient => "small_gradient",
        };
        stages.append((checks, stop, s.iteration, s.error))?;
    }
    let emb = Array2::from_shape_vec((n, k), fit.embedding)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((emb.into_pyarray(py), fit.kl_divergence, fit.n_iter, stages))
}

fn contiguous<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<&'a [f64]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous 2-D array")))
}

/// t-SNE's two stages with the exact gradient over the dense `p` (`n × n`).
#[pyfunction]
#[pyo3(signature = (p, init, schedule, n_threads))]
fn tsne_optimize_exact<'py>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, f64>,
    init: PyReadonlyArray2<'py, f64>,
    schedule: Schedule,
    n_threads: Option<usize>,
) -> PyResult<FitPy<'py>> {
    let (n, k) = init.as_array().dim();
    let pr = params(k, schedule, Gradient::Exact);
    let ps = contiguous(&p, "P")?;
    let work = n.saturating_mul(n).saturating_mul(k);
    optimize_py(py, Affinities::Dense(ps), &init, &pr, work, n_threads)
}

/// t-SNE's two stages with the Barnes–Hut gradient over the CSR `P`
/// (`data`, `indices`, `indptr`).
#[pyfunction]
#[pyo3(signature = (data, indices, indptr, init, angle, schedule, n_threads))]
#[allow(clippy::too_many_arguments)]
fn tsne_optimize_barnes_hut<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, f64>,
    indices: PyReadonlyArray1<'py, i64>,
    indptr: PyReadonlyArray1<'py, i64>,
    init: PyReadonlyArray2<'py, f64>,
    angle: f64,
    schedule: Schedule,
    n_threads: Option<usize>,
) -> PyResult<FitPy<'py>> {
    let (n, k) = init.as_array().dim();
    let to_index = |v: i64, what: &str| {
        usize::try_from(v).map_err(|_| PyValueError::new_err(format!("P's {what} holds {v}")))
    };
    let sp = SparseP {
        n,
        data: slice(&data, "P.data")?.to_vec(),
        indices: slice(&indices, "P.indices")?
            .iter()
            .map(|&j| {
                u32::try_from(j).map_err(|_| PyValueError::new_err(format!("P's indices hold {j}")))
            })
            .collect::<PyResult<_>>()?,
        indptr: slice(&indptr, "P.indptr")?
            .iter()
            .map(|&o| to_index(o, "indptr"))
            .collect::<PyResult<_>>()?,
    };
    let pr = params(k, schedule, Gradient::BarnesHut { angle });
    // Per iteration: the attractive terms and about a hundred tree cells a point.
    let work = n.saturating_mul(128).saturating_add(sp.data.len());
    optimize_py(py, Affinities::Sparse(&sp), &init, &pr, work, n_threads)
}

/// Runs the optimisation from `init` without the GIL, on `n_threads`
/// (sized by `work`), and returns it as Python values.
fn optimize_py<'py>(
    py: Python<'py>,
    p: Affinities<'_>,
    init: &PyReadonlyArray2<'py, f64>,
    pr: &TsneParams,
    work: usize,
    n_threads: Option<usize>,
) -> PyResult<FitPy<'py>> {
    let (n, k) = init.as_array().dim();
    let y0 = contiguous(init, "init")?;
    let fit = py
        .detach(|| oxlearn_core::threads::run(n_threads, work, || mf::optimize(p, y0, n, pr)))
        .map_err(core_err)?;
    fit_to_py(py, fit, n, k)
}
