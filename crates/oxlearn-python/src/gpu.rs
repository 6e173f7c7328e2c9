//! GPU device information (`oxlearn_core::gpu`). The GPU fits themselves are
//! the ordinary fit bindings with a `device` argument.

use crate::error::core_err;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gpu_info, m)?)?;
    Ok(())
}

/// Opens GPU `device` (once per process) and describes it; raises
/// `GpuUnavailableError` with the reason when there is no usable GPU.
#[pyfunction]
#[pyo3(signature = (device=0))]
fn gpu_info(py: Python<'_>, device: usize) -> PyResult<Bound<'_, PyDict>> {
    let info = py
        .detach(|| oxlearn_core::gpu::probe(device))
        .map_err(core_err)?;
    let d = PyDict::new(py);
    d.set_item("device", info.ordinal)?;
    d.set_item("name", info.name)?;
    d.set_item("total_memory", info.total_memory)?;
    d.set_item("free_memory", info.free_memory)?;
    d.set_item("compute_capability", info.compute_capability)?;
    d.set_item("driver_cuda_version", info.driver_cuda_version)?;
    d.set_item("bindings_cuda_version", info.bindings_cuda_version)?;
    d.set_item("device_count", info.device_count)?;
    Ok(d)
}
