//! The CUDA kernels besides cuBLAS products, compiled once per device by
//! NVRTC. All in `f64`; reductions write one partial result per fixed row
//! segment, merged on the host in segment order (no atomics), so a result
//! does not depend on scheduling.

use crate::{Error, Result};
use cudarc::driver::{CudaContext, CudaFunction};
use std::sync::Arc;

/// Upper bound on candidates per query in [`Kernel::TopK`] (a shared
/// array, at most one per thread); larger `n_neighbors` run on the CPU.
pub(crate) const TOPK_MAX: usize = 128;
/// Threads per block (one query) of [`Kernel::TopK`]: `TOPK_WARPS` warps.
pub(crate) const TOPK_THREADS: u32 = 256;

const SOURCE: &str = r#"
#define TOPK_MAX 128
#define TOPK_THREADS 256
#define TOPK_WARPS 8
// +infinity without headers (NVRTC compiles without the CUDA include path).
#define OX_INF __longlong_as_double(0x7ff0000000000000LL)
// Column reductions of a row-major block x (nb x p) over row segments of
// `seg` rows: thread (segment s = blockIdx.y, column j). mode 0: v = x,
// weight 1; mode 1: v = x, weight w[i] (frequency weights); mode 2:
// v = w[i] * x, weight 1 (rows scaled by their weights). Sums are of
// v - k with k the segment's first value (the shifted-data algorithm).
extern "C" __global__ void colreduce(const double* x, const double* w, int mode,
                                     long long nb, int p, long long seg,
                                     double* s0, double* s1, double* s2,
                                     double* mn, double* mx, double* ks) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    long long s = blockIdx.y;
    if (j >= p) return;
    long long r0 = s * seg;
    long long r1 = r0 + seg < nb ? r0 + seg : nb;
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, lo = OX_INF, hi = -OX_INF, k = 0.0;
    if (r0 < r1) {
        k = x[r0 * p + j];
        if (mode == 2) k = w[r0] * k;
    }
    for (long long i = r0; i < r1; i++) {
        double v = x[i * p + j];
        double wt = 1.0;
        if (mode == 1) wt = w[i];
        else if (mode == 2) v = w[i] * v;
        double d = v - k;
        a0 += wt;
        a1 += wt * d;
        a2 += wt * d * d;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    long long o = s * p + j;
    s0[o] = a0; s1[o] = a1; s2[o] = a2; mn[o] = lo; mx[o] = hi; ks[o] = k;
}

// x[i, j] = sqrt(w[i]) * (x[i, j] - mean[j]) (has_w == 0: no weight) in
// place, row-major nb x p.
extern "C" __global__ void center(double* x, const double* w, int has_w,
                                  const double* mean, long long nb, int p) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= nb * (long long)p) return;
    long long i = idx / p;
    int j = (int)(idx - i * p);
    double v = x[idx] - mean[j];
    if (has_w) v *= sqrt(w[i]);
    x[idx] = v;
}

// labels[i] = argmin_j cn[j] - 2 g[i + j * nb] (g column-major nb x k),
// ties to the lowest j, as the CPU's k-means kernel.
extern "C" __global__ void argmin_rows(const double* g, const double* cn,
                                       long long nb, int k, int* labels) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nb) return;
    double best = cn[0] - 2.0 * g[i];
    int arg = 0;
    for (int j = 1; j < k; j++) {
        double v = cn[j] - 2.0 * g[i + (long long)j * nb];
        if (v < best) { best = v; arg = j; }
    }
    labels[i] = arg;
}

// Order-preserving map of a double to an unsigned key (the order of Rust's
// f64::total_cmp: -0 before +0, negatives reversed).
__device__ __forceinline__ unsigned long long ox_key(double v) {
    unsigned long long b = (unsigned long long)__double_as_longlong(v);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ULL);
}

// The value ranked: (qn - 2 g) + xn, rounded to nearest in this order,
// never contracted into an FMA (the same bits in every pass; 2 g is exact).
__device__ __forceinline__ double ox_dist(double qq, double gj, double xj) {
    return __dadd_rn(__dadd_rn(qq, -2.0 * gj), xj);
}

// One block of TOPK_THREADS threads per query q = blockIdx.x: the K <= n
// smallest values ox_dist(qn[q], g[j + q * n], xn[j]) over all points j (g
// column-major n x nq: a query's products contiguous), ordered by (value
// as total_cmp, j), into od/oi[q * K + t]. Exact: a radix selection of the
// K-th smallest key, 8 bits at a time (8 passes counting, per warp, the
// keys that share the digits chosen so far), then one pass in index order
// that keeps the keys below it and the first `need` equal to it (smallest
// j), then a rank sort of the K kept.
extern "C" __global__ void topk_select(const double* g, const double* qn, const double* xn,
                                       long long nq, long long n, int K,
                                       double* od, long long* oi) {
    __shared__ unsigned int hist[TOPK_WARPS][256];
    __shared__ unsigned long long prefix_s;
    __shared__ unsigned int need_s;
    __shared__ unsigned int cnt_less[TOPK_WARPS], cnt_eq[TOPK_WARPS];
    __shared__ double sd[TOPK_MAX];
    __shared__ long long si[TOPK_MAX];
    long long q = blockIdx.x;
    if (q >= nq) return;
    const double* gq = g + q * n;
    double qq = qn[q];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    unsigned long long prefix = 0, mask = 0;
    unsigned int need = (unsigned int)K;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = tid; b < TOPK_WARPS * 256; b += TOPK_THREADS) hist[b >> 8][b & 255] = 0;
        __syncthreads();
        for (long long j = tid; j < n; j += TOPK_THREADS) {
            unsigned long long key = ox_key(ox_dist(qq, gq[j], xn[j]));
            if ((key & mask) == prefix) atomicAdd(&hist[warp][(key >> shift) & 255], 1u);
        }
        __syncthreads();
        if (tid < 256) {
            unsigned int c = 0;
            for (int w = 0; w < TOPK_WARPS; w++) c += hist[w][tid];
            hist[0][tid] = c;
        }
        __syncthreads();
        if (tid == 0) {
            // The digit holding the need-th smallest of the keys counted.
            unsigned int acc = 0;
            int digit = 0;
            while (digit < 255 && acc + hist[0][digit] < need) { acc += hist[0][digit]; digit++; }
            need_s = need - acc;
            prefix_s = prefix | ((unsigned long long)digit << shift);
        }
        __syncthreads();
        need = need_s;
        prefix = prefix_s;
        mask |= 255ULL << shift;
    }
    // prefix: the K-th smallest key; K - need keys are below it.
    unsigned int below = (unsigned int)K - need, base_less = 0, base_eq = 0;
    unsigned int lower = (1u << lane) - 1u;
    for (long long j0 = 0; j0 < n; j0 += TOPK_THREADS) {
        long long j = j0 + tid;
        double v = 0.0;
        unsigned long long key = ~0ULL;
        if (j < n) { v = ox_dist(qq, gq[j], xn[j]); key = ox_key(v); }
        bool less = j < n && key < prefix;
        bool eq = j < n && key == prefix;
        unsigned int bl = __ballot_sync(0xffffffffu, less);
        unsigned int be = __ballot_sync(0xffffffffu, eq);
        if (lane == 0) { cnt_less[warp] = __popc(bl); cnt_eq[warp] = __popc(be); }
        __syncthreads();
        unsigned int ol = base_less + __popc(bl & lower), oe = base_eq + __popc(be & lower);
        for (int w = 0; w < TOPK_WARPS; w++) {
            if (w < warp) { ol += cnt_less[w]; oe += cnt_eq[w]; }
            base_less += cnt_less[w];
            base_eq += cnt_eq[w];
        }
        if (less) { sd[ol] = v; si[ol] = j; }
        if (eq && oe < need) { sd[below + oe] = v; si[below + oe] = j; }
        __syncthreads();
        if (base_eq >= need && base_less >= below) break;
    }
    __syncthreads();
    // Rank sort by (key, j): ranks of distinct pairs are a permutation.
    if (tid < K) {
        unsigned long long kt = ox_key(sd[tid]);
        long long it = si[tid];
        int r = 0;
        for (int u = 0; u < K; u++) {
            unsigned long long ku = ox_key(sd[u]);
            if (ku < kt || (ku == kt && si[u] < it)) r++;
        }
        od[q * K + r] = sd[tid];
        oi[q * K + r] = it;
    }
}
"#;

/// Which kernel.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kernel {
    ColReduce,
    Center,
    ArgminRows,
    TopK,
}

/// The compiled kernels of one device.
pub(crate) struct Kernels {
    funcs: [CudaFunction; 4],
}

/// Compiles [`SOURCE`] to machine code (CUBIN) for `arch` (`"sm_90"`).
///
/// Machine code, not PTX: a driver loads CUBIN from any CUDA 13.x NVRTC,
/// while PTX from a newer NVRTC than the driver (pip's NVRTC 13.5 with
/// driver 580, CUDA 13.0) is refused as an unsupported PTX version.
pub(crate) fn compile_cubin(arch: &str) -> std::result::Result<Vec<u8>, String> {
    use cudarc::nvrtc::{result, sys};
    use std::ffi::{c_char, CStr, CString};
    let src = CString::new(SOURCE).map_err(|e| e.to_string())?;
    let name = CString::new("oxlearn_kernels.cu").map_err(|e| e.to_string())?;
    let prog = result::create_program(&src, Some(&name)).map_err(|e| format!("{e:?}"))?;
    let opts = [format!("--gpu-architecture={arch}")];
    // SAFETY: `prog` is the live program created above; the options are
    // plain strings.
    let out = match unsafe { result::compile_program(prog, &opts) } {
        Err(e) => {
            // SAFETY: `prog` is live; the log is a NUL-terminated string.
            let log = unsafe { result::get_program_log(prog) }
                .ok()
                .map(|l| {
                    // SAFETY: NVRTC's log buffer ends with a NUL.
                    unsafe { CStr::from_ptr(l.as_ptr()) }
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            Err(format!("{e:?}: {log}"))
        }
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: `prog` compiled successfully; `size` is a valid out pointer.
            let rc = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            if rc != sys::nvrtcResult::NVRTC_SUCCESS {
                Err(format!("nvrtcGetCUBINSize: {rc:?}"))
            } else {
                let mut buf = vec![0u8; size];
                // SAFETY: `buf` holds the `size` bytes NVRTC reported.
                let rc = unsafe { sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut c_char) };
                if rc != sys::nvrtcResult::NVRTC_SUCCESS {
                    Err(format!("nvrtcGetCUBIN: {rc:?}"))
                } else {
                    Ok(buf)
                }
            }
        }
    };
    // SAFETY: `prog` was created above and is destroyed once, here.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

impl Kernels {
    /// Compiles [`SOURCE`] for the device of `ctx` and loads its functions:
    /// machine code for its architecture, else (an architecture this NVRTC
    /// does not know) PTX for the driver to compile.
    pub(crate) fn load(ctx: &Arc<CudaContext>) -> Result<Kernels> {
        let unavailable = |what: &str, e: &dyn std::fmt::Debug| Error::GpuUnavailable {
            reason: format!("{what}: {e:?}"),
        };
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| unavailable("compute capability", &e))?;
        let cubin = compile_cubin(&format!("sm_{major}{minor}"))
            .map(cudarc::nvrtc::Ptx::from_binary)
            .and_then(|image| ctx.load_module(image).map_err(|e| format!("{e:?}")));
        let module = match cubin {
            Ok(m) => m,
            Err(cubin_err) => {
                let ptx = cudarc::nvrtc::compile_ptx(SOURCE).map_err(|e| {
                    unavailable(
                        &format!("NVRTC could not compile oxlearn's kernels (CUBIN: {cubin_err})"),
                        &e,
                    )
                })?;
                ctx.load_module(ptx).map_err(|e| {
                    unavailable(
                        &format!(
                            "the CUDA driver could not load oxlearn's kernels (CUBIN: {cubin_err})"
                        ),
                        &e,
                    )
                })?
            }
        };
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| unavailable(&format!("kernel {name}"), &e))
        };
        Ok(Kernels {
            funcs: [
                f("colreduce")?,
                f("center")?,
                f("argmin_rows")?,
                f("topk_select")?,
            ],
        })
    }

    pub(crate) fn get(&self, k: Kernel) -> &CudaFunction {
        &self.funcs[k as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NVRTC needs no GPU: wherever `libnvrtc.so.13` loads, the kernels must
    /// compile (to machine code for Hopper and to PTX).
    #[test]
    fn kernels_compile_where_nvrtc_loads() {
        // SAFETY: only tries to dlopen candidate names.
        let present =
            std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
                .unwrap_or(false);
        if !present {
            println!("skipped: NVRTC not found");
            return;
        }
        let cubin = compile_cubin("sm_90").unwrap();
        assert!(cubin.len() > 1000);
        assert!(cudarc::nvrtc::compile_ptx(SOURCE).is_ok());
    }
}
