//! Bindings of `oxlearn_core::rows` (train/test splits).

use crate::error::core_err;
use crate::threads::with_threads_for;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Fills `out` (k × row bytes) with the rows `index` of `src` (n × row
/// bytes); both C-contiguous byte views of arrays of one dtype.
#[pyfunction]
#[pyo3(signature = (src, index, out, n_threads))]
fn take_rows(
    py: Python<'_>,
    src: PyReadonlyArray2<'_, u8>,
    index: PyReadonlyArray1<'_, i64>,
    mut out: PyReadwriteArray2<'_, u8>,
    n_threads: Option<usize>,
) -> PyResult<()> {
    let row_bytes = src.shape()[1];
    if out.shape()[1] != row_bytes {
        return Err(PyValueError::new_err(
            "source and output rows differ in size",
        ));
    }
    let contiguous = |what: &str| PyValueError::new_err(format!("{what} must be C-contiguous"));
    let s = src.as_slice().map_err(|_| contiguous("the source"))?;
    let i = index.as_slice().map_err(|_| contiguous("the indices"))?;
    let o = out.as_slice_mut().map_err(|_| contiguous("the output"))?;
    let bytes = o.len();
    py.detach(|| {
        with_threads_for(n_threads, bytes, || {
            oxlearn_core::rows::take_rows(s, row_bytes, i, o)
        })
    })?
    .map_err(core_err)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(take_rows, m)?)?;
    Ok(())
}
