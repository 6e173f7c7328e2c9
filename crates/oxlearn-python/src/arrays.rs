//! numpy ↔ faer views (zero-copy, any strides) and thread-pool selection.

use faer::MatRef;
use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A zero-copy faer view of a 2-D numpy array, C- or F-ordered or strided.
pub(crate) fn mat_ref<'a, T: Element>(a: &'a PyReadonlyArray2<'_, T>) -> MatRef<'a, T> {
    let v = a.as_array();
    let (r, c) = v.dim();
    let s = v.strides();
    // SAFETY: ndarray guarantees `as_ptr` with these element strides covers
    // exactly an r×c view of live, initialised memory, borrowed for 'a by the
    // read-only numpy borrow.
    unsafe { MatRef::from_raw_parts(v.as_ptr(), r, c, s[0], s[1]) }
}

/// `x` itself when numpy marks it aligned for its dtype, else a `ValueError`.
///
/// An array viewing a buffer at an odd offset (`np.frombuffer(b, offset=1)`)
/// must never become a Rust slice or view (undefined behaviour). The Python
/// side copies such arrays before any call (`oxlearn._aligned`); this is the
/// backstop for every `X` the bindings dispatch on.
pub(crate) fn aligned<'py, T: Element>(
    x: PyReadonlyArray2<'py, T>,
) -> PyResult<PyReadonlyArray2<'py, T>> {
    use numpy::npyffi::flags::NPY_ARRAY_ALIGNED;
    use numpy::PyUntypedArrayMethods;
    // SAFETY: `as_array_ptr` points to the live PyArrayObject `x` borrows.
    let flags = unsafe { (*x.as_array_ptr()).fields.flags };
    if flags & NPY_ARRAY_ALIGNED == 0 {
        return Err(PyValueError::new_err(
            "X is not aligned in memory for its dtype (e.g. np.frombuffer at an odd offset); \
             pass an aligned copy (np.require(X, requirements='A'))",
        ));
    }
    Ok(x)
}

/// A contiguous slice of a 1-D numpy array (sample weights).
pub(crate) fn slice<'a, T: Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    what: &str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a contiguous 1-D array")))
}

/// Runs `f` on `n_threads` threads (`None`: all available cores) of a cached,
/// fork-safe pool: see `oxlearn_core::threads`. Results never depend on the
/// thread count; this only bounds CPU use.
pub(crate) fn with_threads<R: Send>(
    n_threads: Option<usize>,
    f: impl FnOnce() -> R + Send,
) -> PyResult<R> {
    Ok(oxlearn_core::threads::run(n_threads, usize::MAX, f))
}
