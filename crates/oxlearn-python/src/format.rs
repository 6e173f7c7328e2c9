//! Bindings of `oxlearn_format`: seal and open the canonical form.

use crate::error::format_err;
use numpy::{PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use oxlearn_format::{
    checksum_of, digest_of, open_checked, parse_file, save_file, schema, ArrayView, DType,
    FormatError, Header, Runtime, SaveError,
};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(seal_header, m)?)?;
    m.add_function(wrap_pyfunction!(open_header, m)?)?;
    m.add_function(wrap_pyfunction!(schema_of, m)?)?;
    m.add_function(wrap_pyfunction!(known_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(checksum, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(verify_array_digests, m)?)?;
    m.add_function(wrap_pyfunction!(write_model_file, m)?)?;
    m.add_function(wrap_pyfunction!(open_model_file, m)?)?;
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

fn list_items<'py>(arrays: &Bound<'py, PyList>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    arrays.iter().map(|i| i.extract()).collect()
}

/// The arrays of `dict` in `h`'s manifest order; missing or extra names are
/// corruption.
fn in_manifest_order<'py>(
    h: &Header,
    dict: &Bound<'py, PyDict>,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let mut items = Vec::with_capacity(h.arrays.len());
    for e in &h.arrays {
        let a = dict.get_item(&e.name)?.ok_or_else(|| {
            format_err(FormatError::MissingArray {
                kind: h.kind.clone(),
                name: e.name.clone(),
            })
        })?;
        items.push((e.name.clone(), a));
    }
    for key in dict.keys() {
        let key: String = key.extract()?;
        if !h.arrays.iter().any(|e| e.name == key) {
            return Err(format_err(FormatError::UnexpectedArray {
                kind: h.kind.clone(),
                name: key,
            }));
        }
    }
    Ok(items)
}

/// `(array name, start, end)`: where an array lies in a model file's bytes.
type Span = (String, usize, usize);
/// `(code, message)` of a compatibility warning.
type Warning = (String, String);

fn runtime(rt: (String, String, String, String)) -> Runtime {
    Runtime {
        oxlearn_version: rt.0,
        sklearn_version: rt.1,
        numpy_version: rt.2,
        python_version: rt.3,
    }
}

fn warnings_to_py(warnings: &[oxlearn_format::CompatWarning]) -> Vec<Warning> {
    warnings
        .iter()
        .map(|w| (w.code().to_owned(), w.to_string()))
        .collect()
}

/// Validates a model's header + arrays and returns the sealed header JSON
/// (digests, checksum; file offsets when `file_layout`). `arrays` is a list
/// of `(name, ndarray)`.
#[pyfunction]
#[pyo3(signature = (header_json, arrays, file_layout=false))]
fn seal_header(
    header_json: &str,
    arrays: &Bound<'_, PyList>,
    file_layout: bool,
) -> PyResult<String> {
    let b = Borrowed::new(list_items(arrays)?)?;
    // The writer's own state failing validation is a bug or a bad attribute,
    // not a damaged file: a plain ValueError.
    let cannot = |e: FormatError| PyValueError::new_err(format!("cannot serialize model: {e}"));
    Header::parse(header_json)
        .map_err(cannot)?
        .seal(&b.views(), file_layout)
        .map_err(cannot)
}

/// Verifies the checksum and digests, checks compatibility with the running
/// versions, then validates the structure. `arrays` maps names to arrays.
/// Returns `[(code, message), ...]` of compatibility warnings.
#[pyfunction]
fn open_header(
    header_json: &str,
    arrays: &Bound<'_, PyDict>,
    runtime_versions: (String, String, String, String),
) -> PyResult<Vec<Warning>> {
    let h = Header::parse(header_json).map_err(format_err)?;
    let b = Borrowed::new(in_manifest_order(&h, arrays)?)?;
    let (_, warnings) = open_checked(header_json, &b.views(), &runtime(runtime_versions), false)
        .map_err(format_err)?;
    Ok(warnings_to_py(&warnings))
}

/// Verifies arrays against the digests of a (verified) header: the lazy half
/// of loading a memory-mapped model.
#[pyfunction]
fn verify_array_digests(header_json: &str, arrays: &Bound<'_, PyDict>) -> PyResult<()> {
    let h = Header::parse(header_json).map_err(format_err)?;
    let b = Borrowed::new(in_manifest_order(&h, arrays)?)?;
    let views = b.views();
    h.verify_digests(&views).map_err(format_err)?;
    // The element-wise structure checks a lazy load deferred (tree indices).
    h.verify_structure(&views).map_err(format_err)
}

/// Writes a model file: `header_json` sealed with `file_layout=True`,
/// atomically (see `oxlearn_format::save_file`). A failure of the disk is
/// an `OSError` with its errno (e.g. `ENOSPC`); an invalid model a
/// `ValueError`.
#[pyfunction]
fn write_model_file(
    path: std::path::PathBuf,
    header_json: &str,
    arrays: &Bound<'_, PyList>,
) -> PyResult<()> {
    let b = Borrowed::new(list_items(arrays)?)?;
    // The GIL stays held: the digests in the header were computed from these
    // arrays, and no other thread may change them until they are written.
    match save_file(&path, header_json, &b.views()) {
        Ok(()) => Ok(()),
        Err(SaveError::Format(e)) => Err(PyValueError::new_err(format!("cannot save model: {e}"))),
        Err(e @ SaveError::Io { .. }) => {
            let errno = match &e {
                SaveError::Io { source, .. } => source.raw_os_error(),
                SaveError::Format(_) => None,
            };
            let message = e.to_string();
            Err(match errno {
                // OSError(errno, strerror, filename) picks the subclass
                // (PermissionError, ...) from the errno.
                Some(n) => PyOSError::new_err((n, message, path)),
                None => PyOSError::new_err(message),
            })
        }
    }
}

/// Parses and checks a model file held in `buffer` (bytes or a read-only
/// memory map): layout, header checksum, array digests unless `lazy`,
/// compatibility, structure. Returns `(header JSON, [(name, start, end)],
/// warnings)`, the byte range of each array in the buffer.
#[pyfunction]
fn open_model_file(
    buffer: PyReadonlyArray1<'_, u8>,
    runtime_versions: (String, String, String, String),
    lazy: bool,
) -> PyResult<(String, Vec<Span>, Vec<Warning>)> {
    let bytes = buffer
        .as_slice()
        .map_err(|_| PyValueError::new_err("the model buffer must be contiguous"))?;
    let f = parse_file(bytes).map_err(format_err)?;
    let (h, warnings) = open_checked(f.header_json, &f.arrays(), &runtime(runtime_versions), lazy)
        .map_err(format_err)?;
    let spans = h
        .arrays
        .iter()
        .zip(f.spans())
        .map(|(e, r)| (e.name.clone(), r.start, r.end))
        .collect();
    Ok((f.header_json.to_owned(), spans, warnings_to_py(&warnings)))
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

/// Every model kind this build can load, or those of one origin:
/// `"oxlearn"` (oxlearn's estimators), `"sklearn"` (stock scikit-learn
/// classes stored as they are), `"marker"` (`"passthrough"`, `"drop"`).
#[pyfunction]
#[pyo3(signature = (origin=None))]
fn known_kinds(origin: Option<&str>) -> PyResult<Vec<&'static str>> {
    let Some(name) = origin else {
        return Ok(schema::known_kinds());
    };
    let origin = schema::Origin::ALL
        .into_iter()
        .find(|o| o.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = schema::Origin::ALL.iter().map(|o| o.name()).collect();
            PyValueError::new_err(format!(
                "unknown origin {name:?}; expected one of {names:?}"
            ))
        })?;
    Ok(schema::kinds_of(origin))
}

/// The checksum of a header (JSON as written, checksum value blanked),
/// without any validation. For tools and tests that build or forge headers;
/// loading never trusts anything but a recomputation.
#[pyfunction]
fn checksum(blank_header_json: &str) -> String {
    checksum_of(blank_header_json)
}

/// The digest of one array's bytes, as a manifest records it.
#[pyfunction]
fn digest(array: &Bound<'_, PyAny>) -> PyResult<String> {
    let b = Borrowed::new(vec![("array".to_owned(), array.clone())])?;
    Ok(digest_of(b.views()[0].data))
}
