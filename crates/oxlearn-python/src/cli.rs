//! `oxlearn._core.cli_main`: the `oxlearn` command line of the Rust binary
//! (`oxlearn_cli::run`), run inside the extension, so that `pip install
//! oxlearn` puts the very same command on PATH (python/oxlearn_cli.py).

use pyo3::prelude::*;
use std::ffi::OsString;

/// Runs the `oxlearn` command line on `argv` (the first item is the
/// program's name) with the GIL released, and returns its exit status: 0
/// success, 1 a failure (its message on stderr), 2 a usage error, 101 a
/// panic (a bug; the binary exits with the same status).
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    // The command may run for long (serve): other Python threads go on.
    py.detach(|| std::panic::catch_unwind(|| oxlearn_cli::run(argv)).unwrap_or(101))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli_main, m)?)
}
