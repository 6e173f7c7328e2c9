//! Bindings of `oxlearn_core::neighbors`: an index object that answers
//! k-nearest and radius queries and predicts by vote or mean.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use crate::threads::{with_threads_for, work};
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::neighbors::{
    lof_score_samples as core_lof_scores, pairwise_distances as core_pairwise,
    unit_rows as core_unit_rows, vote, weighted_mean, Algorithm, IndexParams, KNeighbors, Metric,
    NeighborIndex, PairwiseMetric, Weights,
};
use oxlearn_core::Real;
use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KnnIndex>()?;
    m.add_function(wrap_pyfunction!(build_neighbor_index, m)?)?;
    m.add_function(wrap_pyfunction!(pairwise_distances, m)?)?;
    m.add_function(wrap_pyfunction!(unit_rows, m)?)?;
    m.add_function(wrap_pyfunction!(lof_score_samples, m)?)?;
    Ok(())
}

/// Fitted points indexed for exact neighbour queries (not pickled: it is
/// rebuilt from the training data).
#[pyclass(frozen, module = "oxlearn._core")]
pub struct KnnIndex {
    inner: NeighborIndex,
}

type Arr<'py, T> = Bound<'py, PyArray1<T>>;

/// Indexes the rows of `x` (float32/float64) for queries with `metric`
/// (`p`: the Minkowski order); `algorithm` is scikit-learn's name.
#[pyfunction]
#[pyo3(signature = (x, metric, p, algorithm, leaf_size, n_threads))]
fn build_neighbor_index(
    x: &Bound<'_, PyAny>,
    metric: &str,
    p: Option<f64>,
    algorithm: &str,
    leaf_size: usize,
    n_threads: Option<usize>,
) -> PyResult<KnnIndex> {
    fn go<T: Element + Real>(
        x: PyReadonlyArray2<'_, T>,
        py: Python<'_>,
        metric: Metric,
        params: IndexParams,
        n_threads: Option<usize>,
    ) -> PyResult<KnnIndex> {
        let xv = mat_ref(&x);
        let inner = py
            .detach(|| with_threads(n_threads, || NeighborIndex::build(xv, metric, params)))?
            .map_err(core_err)?;
        Ok(KnnIndex { inner })
    }
    let py = x.py();
    let metric = Metric::from_name(metric, p).map_err(core_err)?;
    let params = IndexParams {
        algorithm: Algorithm::from_name(algorithm).map_err(core_err)?,
        leaf_size,
    };
    dispatch_float!(x, go(py, metric, params, n_threads))
}

/// The dense distance matrix between the rows of `x` and `y` (same float
/// dtype; `same`: `y` is `x`), as float32 when `out_f32`, else float64.
#[pyfunction]
#[pyo3(signature = (x, y, metric, p, same, squared, out_f32, n_threads))]
#[allow(clippy::too_many_arguments)]
fn pairwise_distances<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    metric: &str,
    p: Option<f64>,
    same: bool,
    squared: bool,
    out_f32: bool,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        y: &Bound<'py, PyAny>,
        metric: PairwiseMetric,
        flags: (bool, bool, bool),
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        fn run<'py, T: Element + Real, O: Element + Real>(
            x: &PyReadonlyArray2<'py, T>,
            y: &PyReadonlyArray2<'py, T>,
            metric: PairwiseMetric,
            (same, squared): (bool, bool),
            n_threads: Option<usize>,
        ) -> PyResult<Bound<'py, PyAny>> {
            let (xv, yv) = (mat_ref(x), mat_ref(y));
            let (nx, ny) = (xv.nrows(), yv.nrows());
            let py = x.py();
            let out = py.detach(|| {
                with_threads(n_threads, || {
                    let mut out = vec![O::from_f64(0.0); nx * ny];
                    core_pairwise(xv, yv, metric, same, squared, &mut out).map(|()| out)
                })
            })?;
            let out = out.map_err(core_err)?;
            let arr = Array2::from_shape_vec((nx, ny), out)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
            Ok(arr.into_pyarray(py).into_any())
        }
        let y: PyReadonlyArray2<'py, T> = y.extract().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err("Y must be a 2-D array of the dtype of X")
        })?;
        let (same, squared, out_f32) = flags;
        if out_f32 {
            run::<T, f32>(&x, &y, metric, (same, squared), n_threads)
        } else {
            run::<T, f64>(&x, &y, metric, (same, squared), n_threads)
        }
    }
    let metric = PairwiseMetric::from_name(metric, p).map_err(core_err)?;
    dispatch_float!(x, go(y, metric, (same, squared, out_f32), n_threads))
}

/// The rows of `x` scaled to unit norm, in float64 (zero rows stay zero),
/// with the arithmetic the `oxlearn` binary uses for cosine models.
#[pyfunction]
fn unit_rows<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real>(x: PyReadonlyArray2<'py, T>) -> PyResult<Bound<'py, PyAny>> {
        let xv = mat_ref(&x);
        let shape = (xv.nrows(), xv.ncols());
        let (rows, _) = core_unit_rows(xv).map_err(core_err)?;
        let arr = Array2::from_shape_vec(shape, rows)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        Ok(arr.into_pyarray(x.py()).into_any())
    }
    dispatch_float!(x, go())
}

/// `LocalOutlierFactor.score_samples` from the queries' neighbours
/// (`n × k` distances and indices), the fitted points' k-th neighbour
/// distances and local reachability densities.
#[pyfunction]
fn lof_score_samples<'py>(
    distances: PyReadonlyArray2<'py, f64>,
    indices: PyReadonlyArray2<'py, i64>,
    kth_fit: PyReadonlyArray1<'py, f64>,
    lrd_fit: PyReadonlyArray1<'py, f64>,
) -> PyResult<Arr<'py, f64>> {
    let py = distances.py();
    let k = distances.as_array().ncols();
    let indices = indices
        .as_array()
        .iter()
        .map(|&i| u32::try_from(i))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("a neighbour index is out of range")
        })?;
    let nb = KNeighbors {
        k,
        distances: distances.as_array().iter().copied().collect(),
        indices,
    };
    let out = core_lof_scores(
        &nb,
        slice(&kth_fit, "kth_fit")?,
        slice(&lrd_fit, "lrd_fit")?,
    )
    .map_err(core_err)?;
    Ok(out.into_pyarray(py))
}

impl KnnIndex {
    fn knn(
        &self,
        x: &Bound<'_, PyAny>,
        k: usize,
        chunk_rows: usize,
        n_threads: Option<usize>,
        device: Option<usize>,
    ) -> PyResult<KNeighbors> {
        fn go<T: Element + Real>(
            x: PyReadonlyArray2<'_, T>,
            index: &NeighborIndex,
            k: usize,
            chunk_rows: usize,
            n_threads: Option<usize>,
            device: Option<usize>,
        ) -> PyResult<KNeighbors> {
            let xv = mat_ref(&x);
            x.py()
                .detach(|| {
                    let w = work(&[xv.nrows(), index.n_points(), xv.ncols()]);
                    with_threads_for(n_threads, w, || match device {
                        None => index.kneighbors(xv, k, chunk_rows),
                        Some(d) => oxlearn_core::gpu::kneighbors(d, index, xv, k),
                    })
                })?
                .map_err(core_err)
        }
        dispatch_float!(x, go(&self.inner, k, chunk_rows, n_threads, device))
    }
}

#[pymethods]
impl KnnIndex {
    /// Whether queries use the kd-tree (else brute force).
    fn uses_tree(&self) -> bool {
        self.inner.uses_tree()
    }

    /// The `k` nearest fitted points of each row of `x`: flat
    /// `(distances float64, indices int64)`, `n_queries × k` row-major.
    /// `device`: a GPU ordinal (euclidean, brute force; None: the CPU).
    #[pyo3(signature = (x, k, chunk_rows, n_threads, device=None))]
    fn kneighbors<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        k: usize,
        chunk_rows: usize,
        n_threads: Option<usize>,
        device: Option<usize>,
    ) -> PyResult<(Arr<'py, f64>, Arr<'py, i64>)> {
        let py = x.py();
        let nb = self.knn(x, k, chunk_rows, n_threads, device)?;
        let idx: Vec<i64> = nb.indices.iter().map(|&i| i as i64).collect();
        Ok((nb.distances.into_pyarray(py), idx.into_pyarray(py)))
    }

    /// Class probabilities (flat, `n_queries × n_classes`) from the `k`
    /// nearest neighbours; `y` holds each fitted point's class number.
    /// `cosine`: `x` holds unit rows of an index of unit rows, and the
    /// weights are of cosine distances.
    #[pyo3(signature = (x, k, y, n_classes, weights, chunk_rows, n_threads, cosine=false))]
    #[allow(clippy::too_many_arguments)]
    fn classify<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        k: usize,
        y: PyReadonlyArray1<'py, i64>,
        n_classes: usize,
        weights: &str,
        chunk_rows: usize,
        n_threads: Option<usize>,
        cosine: bool,
    ) -> PyResult<Arr<'py, f64>> {
        let py = x.py();
        let w = Weights::from_name(weights).map_err(core_err)?;
        let y = slice(&y, "y")?;
        let mut nb = self.knn(x, k, chunk_rows, n_threads, None)?;
        if cosine {
            nb.euclidean_to_cosine();
        }
        let out = py
            .detach(|| {
                with_threads_for(n_threads, work(&[nb.indices.len(), n_classes]), || {
                    vote(&nb, y, n_classes, w)
                })
            })?
            .map_err(core_err)?;
        Ok(out.into_pyarray(py))
    }

    /// The (weighted) mean target (flat, `n_queries × n_outputs`) of the `k`
    /// nearest neighbours; `y` is `n_fit × n_outputs`, C-ordered. `cosine`:
    /// as for [`Self::classify`].
    #[pyo3(signature = (x, k, y, weights, chunk_rows, n_threads, cosine=false))]
    #[allow(clippy::too_many_arguments)]
    fn regress<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        k: usize,
        y: PyReadonlyArray2<'py, f64>,
        weights: &str,
        chunk_rows: usize,
        n_threads: Option<usize>,
        cosine: bool,
    ) -> PyResult<Arr<'py, f64>> {
        let py = x.py();
        let w = Weights::from_name(weights).map_err(core_err)?;
        let n_out = y.as_array().ncols();
        let ys = y.as_slice().map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("y must be a C-contiguous 2-D array")
        })?;
        let mut nb = self.knn(x, k, chunk_rows, n_threads, None)?;
        if cosine {
            nb.euclidean_to_cosine();
        }
        let out = py
            .detach(|| {
                with_threads_for(n_threads, work(&[nb.indices.len(), n_out]), || {
                    weighted_mean(&nb, ys, n_out, w)
                })
            })?
            .map_err(core_err)?;
        Ok(out.into_pyarray(py))
    }

    /// The fitted points within `radius` of each row of `x`:
    /// `(offsets, indices, distances)` (flat lists, indices increasing).
    #[pyo3(signature = (x, radius, chunk_rows, n_threads))]
    fn radius_neighbors<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        radius: f64,
        chunk_rows: usize,
        n_threads: Option<usize>,
    ) -> PyResult<(Arr<'py, i64>, Arr<'py, i64>, Arr<'py, f64>)> {
        type Out = (Vec<i64>, Vec<i64>, Vec<f64>);
        fn go<T: Element + Real>(
            x: PyReadonlyArray2<'_, T>,
            index: &NeighborIndex,
            radius: f64,
            chunk_rows: usize,
            n_threads: Option<usize>,
        ) -> PyResult<Out> {
            let xv = mat_ref(&x);
            x.py()
                .detach(|| {
                    with_threads(n_threads, || {
                        let nb = index.radius_neighbors(xv, radius, chunk_rows)?;
                        let dist = index.distances_of(xv, &nb)?;
                        Ok((
                            nb.offsets.iter().map(|&o| o as i64).collect(),
                            nb.indices.iter().map(|&i| i as i64).collect(),
                            dist,
                        ))
                    })
                })?
                .map_err(core_err)
        }
        let py = x.py();
        let (o, i, d) = dispatch_float!(x, go(&self.inner, radius, chunk_rows, n_threads))?;
        Ok((o.into_pyarray(py), i.into_pyarray(py), d.into_pyarray(py)))
    }
}
