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
