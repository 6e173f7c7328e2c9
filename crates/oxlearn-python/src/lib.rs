//! `oxlearn._core`: the thin PyO3 adapter over `oxlearn-core` and
//! `oxlearn-format`. Argument conversion, GIL release and error mapping
//! only; no algorithm and no serialization logic lives here.

/// Calls the generic function for `X`'s float dtype (shared by the bindings).
macro_rules! dispatch_float {
    // `f::<_, G>(...)`: `f` has more generic parameters after the float type.
    ($x:expr, $f:ident ::<_, $($g:ty),+> ( $($arg:expr),* )) => {{
        if let Ok(x) = $x.extract::<numpy::PyReadonlyArray2<'_, f64>>() {
            $f::<f64, $($g),+>($crate::arrays::aligned(x)?, $($arg),*)
        } else if let Ok(x) = $x.extract::<numpy::PyReadonlyArray2<'_, f32>>() {
            $f::<f32, $($g),+>($crate::arrays::aligned(x)?, $($arg),*)
        } else {
            Err(pyo3::exceptions::PyTypeError::new_err("X must be a 2-D numpy array of dtype float32 or float64"))
        }
    }};
    ($x:expr, $f:ident ( $($arg:expr),* )) => {{
        if let Ok(x) = $x.extract::<numpy::PyReadonlyArray2<'_, f64>>() {
            $f::<f64>($crate::arrays::aligned(x)?, $($arg),*)
        } else if let Ok(x) = $x.extract::<numpy::PyReadonlyArray2<'_, f32>>() {
            $f::<f32>($crate::arrays::aligned(x)?, $($arg),*)
        } else {
            Err(pyo3::exceptions::PyTypeError::new_err("X must be a 2-D numpy array of dtype float32 or float64"))
        }
    }};
}

mod arrays;
mod basic_statistics;
mod cli;
mod cluster;
mod covariance;
mod decomposition;
mod ensemble;
mod error;
mod format;
mod gpu;
mod kmeans;
mod linear_model;
mod manifold;
mod metrics;
mod model_selection;
mod neighbors;
mod servable;
mod spmd;
mod svm;
mod threads;

use pyo3::prelude::*;

/// The SIMD level oxlearn's kernels run at (`OXLEARN_SIMD`, else the CPU's best).
#[pyfunction]
fn simd_level() -> &'static str {
    oxlearn_core::simd::level().name()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A SIMD level the CPU lacks is refused here, before any kernel runs.
    oxlearn_core::simd::configured().map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add("FORMAT_VERSION", oxlearn_format::FORMAT_VERSION)?;
    let dtypes: Vec<&str> = oxlearn_format::DType::ALL
        .iter()
        .map(|d| d.name())
        .collect();
    m.add("ARRAY_DTYPES", dtypes)?;
    error::register(m)?;
    linear_model::register(m)?;
    manifold::register(m)?;
    svm::register(m)?;
    covariance::register(m)?;
    basic_statistics::register(m)?;
    decomposition::register(m)?;
    cluster::register(m)?;
    ensemble::register(m)?;
    neighbors::register(m)?;
    metrics::register(m)?;
    model_selection::register(m)?;
    kmeans::register(m)?;
    format::register(m)?;
    gpu::register(m)?;
    threads::register(m)?;
    spmd::register(m)?;
    cli::register(m)?;
    servable::register(m)?;
    Ok(())
}
