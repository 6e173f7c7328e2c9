//! The one place where Rust errors become Python exceptions.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    oxlearn.exceptions,
    ModelFileCorruptError,
    PyValueError,
    "The saved model's bytes are damaged or were tampered with: its checksum or structure does not verify."
);
pyo3::create_exception!(
    oxlearn.exceptions,
    IncompatibleModelError,
    PyValueError,
    "The saved model is intact but this oxlearn cannot load it (format, schema or Python version)."
);

pyo3::create_exception!(
    oxlearn.exceptions,
    GpuUnavailableError,
    PyRuntimeError,
    "target_offload asked for a GPU but none is usable (no CUDA driver or library, no such device), or the estimator's parameters have no GPU path."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("GpuUnavailableError", py.get_type::<GpuUnavailableError>())?;
    m.add(
        "ModelFileCorruptError",
        py.get_type::<ModelFileCorruptError>(),
    )?;
    m.add(
        "IncompatibleModelError",
        py.get_type::<IncompatibleModelError>(),
    )?;
    Ok(())
}

/// Maps an algorithm error: user mistakes are `ValueError`, numerical
/// breakdowns and GPU failures `RuntimeError`, no usable GPU
/// `GpuUnavailableError`.
pub(crate) fn core_err(e: oxlearn_core::Error) -> PyErr {
    match e {
        oxlearn_core::Error::NumericalFailure(_) | oxlearn_core::Error::Gpu(_) => {
            PyRuntimeError::new_err(e.to_string())
        }
        oxlearn_core::Error::GpuUnavailable { .. } => GpuUnavailableError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Maps a format error: damaged data vs. intact but unloadable.
pub(crate) fn format_err(e: oxlearn_format::FormatError) -> PyErr {
    if e.is_corruption() {
        ModelFileCorruptError::new_err(e.to_string())
    } else {
        IncompatibleModelError::new_err(e.to_string())
    }
}
