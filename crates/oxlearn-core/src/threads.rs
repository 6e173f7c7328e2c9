//! The thread pools oxlearn's parallel loops run on: cached, capped, and safe
//! across `fork`.
//!
//! rayon's global pool is never used on purpose. Its worker threads do not
//! survive a `fork`, so a forked child that queues work on it waits forever,
//! and `multiprocessing` (fork start method) and pre-fork servers do exactly
//! that after the parent has predicted once. Instead:
//!
//! - pools are built once per thread count and kept, tied to the process id:
//!   a forked child sees another pid and builds its own. The parent's pools
//!   are leaked in the child, never dropped, since their threads (and any lock
//!   one of them held) do not exist there;
//! - a thread count is capped at the cores this process may use
//!   ([`available_cores`]), so `n_jobs=10**6` costs what `n_jobs=-1` does;
//! - one-thread and small work ([`INLINE_WORK`]) runs on the calling thread,
//!   with no hand-off to a pool. The calling thread becomes the single worker
//!   of its own one-thread pool, so the loops it runs stay off the global pool
//!   too.
//!
//! Results never depend on any of this: reductions run over fixed chunks
//! combined in chunk order (see the crate documentation).

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rayon::ThreadPool;

/// Work (about as many scalar operations) below which a call runs on the
/// calling thread: waking a pool's threads costs tens of microseconds, more
/// than such work takes on one core.
pub const INLINE_WORK: usize = 1 << 16;

/// At most this many threads of a process become the worker of their own
/// one-thread pool. rayon never frees such a registration (a few KiB), so a
/// server that starts a thread per request must not leak one per request;
/// later threads hand small work to a cached one-thread pool instead.
pub const MAX_INLINE_THREADS: usize = 64;

/// This process's pools, one slot per thread count `1..=cores`.
struct Pools {
    pid: u32,
    cores: usize,
    by_count: Vec<OnceLock<Option<Arc<ThreadPool>>>>,
}

/// The current process's [`Pools`]; replaced (and the old one leaked) when
/// the pid changes. A pointer from `Box::leak`, never freed, so no lock is
/// taken that a fork could leave held.
static POOLS: AtomicPtr<Pools> = AtomicPtr::new(std::ptr::null_mut());

/// Threads registered as the worker of their own one-thread pool.
static INLINE_THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread is the worker of its own one-thread pool
    /// (`None`: not tried yet).
    static INLINE: Cell<Option<bool>> = const { Cell::new(None) };
}

fn pools() -> &'static Pools {
    let pid = std::process::id();
    let current = POOLS.load(Ordering::Acquire);
    // SAFETY: a non-null POOLS always comes from `Box::leak` below and is
    // never freed, so it is valid for 'static.
    if let Some(p) = unsafe { current.as_ref() } {
        if p.pid == pid {
            return p;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fresh: &'static mut Pools = Box::leak(Box::new(Pools {
        pid,
        cores,
        by_count: (0..cores).map(|_| OnceLock::new()).collect(),
    }));
    let fresh_ptr: *mut Pools = fresh;
    match POOLS.compare_exchange(current, fresh_ptr, Ordering::AcqRel, Ordering::Acquire) {
        // The previous process's pools (if any) stay leaked: see the module docs.
        Ok(_) => fresh,
        // Another thread of this process installed its own first; use that one
        // (the spare is a few bytes, leaked).
        // SAFETY: as above, a non-null POOLS is a leaked, never-freed Box.
        Err(winner) => unsafe { winner.as_ref() }.unwrap_or(fresh),
    }
}

/// The number of cores this process may use: CPU affinity and cgroup quota
/// included (`std::thread::available_parallelism`), read once per process.
pub fn available_cores() -> usize {
    pools().cores
}

/// `n_threads` capped to `1..=available_cores()`; `None` means all of them.
pub fn effective_threads(n_threads: Option<usize>) -> usize {
    let cores = available_cores();
    n_threads.unwrap_or(cores).clamp(1, cores)
}

/// The thread counts of the pools this process has built so far, ascending.
pub fn cached_pools() -> Vec<usize> {
    let p = pools();
    (1..=p.cores)
        .filter(|&n| matches!(p.by_count[n - 1].get(), Some(Some(_))))
        .collect()
}

/// The cached pool of `n` threads (`1..=cores`), built on first use; `None`
/// when the system refuses to start its threads.
fn pool(n: usize) -> Option<Arc<ThreadPool>> {
    let p = pools();
    let n = n.clamp(1, p.cores);
    p.by_count[n - 1]
        .get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(move |i| format!("oxlearn-{n}-{i}"))
                .build()
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// Makes the calling thread the worker of its own one-thread pool (once), so
/// that the parallel loops it runs execute on it, in order, with no hand-off.
/// False when that is refused ([`MAX_INLINE_THREADS`], or the thread already
/// belongs to another pool).
fn inline_here() -> bool {
    INLINE.with(|state| {
        if let Some(ok) = state.get() {
            return ok;
        }
        let ok = INLINE_THREADS.fetch_add(1, Ordering::AcqRel) < MAX_INLINE_THREADS
            && rayon::current_thread_index().is_none()
            && rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .use_current_thread()
                .thread_name(|_| "oxlearn-inline".into())
                .build()
                // The thread stays the pool's worker for its whole life; the
                // handle is not needed to run on it, and dropping it would
                // only signal termination to a worker that never waits.
                .map(std::mem::forget)
                .is_ok();
        state.set(Some(ok));
        ok
    })
}

/// Runs `f` with its parallel loops on `n_threads` threads (`None`: all
/// available cores), capped at [`available_cores`].
///
/// `work` estimates the scalar operations `f` performs; below
/// [`INLINE_WORK`], or with one thread, `f` runs on the calling thread.
/// Otherwise it runs on the cached pool of that many threads. If the system
/// refuses to start threads, `f` still runs, on fewer of them: results never
/// depend on the thread count.
pub fn run<R: Send>(n_threads: Option<usize>, work: usize, f: impl FnOnce() -> R + Send) -> R {
    let n = effective_threads(n_threads);
    let in_pool = rayon::current_thread_index().is_some();
    if n == 1 || work < INLINE_WORK {
        // A thread that is already a pool's worker (its own one-thread pool,
        // or a pool oxlearn runs nested work on) runs in that pool.
        if in_pool || inline_here() {
            return f();
        }
        if let Some(one) = pool(1) {
            return one.install(f);
        }
    }
    match pool(n).or_else(|| pool(1)) {
        Some(p) => p.install(f),
        // No thread could be started at all: the calling thread does the work
        // (on its own one-thread pool when it can have one).
        None => {
            let _ = in_pool || inline_here();
            f()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// The number of distinct threads a parallel loop of `items` items runs on.
    fn threads_used(items: usize) -> usize {
        let ids: Vec<std::thread::ThreadId> = (0..items)
            .into_par_iter()
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                std::thread::current().id()
            })
            .collect();
        let mut ids: Vec<String> = ids.iter().map(|i| format!("{i:?}")).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    #[test]
    fn counts_are_capped_at_the_available_cores() {
        let cores = available_cores();
        assert!(cores >= 1);
        assert_eq!(effective_threads(Some(1_000_000)), cores);
        assert_eq!(effective_threads(Some(0)), 1);
        assert_eq!(effective_threads(None), cores);
        // A huge request runs, on at most `cores` threads.
        let used = run(Some(usize::MAX), usize::MAX, || threads_used(64));
        assert!(used <= cores, "{used} threads on {cores} cores");
        assert!(cached_pools().iter().all(|&n| n <= cores));
    }

    #[test]
    fn pools_are_reused_between_calls() {
        let n = available_cores();
        run(Some(n), usize::MAX, || threads_used(4));
        let first = pool(n).map(|p| Arc::as_ptr(&p));
        for _ in 0..20 {
            run(Some(n), usize::MAX, || threads_used(2));
        }
        assert_eq!(pool(n).map(|p| Arc::as_ptr(&p)), first);
        assert!(cached_pools().contains(&n));
    }

    #[test]
    fn small_and_single_thread_work_runs_on_the_calling_thread() {
        let me = std::thread::current().id();
        // Run from a fresh thread so that its inline registration is observed.
        std::thread::spawn(move || {
            let here = std::thread::current().id();
            assert_ne!(here, me);
            for (n, work) in [
                (Some(1), usize::MAX),
                (None, 10),
                (Some(64), INLINE_WORK - 1),
            ] {
                let ran_on = run(n, work, || {
                    let ids: Vec<_> = (0..32)
                        .into_par_iter()
                        .map(|_| std::thread::current().id())
                        .collect();
                    assert!(ids.iter().all(|&i| i == here), "the loop left the caller");
                    std::thread::current().id()
                });
                assert_eq!(ran_on, here);
            }
            // The caller's own loops no longer reach rayon's global pool.
            assert_eq!(rayon::current_num_threads(), 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn threads_past_the_inline_limit_still_compute() {
        // A thread-per-request server: more short-lived callers than
        // MAX_INLINE_THREADS; the later ones hand their work to a pool.
        let sum = || run(Some(1), 10, || (0..100u64).into_par_iter().sum::<u64>());
        for _ in 0..MAX_INLINE_THREADS + 8 {
            assert_eq!(std::thread::spawn(sum).join().unwrap(), 4950);
        }
        assert!(INLINE_THREADS.load(Ordering::Acquire) > MAX_INLINE_THREADS);
    }

    #[test]
    fn large_work_runs_on_a_pool_and_gives_identical_results() {
        let sum = |n| {
            run(n, usize::MAX, || {
                (0..64usize)
                    .into_par_iter()
                    .map(|c| {
                        (0..1000)
                            .map(|i| ((c * 1000 + i) as f64).sqrt())
                            .sum::<f64>()
                    })
                    .collect::<Vec<f64>>()
            })
        };
        let one = sum(Some(1));
        assert_eq!(sum(None), one);
        assert_eq!(sum(Some(2)), one);
        if available_cores() > 1 {
            let on_pool = run(Some(2), usize::MAX, || {
                rayon::current_thread_index().is_some()
            });
            assert!(on_pool);
        }
    }
}
