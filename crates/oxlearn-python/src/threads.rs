//! Thread selection for the compute calls (`oxlearn_core::threads`: cached,
//! capped, fork-safe pools), and what Python's tests can ask of it.

use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(thread_pools, m)?)?;
    m.add_function(wrap_pyfunction!(available_cores, m)?)?;
    Ok(())
}

/// Like `arrays::with_threads`, for a call whose cost is known: `work`
/// (about as many scalar operations) below `oxlearn_core::threads::INLINE_WORK`
/// runs on the calling thread, since waking a pool would cost more.
pub(crate) fn with_threads_for<R: Send>(
    n_threads: Option<usize>,
    work: usize,
    f: impl FnOnce() -> R + Send,
) -> PyResult<R> {
    Ok(oxlearn_core::threads::run(n_threads, work, f))
}

/// `work` for a call over `dims` (rows × columns × …), saturating.
pub(crate) fn work(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

/// The thread counts of the pools this process has built, ascending (pools
/// are kept and reused; a forked child starts with none).
#[pyfunction]
fn thread_pools() -> Vec<usize> {
    oxlearn_core::threads::cached_pools()
}

/// The cores this process may use (CPU affinity and cgroup quota included):
/// the cap on every thread count.
#[pyfunction]
fn available_cores() -> usize {
    oxlearn_core::threads::available_cores()
}
