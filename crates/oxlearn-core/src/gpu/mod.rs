//! Fitting on NVIDIA GPUs (feature `cuda`).
//!
//! CUDA is loaded at run time (`dlopen`, through `cudarc`'s `dynamic-loading`
//! bindings of CUDA 13.0): a build needs no CUDA toolkit and a machine
//! without a GPU runs everything else unchanged. The driver (`libcuda.so.1`),
//! cuBLAS (`libcublas.so.13`) and NVRTC (`libnvrtc.so.13`) are looked up by
//! the dynamic loader's ordinary rules (`LD_LIBRARY_PATH`, the system's
//! library cache). Whether they load is checked once per process
//! ([`probe`]); a missing library is an [`Error::GpuUnavailable`] naming it,
//! never a panic.
//!
//! The GPU computes only the heavy products and reductions, in `f64`
//! (`float32` input is widened on the host while it is copied, as the CPU
//! kernels widen it); the small solves that follow (Cholesky, eigen, SVD,
//! k-means updates) are the CPU code's, so a GPU fit and a CPU fit give the
//! same model up to the rounding of the sums. Data larger than a memory
//! budget is streamed through the GPU in row blocks.

mod kernels;
mod kmeans;
mod knn;
mod moments;

pub use kmeans::fit_kmeans;
pub use knn::kneighbors;
pub use moments::{column_moments, fit_least_squares, fit_pca, fit_ridge, moments};

use crate::{Error, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

/// What [`probe`] reports about a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// CUDA device ordinal.
    pub ordinal: usize,
    /// Marketing name, e.g. "NVIDIA H200".
    pub name: String,
    /// Total device memory in bytes.
    pub total_memory: usize,
    /// Free device memory in bytes when the device was opened.
    pub free_memory: usize,
    /// Compute capability `(major, minor)`.
    pub compute_capability: (i32, i32),
    /// The CUDA version the driver supports, e.g. 13000 for 13.0.
    pub driver_cuda_version: i32,
    /// The CUDA version of the bindings oxlearn was built with.
    pub bindings_cuda_version: &'static str,
    /// Number of CUDA devices visible to this process.
    pub device_count: usize,
}

/// Environment variable capping the bytes of one row block on the GPU
/// (default: 40% of the free memory, at most 2 GiB). Small values force
/// blocking (tests do this).
pub const BLOCK_BYTES_ENV: &str = "OXLEARN_GPU_BLOCK_BYTES";

/// An opened device: context, stream, cuBLAS handle and compiled kernels.
pub(crate) struct Gpu {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    pub(crate) k: kernels::Kernels,
    pub(crate) info: DeviceInfo,
    /// Pinned host buffers for uploads, allocated on first use (`None`
    /// inside: not yet, or the allocation failed and uploads go from
    /// pageable memory).
    pub(crate) staging: Mutex<Option<moments::Staging>>,
}

type Slot = std::result::Result<Arc<Mutex<Gpu>>, Error>;

/// Opened devices by ordinal; failures are cached too, so a machine without
/// a GPU pays for the probe once.
static DEVICES: Mutex<BTreeMap<usize, Slot>> = Mutex::new(BTreeMap::new());

/// Whether the CUDA libraries load, checked once per process.
static LIBRARIES: OnceLock<std::result::Result<(), String>> = OnceLock::new();

fn unavailable(reason: impl Into<String>) -> Error {
    Error::GpuUnavailable {
        reason: reason.into(),
    }
}

/// A CUDA error during a computation, with what was being done.
pub(crate) fn gpu_err(what: &str) -> impl Fn(&dyn std::fmt::Debug) -> Error + '_ {
    move |e| Error::Gpu(format!("{what}: {e:?}"))
}

/// Runs `f`, turning a panic inside `cudarc` (it panics when a library or a
/// symbol cannot be loaded) into an error.
fn no_panic<R>(what: &str, f: impl FnOnce() -> R) -> std::result::Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        format!("{what}: {msg}")
    })
}

fn check_libraries() -> std::result::Result<(), String> {
    LIBRARIES
        .get_or_init(|| {
            // SAFETY: `is_culib_present` only tries `dlopen` on candidate
            // names and closes what it opened; it runs no library code
            // besides the loader's initialisers.
            let driver = no_panic("loading the CUDA driver", || unsafe {
                cudarc::driver::sys::is_culib_present()
            })?;
            if !driver {
                return Err(
                    "no CUDA driver found (libcuda.so.1 could not be loaded from the dynamic \
                     loader's path); install the NVIDIA driver (>= 580 for CUDA 13)"
                        .to_string(),
                );
            }
            // SAFETY: as above, for cuBLAS.
            let blas = no_panic("loading cuBLAS", || unsafe {
                cudarc::cublas::sys::is_culib_present()
            })?;
            if !blas {
                return Err(
                    "cuBLAS not found (libcublas.so.13 could not be loaded); install it (pip \
                     install nvidia-cublas) and put its lib directory on LD_LIBRARY_PATH"
                        .to_string(),
                );
            }
            // SAFETY: as above, for NVRTC.
            let nvrtc = no_panic("loading NVRTC", || unsafe {
                cudarc::nvrtc::sys::is_culib_present()
            })?;
            if !nvrtc {
                return Err(
                    "NVRTC not found (libnvrtc.so.13 could not be loaded); install it (pip \
                     install nvidia-cuda-nvrtc) and put its lib directory on LD_LIBRARY_PATH"
                        .to_string(),
                );
            }
            Ok(())
        })
        .clone()
}

fn open(ordinal: usize) -> Result<Gpu> {
    check_libraries().map_err(unavailable)?;
    let count = no_panic("counting CUDA devices", CudaContext::device_count)
        .map_err(unavailable)?
        .map_err(|e| unavailable(format!("the CUDA driver could not be initialised: {e:?}")))?;
    let count = usize::try_from(count).unwrap_or(0);
    if ordinal >= count {
        return Err(unavailable(format!(
            "GPU {ordinal} requested but {count} CUDA device(s) are visible \
             (CUDA_VISIBLE_DEVICES={:?})",
            std::env::var("CUDA_VISIBLE_DEVICES").ok()
        )));
    }
    let ctx = no_panic("opening the CUDA device", || CudaContext::new(ordinal))
        .map_err(unavailable)?
        .map_err(|e| unavailable(format!("GPU {ordinal} could not be opened: {e:?}")))?;
    let info = no_panic("querying the CUDA device", || {
        device_info(&ctx, ordinal, count)
    })
    .map_err(unavailable)??;
    let stream = ctx.default_stream();
    let blas = no_panic("starting cuBLAS", || CudaBlas::new(stream.clone()))
        .map_err(unavailable)?
        .map_err(|e| unavailable(format!("cuBLAS could not start: {e:?}")))?;
    let k = no_panic("compiling the kernels", || kernels::Kernels::load(&ctx))
        .map_err(unavailable)??;
    Ok(Gpu {
        ctx,
        stream,
        blas,
        k,
        info,
        staging: Mutex::new(None),
    })
}

fn device_info(ctx: &Arc<CudaContext>, ordinal: usize, count: usize) -> Result<DeviceInfo> {
    let e = |what: &'static str| {
        move |e: cudarc::driver::DriverError| unavailable(format!("{what}: {e:?}"))
    };
    let mut version: std::ffi::c_int = 0;
    // SAFETY: `cuDriverGetVersion` writes one int through a valid pointer;
    // the driver library is loaded (checked above).
    let rc = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) };
    if rc != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
        version = 0;
    }
    let (free, total) = ctx.mem_get_info().map_err(e("memory query"))?;
    Ok(DeviceInfo {
        ordinal,
        name: ctx.name().map_err(e("device name"))?,
        total_memory: total,
        free_memory: free,
        compute_capability: ctx.compute_capability().map_err(e("compute capability"))?,
        driver_cuda_version: version,
        bindings_cuda_version: "13.0",
        device_count: count,
    })
}

/// The device `ordinal`, opened once per process (the result is cached,
/// failures included).
fn device(ordinal: usize) -> Result<Arc<Mutex<Gpu>>> {
    let mut map = DEVICES
        .lock()
        .map_err(|_| Error::Gpu("the device table was poisoned by a panic".into()))?;
    map.entry(ordinal)
        .or_insert_with(|| open(ordinal).map(|g| Arc::new(Mutex::new(g))))
        .clone()
}

/// Opens GPU `ordinal` (once per process) and reports what it is.
///
/// Fails with [`Error::GpuUnavailable`] when the CUDA driver, cuBLAS or NVRTC
/// cannot be loaded, when there is no such device, or when it cannot be
/// initialised; never panics.
pub fn probe(ordinal: usize) -> Result<DeviceInfo> {
    let dev = device(ordinal)?;
    let g = dev
        .lock()
        .map_err(|_| Error::Gpu("the device was poisoned by a panic".into()))?;
    Ok(g.info.clone())
}

/// Runs `f` with exclusive use of GPU `ordinal` (one stream per device:
/// concurrent fits take turns).
pub(crate) fn with_gpu<R>(ordinal: usize, f: impl FnOnce(&mut Gpu) -> Result<R>) -> Result<R> {
    let dev = device(ordinal)?;
    let mut g = dev
        .lock()
        .map_err(|_| Error::Gpu("the device was poisoned by a panic".into()))?;
    // cuBLAS works in the calling thread's current context (a pool thread).
    g.ctx
        .bind_to_thread()
        .map_err(|e| gpu_err("binding the CUDA context")(&e))?;
    let out = no_panic("GPU computation", || f(&mut g)).map_err(Error::Gpu)?;
    if out.is_err() {
        // Leave the stream idle for the next caller whatever happened.
        let _ = g.stream.synchronize();
    }
    out
}

impl Gpu {
    /// Bytes one row block may take on the device.
    pub(crate) fn block_bytes(&self) -> usize {
        if let Some(v) = std::env::var(BLOCK_BYTES_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            return v.max(1);
        }
        let free = self
            .ctx
            .mem_get_info()
            .map(|(f, _)| f)
            .unwrap_or(self.info.free_memory);
        (free / 10 * 4).clamp(1 << 20, 2 << 30)
    }

    /// Rows per block when one row costs `row_bytes` bytes on the device.
    pub(crate) fn block_rows(&self, row_bytes: usize) -> usize {
        (self.block_bytes() / row_bytes.max(1)).max(1)
    }

    pub(crate) fn func(&self, which: kernels::Kernel) -> &CudaFunction {
        self.k.get(which)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU of this machine, or `None` (tests then print why and pass).
    pub(crate) fn gpu_or_skip() -> Option<usize> {
        match probe(0) {
            Ok(_) => Some(0),
            Err(e) => {
                println!("skipped: no GPU ({e})");
                None
            }
        }
    }

    #[test]
    fn probe_reports_an_error_or_a_device_never_panics() {
        match probe(0) {
            Ok(info) => {
                assert!(!info.name.is_empty());
                assert!(info.total_memory > 0);
                assert!(info.compute_capability.0 >= 3);
            }
            Err(e) => {
                assert!(matches!(e, Error::GpuUnavailable { .. }), "{e:?}");
                let msg = e.to_string();
                assert!(msg.starts_with("no usable GPU: "), "{msg}");
                // The cached answer is the same.
                assert_eq!(probe(0).unwrap_err(), e);
            }
        }
    }

    #[test]
    fn a_missing_device_is_named() {
        let e = probe(4096).unwrap_err();
        assert!(matches!(e, Error::GpuUnavailable { .. }), "{e:?}");
    }
}
