//! Bindings of `oxlearn_format`: seal and open the canonical form.

use crate::error::format_err;
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use oxlearn_format::{
    checksum_of, open_checked, schema, ArrayView, DType, FormatError, Header, Runtime,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seal_header, m)?)?;
    m.add_function(wrap_pyfunction!(open_header, m)?)?;
    m.add_function(wrap_pyfunction!(schema_of, m)?)?;
    m.add_function(wrap_pyfunction!(known_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(checksum, m)?)?;
    Ok(())
}

/// Owned manifest data plus borrowed bytes of the numpy arrays.
struct Borrowed<'py> {
    names: Vec<String>,
    dtypes: Vec<DType>,
    shapes: Vec<Vec<u64>>,
    arrays: Vec<Bound<'py, PyUntypedArray>>,
}

impl<'py> Borrowed<'py> {
    fn new(arrays: impl IntoIterator<Item = (String, Bound<'py, PyAny>)>) -> PyResult<Self> {
        let mut b = Borrowed {
            names: vec![],
            dtypes: vec![],
            shapes: vec![],
            arrays: vec![],
        };
        for (name, arr) in arrays {
            let arr = arr.cast_into::<PyUntypedArray>().map_err(|_| {
                PyTypeError::new_err(format!("array {name:?} is not a numpy array"))
            })?;
            if !arr.is_c_contiguous() {
                return Err(PyValueError::new_err(format!(
                    "array {name:?} must be C-contiguous"
                )));
            }
            let dt = arr.dtype();
            let big_endian =
                dt.byteorder() == b'>' || (cfg!(target_endian = "big") && dt.byteorder() == b'=');
            let dtype = match (dt.kind(), dt.itemsize()) {
                (b'f', 8) => Some(DType::Float64),
                (b'f', 4) => Some(DType::Float32),
                (b'i', 8) => Some(DType::Int64),
                (b'i', 4) => Some(DType::Int32),
                (b'u', 1) => Some(DType::Uint8),
                (b'b', 1) => Some(DType::Bool),
                _ => None,
            };
            let dtype = match dtype {
                Some(d) if !big_endian => d,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "array {name:?} has dtype {dt}; only little-endian float32/64, int32/64, uint8 and bool are stored"
                    )))
                }
            };
            b.shapes
                .push(arr.shape().iter().map(|&d| d as u64).collect());
            b.names.push(name);
            b.dtypes.push(dtype);
            b.arrays.push(arr);
        }
        Ok(b)
    }

    fn views(&self) -> Vec<ArrayView<'_>> {
        (0..self.names.len())
            .map(|i| {
                let a = &self.arrays[i];
                let nbytes = a.len() * self.dtypes[i].itemsize();
                let data = if nbytes == 0 {
                    &[][..]
                } else {
                    // SAFETY: the array is C-contiguous (checked in `new`), so
                    // its buffer is `nbytes` initialised bytes from `data`;
                    // `self` holds a reference to the array and we hold the
                    // GIL, so it stays alive and unchanged while borrowed.
                    unsafe {
                        std::slice::from_raw_parts(
                            (*a.as_array_ptr()).fields.data as *const u8,
                            nbytes,
                        )
                    }
                };
                ArrayView {
                    name: &self.names[i],
                    dtype: self.dtypes[i],
                    shape: &self.shapes[i],
                    data,
                }
            })
            .collect()
    }
}

/// Validates a model's header + arrays and returns the canonical header JSON
/// with its checksum. `arrays` is a list of `(name, ndarray)`.
#[pyfunction]
fn seal_header(header_json: &str, arrays: &Bound<'_, PyList>) -> PyResult<String> {
    let items: Vec<(String, Bound<'_, PyAny>)> = arrays
        .iter()
        .map(|i| i.extract())
        .collect::<PyResult<_>>()?;
    let b = Borrowed::new(items)?;
    // The writer's own state failing validation is a bug or a bad attribute,
    // not a damaged file: a plain ValueError.
    let h = Header::parse(header_json)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize model: {e}")))?;
    h.seal(&b.views())
        .map_err(|e| PyValueError::new_err(format!("cannot serialize model: {e}")))
}

/// Verifies the checksum, checks compatibility with the running versions,
/// then validates the structure. `arrays` maps names to arrays; they are taken in the
/// header's manifest order. Returns `(canonical header JSON, [(code, message), ...])`.
#[pyfunction]
fn open_header(
    header_json: &str,
    arrays: &Bound<'_, PyDict>,
    runtime: (String, String, String, String),
) -> PyResult<(String, Vec<(String, String)>)> {
    let h = Header::parse(header_json).map_err(format_err)?;
    let mut items = Vec::with_capacity(h.arrays.len());
    for e in &h.arrays {
        let a = arrays.get_item(&e.name)?.ok_or_else(|| {
            format_err(FormatError::MissingArray {
                kind: h.kind.clone(),
                name: e.name.clone(),
            })
        })?;
        items.push((e.name.clone(), a));
    }
    for key in arrays.keys() {
        let key: String = key.extract()?;
        if !h.arrays.iter().any(|e| e.name == key) {
            return Err(format_err(FormatError::UnexpectedArray {
                kind: h.kind.clone(),
                name: key,
            }));
        }
    }
    let b = Borrowed::new(items)?;
    let rt = Runtime {
        oxlearn_version: runtime.0,
        sklearn_version: runtime.1,
        numpy_version: runtime.2,
        python_version: runtime.3,
    };
    let (_, warnings) = open_checked(header_json, &b.views(), &rt).map_err(format_err)?;
    Ok((
        header_json.to_owned(),
        warnings
            .iter()
            .map(|w| (w.code().to_owned(), w.to_string()))
            .collect(),
    ))
}

/// The schema of a model kind: `{"version", "arrays": [(name, required)], "attrs"}`.
#[pyfunction]
#[pyo3(name = "schema")]
fn schema_of<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyDict>> {
    let s = schema::lookup(kind)
        .ok_or_else(|| PyValueError::new_err(format!("unknown model kind {kind:?}")))?;
    let d = PyDict::new(py);
    d.set_item("version", s.version)?;
    d.set_item(
        "arrays",
        s.arrays
            .iter()
            .map(|a| (a.name, a.required))
            .collect::<Vec<_>>(),
    )?;
    d.set_item("attrs", s.attrs.to_vec())?;
    Ok(d)
}

/// Every model kind this build can load.
#[pyfunction]
fn known_kinds() -> Vec<&'static str> {
    schema::known_kinds()
}

/// The checksum of a header (JSON as written, checksum value blanked) and
/// its arrays, without any validation. For tools and tests that build or
/// forge headers; loading never trusts anything but a recomputation.
#[pyfunction]
fn checksum(blank_header_json: &str, arrays: &Bound<'_, PyList>) -> PyResult<String> {
    let items: Vec<(String, Bound<'_, PyAny>)> = arrays
        .iter()
        .map(|i| i.extract())
        .collect::<PyResult<_>>()?;
    let b = Borrowed::new(items)?;
    Ok(checksum_of(blank_header_json, &b.views()))
}
