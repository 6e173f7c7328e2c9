//! `oxlearn._core.Servable`: a model file answered in-process by the very
//! code of `oxlearn serve` (`oxlearn_cli::Servable`): same loading and
//! verification, same input rules, same arithmetic, same `.npy` answers.

use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A verified model file, ready to answer its served methods.
#[pyclass(module = "oxlearn._core", name = "Servable", frozen)]
struct PyServable {
    inner: oxlearn_cli::Servable,
}

#[pymethods]
impl PyServable {
    /// Verifies (checksums, compatibility table, structure) and loads the
    /// model file's bytes `data`, as `oxlearn serve` loads a file.
    #[new]
    fn new(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = py
            .detach(|| oxlearn_cli::Servable::load(data))
            .map_err(PyValueError::new_err)?;
        Ok(PyServable { inner })
    }

    /// What `GET /v1/models/{name}` shows of the model, as JSON text.
    fn info(&self) -> String {
        self.inner.info()
    }

    /// The served methods, as scikit-learn names them.
    fn methods(&self) -> Vec<&'static str> {
        self.inner.methods()
    }

    /// `method` on `body` (a `.npy` file, or the server's JSON body when
    /// `json`; `names`: the columns of a `.npy` body). Returns the answer's
    /// `.npy` files and scikit-learn's warnings. A method not served is
    /// `NotImplementedError`, refused input `ValueError`.
    #[pyo3(signature = (method, body, json=false, names=None))]
    #[allow(clippy::type_complexity)]
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        body: &[u8],
        json: bool,
        names: Option<Vec<String>>,
    ) -> PyResult<(Vec<Bound<'py, PyBytes>>, Vec<String>)> {
        let (arrays, warnings) = py
            .detach(|| self.inner.call(method, body, json, names))
            .map_err(|(status, message)| match status {
                404 => PyNotImplementedError::new_err(message),
                400..=499 => PyValueError::new_err(message),
                _ => PyRuntimeError::new_err(message),
            })?;
        let arrays = arrays.iter().map(|a| PyBytes::new(py, a)).collect();
        Ok((arrays, warnings))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServable>()
}
