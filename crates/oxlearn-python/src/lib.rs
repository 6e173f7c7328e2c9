//! `oxlearn._core`: the thin PyO3 adapter over `oxlearn-core` and
//! `oxlearn-format`. Argument conversion, GIL release and error mapping
//! only; no algorithm and no serialization logic lives here.

mod arrays;
mod error;
mod format;
mod linear_model;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", oxlearn_format::FORMAT_VERSION)?;
    error::register(m)?;
    linear_model::register(m)?;
    format::register(m)?;
    Ok(())
}
