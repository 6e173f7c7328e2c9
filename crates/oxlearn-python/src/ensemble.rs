//! Bindings of `oxlearn_core::ensemble`.

use crate::arrays::{mat_ref, slice, with_threads};
use crate::error::core_err;
use crate::threads::{with_threads_for, work};
use faer::MatRef;
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use oxlearn_core::ensemble::{self as ens, Criterion, ForestParams, ForestRef, Targets};
use oxlearn_core::Real;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_forest, m)?)?;
    m.add_function(wrap_pyfunction!(forest_predict, m)?)?;
    m.add_function(wrap_pyfunction!(forest_apply, m)?)?;
    m.add_function(wrap_pyfunction!(forest_oob_predict, m)?)?;
    m.add_function(wrap_pyfunction!(forest_pack, m)?)?;
    m.add_class::<ForestPack>()?;
    Ok(())
}

fn criterion(name: &str) -> PyResult<Criterion> {
    match name {
        "gini" => Ok(Criterion::Gini),
        "entropy" | "log_loss" => Ok(Criterion::Entropy),
        "squared_error" => Ok(Criterion::SquaredError),
        _ => Err(PyValueError::new_err(format!(
            "criterion {name:?} is not accelerated (gini, entropy, log_loss, squared_error are)"
        ))),
    }
}

/// Grows a forest. `y_classes` (encoded, `n × n_outputs` uint32, with
/// `n_classes`) for classification, else `y_values` (`n × n_outputs` float64).
/// Returns a dict of the flat node arrays and `feature_importances`.
#[pyfunction]
#[pyo3(signature = (x, y_classes, n_classes, y_values, sample_weight, criterion_name,
    max_depth, min_samples_split, min_samples_leaf, min_weight_fraction_leaf, max_features,
    max_leaf_nodes, min_impurity_decrease, bootstrap, n_bootstrap, extra, max_bins, seeds,
    n_threads, balanced_subsample=false))]
#[allow(clippy::too_many_arguments)]
fn fit_forest<'py>(
    x: &Bound<'py, PyAny>,
    y_classes: Option<PyReadonlyArray2<'py, u32>>,
    n_classes: Vec<usize>,
    y_values: Option<PyReadonlyArray2<'py, f64>>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    criterion_name: &str,
    max_depth: Option<usize>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    min_weight_fraction_leaf: f64,
    max_features: usize,
    max_leaf_nodes: Option<usize>,
    min_impurity_decrease: f64,
    bootstrap: bool,
    n_bootstrap: usize,
    extra: bool,
    max_bins: usize,
    seeds: Vec<u64>,
    n_threads: Option<usize>,
    balanced_subsample: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let py = x.py();
    let params = ForestParams {
        criterion: criterion(criterion_name)?,
        max_depth,
        min_samples_split,
        min_samples_leaf,
        min_weight_fraction_leaf,
        max_features,
        max_leaf_nodes,
        min_impurity_decrease,
        bootstrap,
        n_bootstrap,
        extra,
        max_bins,
        seeds,
    };
    let sw = sample_weight
        .as_ref()
        .map(|w| slice(w, "sample_weight"))
        .transpose()?;
    let yc = y_classes
        .as_ref()
        .map(|y| y.as_slice())
        .transpose()
        .map_err(|_| PyValueError::new_err("encoded y must be C-contiguous"))?;
    let yv = y_values
        .as_ref()
        .map(|y| y.as_slice())
        .transpose()
        .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
    let targets = match (yc, yv) {
        (Some(y), None) => Targets::Classes {
            y,
            n_classes: &n_classes,
        },
        (None, Some(y)) => Targets::Values {
            y,
            n_outputs: y_values.as_ref().map_or(1, |a| a.as_array().ncols()),
        },
        _ => {
            return Err(PyValueError::new_err(
                "pass exactly one of y_classes and y_values",
            ))
        }
    };
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        targets: Targets<'_>,
        sw: Option<&[f64]>,
        params: &ForestParams,
        n_threads: Option<usize>,
        balanced_subsample: bool,
    ) -> PyResult<(ens::Forest, Vec<f64>)> {
        let xv = mat_ref(&x);
        py.detach(|| {
            with_threads(n_threads, || {
                if balanced_subsample {
                    ens::subsample::fit_forest_balanced_subsample(xv, targets, sw, params)
                } else {
                    ens::fit_forest(xv, targets, sw, params)
                }
            })
        })?
        .map_err(core_err)
    }
    let (forest, importances) = dispatch_float!(
        x,
        go(py, targets, sw, &params, n_threads, balanced_subsample)
    )?;
    let d = PyDict::new(py);
    let n_nodes = forest.feature.len();
    let value = Array3::from_shape_vec(
        (n_nodes, forest.n_outputs, forest.max_n_classes),
        forest.value,
    )
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    d.set_item(
        "tree_offsets",
        Array1::from(forest.tree_offsets).into_pyarray(py),
    )?;
    d.set_item("feature", Array1::from(forest.feature).into_pyarray(py))?;
    d.set_item("threshold", Array1::from(forest.threshold).into_pyarray(py))?;
    d.set_item("children_left", Array1::from(forest.left).into_pyarray(py))?;
    d.set_item(
        "children_right",
        Array1::from(forest.right).into_pyarray(py),
    )?;
    d.set_item("impurity", Array1::from(forest.impurity).into_pyarray(py))?;
    d.set_item(
        "n_node_samples",
        Array1::from(forest.n_node_samples).into_pyarray(py),
    )?;
    d.set_item(
        "weighted_n_node_samples",
        Array1::from(forest.weighted_n_node_samples).into_pyarray(py),
    )?;
    d.set_item("value", value.into_pyarray(py))?;
    d.set_item(
        "feature_importances",
        Array1::from(importances).into_pyarray(py),
    )?;
    Ok(d)
}

/// Borrows the forest arrays of `d` (as `fit_forest` returns them) and runs `f`
/// on the validated view.
fn with_forest<R>(
    d: &Bound<'_, PyDict>,
    n_features: usize,
    f: impl FnOnce(ForestRef<'_>) -> PyResult<R>,
) -> PyResult<R> {
    with_forest_checked(d, n_features, true, f)
}

/// [`with_forest`]; `validate: false` skips the node walk (the caller
/// holds a [`ForestPack`] of these arrays, validated when it was built).
fn with_forest_checked<R>(
    d: &Bound<'_, PyDict>,
    n_features: usize,
    validate: bool,
    f: impl FnOnce(ForestRef<'_>) -> PyResult<R>,
) -> PyResult<R> {
    fn get<'py, T: Element>(d: &Bound<'py, PyDict>, k: &str) -> PyResult<PyReadonlyArray1<'py, T>> {
        d.get_item(k)?
            .ok_or_else(|| PyValueError::new_err(format!("forest is missing the array {k:?}")))?
            .extract()
            .map_err(|_| {
                PyValueError::new_err(format!("forest array {k:?} has the wrong dtype or rank"))
            })
    }
    let offsets = get::<i64>(d, "tree_offsets")?;
    let feature = get::<i32>(d, "feature")?;
    let threshold = get::<f64>(d, "threshold")?;
    let left = get::<i32>(d, "children_left")?;
    let right = get::<i32>(d, "children_right")?;
    let value_any = d
        .get_item("value")?
        .ok_or_else(|| PyValueError::new_err("forest is missing the array \"value\""))?;
    let value3: numpy::PyReadonlyArray3<'_, f64> = value_any
        .extract()
        .map_err(|_| PyValueError::new_err("forest value must be a 3-D float64 array"))?;
    let shape = value3.as_array().shape().to_vec();
    let fr = ForestRef {
        n_features,
        n_outputs: shape[1],
        max_n_classes: shape[2],
        tree_offsets: slice(&offsets, "tree_offsets")?,
        feature: slice(&feature, "feature")?,
        threshold: slice(&threshold, "threshold")?,
        left: slice(&left, "children_left")?,
        right: slice(&right, "children_right")?,
        value: value3
            .as_slice()
            .map_err(|_| PyValueError::new_err("forest value must be C-contiguous"))?,
    };
    if validate {
        fr.validate().map_err(core_err)?;
    }
    f(fr)
}

/// A forest's nodes validated and packed for traversal once (not pickled:
/// rebuilt from the flat arrays).
#[pyclass(frozen, module = "oxlearn._core")]
pub struct ForestPack {
    inner: ens::PackedForest,
}

/// Validates and packs the forest's trees for repeated predictions, on
/// `n_threads` threads (`None`: all cores) when the forest is large.
#[pyfunction]
#[pyo3(signature = (forest, n_features, n_threads=None))]
fn forest_pack(
    forest: &Bound<'_, PyDict>,
    n_features: usize,
    n_threads: Option<usize>,
) -> PyResult<ForestPack> {
    let py = forest.py();
    with_forest_checked(forest, n_features, false, |fr| {
        let inner = py
            .detach(|| {
                let w = work(&[fr.feature.len(), 16]);
                with_threads_for(n_threads, w, || ens::PackedForest::new(&fr))
            })?
            .map_err(core_err)?;
        Ok(ForestPack { inner })
    })
}

/// A traversal of rows through the forest's trees (predict or apply).
trait Traversal {
    type Out: Send;
    fn run<T: Real>(
        fr: &ForestRef<'_>,
        packed: Option<&ens::PackedForest>,
        x: MatRef<'_, T>,
    ) -> oxlearn_core::Result<Vec<Self::Out>>;
}

struct Predict;
struct Apply;

impl Traversal for Predict {
    type Out = f64;
    fn run<T: Real>(
        fr: &ForestRef<'_>,
        packed: Option<&ens::PackedForest>,
        x: MatRef<'_, T>,
    ) -> oxlearn_core::Result<Vec<f64>> {
        ens::predict_forest_with(fr, packed, x)
    }
}

impl Traversal for Apply {
    type Out = i64;
    fn run<T: Real>(
        fr: &ForestRef<'_>,
        packed: Option<&ens::PackedForest>,
        x: MatRef<'_, T>,
    ) -> oxlearn_core::Result<Vec<i64>> {
        ens::apply_forest_with(fr, packed, x)
    }
}

/// Runs traversal `R` on `x` (GIL released) and shapes its output with
/// `shape`; the arrays are validated unless `packed` (validated when built).
fn traverse<'py, R: Traversal>(
    forest: &Bound<'py, PyDict>,
    n_features: usize,
    x: &Bound<'py, PyAny>,
    n_threads: Option<usize>,
    packed: Option<PyRef<'py, ForestPack>>,
    shape: impl FnOnce(&ForestRef<'_>, Vec<R::Out>) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    fn go<'py, T: Element + Real, R: Traversal>(
        x: PyReadonlyArray2<'py, T>,
        fr: &ForestRef<'_>,
        packed: Option<&ens::PackedForest>,
        n_threads: Option<usize>,
    ) -> PyResult<Vec<R::Out>> {
        let xv = mat_ref(&x);
        x.py()
            // A row visits about 32 nodes (depth) of every tree.
            .detach(|| {
                with_threads_for(n_threads, work(&[xv.nrows(), fr.n_trees(), 32]), || {
                    R::run(fr, packed, xv)
                })
            })?
            .map_err(core_err)
    }
    let pk = packed.as_ref().map(|p| &p.inner);
    with_forest_checked(forest, n_features, pk.is_none(), |fr| {
        let v = dispatch_float!(x, go::<_, R>(&fr, pk, n_threads))?;
        shape(&fr, v)
    })
}

/// Mean leaf value over trees: `(n_rows, n_outputs, max_n_classes)` float64.
/// `packed`: the forest's [`ForestPack`] (skips validating and packing).
#[pyfunction]
#[pyo3(signature = (forest, n_features, x, n_threads, packed=None))]
fn forest_predict<'py>(
    forest: &Bound<'py, PyDict>,
    n_features: usize,
    x: &Bound<'py, PyAny>,
    n_threads: Option<usize>,
    packed: Option<PyRef<'py, ForestPack>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    traverse::<Predict>(forest, n_features, x, n_threads, packed, |fr, v| {
        let n = v.len() / fr.value_stride().max(1);
        let a = Array3::from_shape_vec((n, fr.n_outputs, fr.max_n_classes), v)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    })
}

/// Leaf index per row and tree: `(n_rows, n_trees)` int64.
#[pyfunction]
#[pyo3(signature = (forest, n_features, x, n_threads, packed=None))]
fn forest_apply<'py>(
    forest: &Bound<'py, PyDict>,
    n_features: usize,
    x: &Bound<'py, PyAny>,
    n_threads: Option<usize>,
    packed: Option<PyRef<'py, ForestPack>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    traverse::<Apply>(forest, n_features, x, n_threads, packed, |fr, v| {
        let nt = fr.n_trees();
        let a = Array2::from_shape_vec((v.len() / nt.max(1), nt), v)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    })
}

/// Out-of-bag predictions of the training rows `x`: `(n_rows, n_outputs,
/// max_n_classes)` float64 means over the trees that left each row out, and
/// that number of trees per row (uint32). Tree seeds come from the forest's
/// `_seeds`; `n_bootstrap` is the draws per tree it was grown with.
#[pyfunction]
fn forest_oob_predict<'py>(
    forest: &Bound<'py, PyDict>,
    n_features: usize,
    x: &Bound<'py, PyAny>,
    n_bootstrap: usize,
    n_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let py = x.py();
    let seeds: PyReadonlyArray1<'py, i64> = forest
        .get_item("_seeds")?
        .ok_or_else(|| PyValueError::new_err("forest is missing the array \"_seeds\""))?
        .extract()
        .map_err(|_| PyValueError::new_err("forest _seeds must be a 1-D int64 array"))?;
    let seeds: Vec<u64> = seeds
        .as_array()
        .iter()
        .map(|&s| {
            u64::try_from(s).map_err(|_| {
                PyValueError::new_err(format!("tree seed {s} is negative; seeds are >= 0"))
            })
        })
        .collect::<PyResult<_>>()?;
    fn go<'py, T: Element + Real>(
        x: PyReadonlyArray2<'py, T>,
        py: Python<'py>,
        fr: ForestRef<'_>,
        seeds: &[u64],
        n_bootstrap: usize,
        n_threads: Option<usize>,
    ) -> PyResult<(Vec<f64>, Vec<u32>)> {
        let xv = mat_ref(&x);
        py.detach(|| {
            with_threads(n_threads, || {
                ens::oob::oob_predict(&fr, xv, seeds, n_bootstrap)
            })
        })?
        .map_err(core_err)
    }
    with_forest(forest, n_features, |fr| {
        let (v, counts) = dispatch_float!(x, go(py, fr, &seeds, n_bootstrap, n_threads))?;
        let n = counts.len();
        let a = Array3::from_shape_vec((n, fr.n_outputs, fr.max_n_classes), v)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((
            a.into_pyarray(py).into_any(),
            Array1::from(counts).into_pyarray(py).into_any(),
        ))
    })
}
