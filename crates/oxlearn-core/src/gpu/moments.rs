//! Moments on the GPU: weighted column means, the centred weighted Gram
//! matrix `XᵀWX` and cross-product `XᵀWY` (linear models, PCA), and the
//! per-column statistics of `BasicStatistics`.
//!
//! Two passes over row blocks: the weighted means first (one partial sum per
//! fixed row segment, each shifted by its segment's first row, merged on the
//! host in order with Chan et al.'s update), then the rows are centred and
//! scaled by `√w` on the device and cuBLAS forms `XcᵀXc` and `XcᵀYc`,
//! accumulating over blocks. Centring before the product keeps the precision
//! that forming raw sums of squares would lose on data with an offset.

use super::kernels::Kernel;
use super::{gpu_err, with_gpu, Gpu};
use crate::basic_statistics::ColumnMoments;
use crate::decomposition::{PcaSolver, PcaSpectrum};
use crate::linalg::chunks::first_non_finite;
use crate::linalg::Moments;
use crate::linear_model::{LeastSquaresParams, LinearFit, RidgeParams};
use crate::{Error, Real, Result};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{Gemm, GemmConfig};
use cudarc::driver::{CudaEvent, CudaSlice, LaunchConfig, PinnedHostSlice, PushKernelArg};
use faer::{Mat, MatRef};
use rayon::prelude::*;
use std::ops::Range;

/// Row segments per block of a column reduction: enough threads to fill a
/// large GPU, few enough partials to merge on the host in no time.
const SEGMENTS: usize = 1024;

/// Elements of one pinned staging buffer (two of them, 32 MiB each).
const STAGE_ELEMS: usize = 1 << 22;
/// Uploads of fewer elements go from pageable memory (no staging).
const STAGE_MIN: usize = 1 << 17;
/// Rows per rayon task while converting into a staging buffer.
const FILL_ELEMS: usize = 1 << 14;

/// Two pinned (page-locked) host buffers for uploads: while the copy engine
/// reads one, the host converts the next chunk into the other. `done[b]`
/// is recorded on the stream after the copy out of `bufs[b]`; the buffer is
/// written again only after it has completed.
pub(crate) struct Staging {
    bufs: Vec<PinnedHostSlice<f64>>,
    done: Vec<CudaEvent>,
}

impl Staging {
    fn new(g: &Gpu) -> std::result::Result<Staging, cudarc::driver::DriverError> {
        let mut bufs = Vec::with_capacity(2);
        let mut done = Vec::with_capacity(2);
        for _ in 0..2 {
            // SAFETY: the memory is uninitialised; it is only ever read (by
            // the copies) after `fill_chunk` has written the part copied.
            bufs.push(unsafe { g.ctx.alloc_pinned_with_flags::<f64>(STAGE_ELEMS, 0) }?);
            done.push(g.ctx.new_event(None)?);
        }
        Ok(Staging { bufs, done })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // No copy may still read a buffer when it is freed.
        for e in &self.done {
            let _ = e.synchronize();
        }
    }
}

/// Writes rows `r0..` of an upload into `out` (whole rows of `p`) in
/// parallel, returning whether every value written is finite.
fn fill_chunk<F>(out: &mut [f64], p: usize, r0: usize, fill: &F) -> bool
where
    F: Fn(usize, &mut [f64]) -> bool + Sync,
{
    let rows = (FILL_ELEMS / p).max(1);
    out.par_chunks_mut(rows * p)
        .enumerate()
        .map(|(c, part)| fill(r0 + c * rows, part))
        .reduce(|| true, |a, b| a & b)
}

/// A new device buffer of `n_rows` rows of `p` values, `fill(r0, out)`
/// writing rows `r0..` into `out` (whole rows) and returning whether they
/// are all finite. `None` when some value is not (the caller names it).
///
/// Large uploads go in chunks through the pinned staging buffers, the host
/// filling one (on all cores) while the previous one is copied; small ones
/// (or when pinned memory cannot be had) from a pageable vector.
fn upload_with<F>(g: &Gpu, n_rows: usize, p: usize, fill: F) -> Result<Option<CudaSlice<f64>>>
where
    F: Fn(usize, &mut [f64]) -> bool + Sync,
{
    let total = n_rows * p;
    let err = |what: &'static str| move |e: cudarc::driver::DriverError| gpu_err(what)(&e);
    let mut guard = if total >= STAGE_MIN && p <= STAGE_ELEMS {
        g.staging.try_lock().ok()
    } else {
        None
    };
    if let Some(st) = guard.as_mut() {
        if st.is_none() {
            **st = Staging::new(g).ok();
        }
    }
    let Some(st) = guard.as_mut().and_then(|st| st.as_mut()) else {
        let mut host = vec![0.0f64; total];
        if !fill_chunk(&mut host, p.max(1), 0, &fill) {
            return Ok(None);
        }
        return upload(g, &host).map(Some);
    };
    let mut dst = g
        .stream
        .alloc_zeros::<f64>(total)
        .map_err(err("GPU allocation"))?;
    let rows = (STAGE_ELEMS / p).max(1);
    for (c, r0) in (0..n_rows).step_by(rows).enumerate() {
        let m = rows.min(n_rows - r0);
        let b = c % 2;
        // The copy that last read this buffer has finished.
        st.done[b].synchronize().map_err(err("staging wait"))?;
        let buf = st.bufs[b].as_mut_slice().map_err(err("staging buffer"))?;
        let buf = &mut buf[..m * p];
        if !fill_chunk(buf, p, r0, &fill) {
            return Ok(None);
        }
        let mut view = dst.slice_mut(r0 * p..(r0 + m) * p);
        g.stream
            .memcpy_htod(&*buf, &mut view)
            .map_err(err("copy to the GPU"))?;
        st.done[b].record(&g.stream).map_err(err("staging event"))?;
    }
    Ok(Some(dst))
}

/// Copies rows `rows` of `x` to the device as row-major `f64`, failing on
/// NaN or infinity with the position of the first one (named `what`).
pub(crate) fn upload_rows<T: Real>(
    g: &Gpu,
    x: MatRef<'_, T>,
    rows: Range<usize>,
    what: &'static str,
) -> Result<CudaSlice<f64>> {
    let (len, p) = (rows.len(), x.ncols());
    if len * p == 0 {
        return upload(g, &[]);
    }
    let xs = x.subrows(rows.start, len);
    let fill = |r0: usize, out: &mut [f64]| {
        let mut finite = true;
        for (k, row) in out.chunks_exact_mut(p).enumerate() {
            let i = r0 + k;
            match xs.row(i).try_as_row_major() {
                Some(r) => {
                    for (o, &v) in row.iter_mut().zip(r.as_slice()) {
                        *o = v.to_f64();
                    }
                }
                None => {
                    for (j, o) in row.iter_mut().enumerate() {
                        *o = xs[(i, j)].to_f64();
                    }
                }
            }
            finite &= row.iter().fold(true, |a, v| a & v.is_finite());
        }
        finite
    };
    match upload_with(g, len, p, fill)? {
        Some(d) => Ok(d),
        // The first non-finite value in row-major order, as the CPU names it.
        None => Err(first_non_finite(xs, what, rows.start)
            .unwrap_or_else(|| Error::Gpu(format!("non-finite value in {what}")))),
    }
}

/// Copies a row-major host matrix of `p` columns (known finite) to the
/// device, through the staging buffers when it is large.
pub(crate) fn upload_matrix(g: &Gpu, host: &[f64], p: usize) -> Result<CudaSlice<f64>> {
    let p = p.max(1);
    let fill = |r0: usize, out: &mut [f64]| {
        out.copy_from_slice(&host[r0 * p..r0 * p + out.len()]);
        true
    };
    upload_with(g, host.len() / p, p, fill)?
        .ok_or_else(|| Error::Gpu("non-finite value in an upload".into()))
}

/// Copies a host slice to the device (an empty one becomes one zero, so
/// that every kernel argument is a valid pointer).
pub(crate) fn upload(g: &Gpu, host: &[f64]) -> Result<CudaSlice<f64>> {
    let one = [0.0];
    let src = if host.is_empty() { &one[..] } else { host };
    g.stream
        .clone_htod(src)
        .map_err(|e| gpu_err("copy to the GPU")(&e))
}

/// Copies device memory back.
pub(crate) fn download<T: cudarc::driver::DeviceRepr>(g: &Gpu, d: &CudaSlice<T>) -> Result<Vec<T>> {
    g.stream
        .clone_dtoh(d)
        .map_err(|e| gpu_err("copy from the GPU")(&e))
}

/// Per-segment column reductions of a device block (see the kernel).
pub(crate) struct Partials {
    /// Rows per segment (the last may be shorter).
    pub seg: usize,
    /// Number of segments.
    pub n_seg: usize,
    pub s0: Vec<f64>,
    pub s1: Vec<f64>,
    pub s2: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    /// Each segment's shift (its first value).
    pub shift: Vec<f64>,
}

/// `mode`: 0 unweighted, 1 frequency weights, 2 rows scaled by `w`.
pub(crate) fn col_partials(
    g: &Gpu,
    x: &CudaSlice<f64>,
    w: &CudaSlice<f64>,
    mode: i32,
    nb: usize,
    p: usize,
) -> Result<Partials> {
    let seg = nb.div_ceil(SEGMENTS).max(1);
    let n_seg = nb.div_ceil(seg);
    let alloc = || {
        g.stream
            .alloc_zeros::<f64>(n_seg * p)
            .map_err(|e| gpu_err("GPU allocation")(&e))
    };
    let (mut s0, mut s1, mut s2) = (alloc()?, alloc()?, alloc()?);
    let (mut mn, mut mx, mut ks) = (alloc()?, alloc()?, alloc()?);
    let (nb_i, p_i, seg_i) = (nb as i64, p as i32, seg as i64);
    let threads = p.next_multiple_of(32).min(128);
    let cfg = LaunchConfig {
        grid_dim: (p.div_ceil(threads) as u32, n_seg as u32, 1),
        block_dim: (threads as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut b = g.stream.launch_builder(g.func(Kernel::ColReduce));
    b.arg(x)
        .arg(w)
        .arg(&mode)
        .arg(&nb_i)
        .arg(&p_i)
        .arg(&seg_i)
        .arg(&mut s0)
        .arg(&mut s1)
        .arg(&mut s2)
        .arg(&mut mn)
        .arg(&mut mx)
        .arg(&mut ks);
    // SAFETY: the kernel reads `nb·p` elements of `x` (a block of that
    // size), `nb` of `w` in modes 1 and 2 (the block's weights), and writes
    // `n_seg·p` elements of each output, allocated with that size above;
    // the argument types match the kernel's signature.
    unsafe { b.launch(cfg) }.map_err(|e| gpu_err("column reduction kernel")(&e))?;
    Ok(Partials {
        seg,
        n_seg,
        s0: download(g, &s0)?,
        s1: download(g, &s1)?,
        s2: download(g, &s2)?,
        min: download(g, &mn)?,
        max: download(g, &mx)?,
        shift: download(g, &ks)?,
    })
}

/// Centres `x` (nb×p on the device) on `mean` and scales row `i` by `√w[i]`.
pub(crate) fn center(
    g: &Gpu,
    x: &mut CudaSlice<f64>,
    w: &CudaSlice<f64>,
    has_w: bool,
    mean: &[f64],
    nb: usize,
    p: usize,
) -> Result<()> {
    if nb * p == 0 {
        return Ok(());
    }
    let mean_d = upload(g, mean)?;
    let (has, nb_i, p_i) = (i32::from(has_w), nb as i64, p as i32);
    let total = nb * p;
    let cfg = LaunchConfig {
        grid_dim: (total.div_ceil(256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut b = g.stream.launch_builder(g.func(Kernel::Center));
    b.arg(x).arg(w).arg(&has).arg(&mean_d).arg(&nb_i).arg(&p_i);
    // SAFETY: the kernel touches `nb·p` elements of `x` (its size), `nb` of
    // `w` only when `has_w` (then it holds the block's weights) and `p` of
    // `mean` (uploaded above); types match the kernel's signature.
    unsafe { b.launch(cfg) }.map_err(|e| gpu_err("centring kernel")(&e))?;
    Ok(())
}

/// `C (m×n, column-major) = A·Bᵀ + beta·C` where `A` is a row-major k×m
/// device block (column-major m×k) and `B` a row-major k×n block.
#[allow(clippy::too_many_arguments)]
fn gemm_at_b(
    g: &Gpu,
    a: &CudaSlice<f64>,
    b: &CudaSlice<f64>,
    c: &mut CudaSlice<f64>,
    m: usize,
    n: usize,
    k: usize,
    beta: f64,
) -> Result<()> {
    let nt = (false, true);
    gemm(g, nt, (m, n, k), (a, m), (b, n), (c, m), beta)
}

/// cuBLAS `dgemm` (column-major): `C = op(A)·op(B) + beta·C`, `trans` =
/// (transpose A, transpose B), `dims` = (m, n, k), each matrix with its
/// leading dimension. Every buffer must hold what the dimensions address.
pub(crate) fn gemm(
    g: &Gpu,
    trans: (bool, bool),
    dims: (usize, usize, usize),
    a: (&CudaSlice<f64>, usize),
    b: (&CudaSlice<f64>, usize),
    c: (&mut CudaSlice<f64>, usize),
    beta: f64,
) -> Result<()> {
    let int = |v: usize| {
        i32::try_from(v)
            .map_err(|_| Error::Gpu(format!("dimension {v} exceeds cuBLAS's int range")))
    };
    let op = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    let (m, n, k) = dims;
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    let need = |rows_ld: usize, cols: usize, len: usize, what: &str| {
        if rows_ld * (cols - 1) > len {
            Err(Error::Gpu(format!("dgemm: buffer {what} too small")))
        } else {
            Ok(())
        }
    };
    need(a.1, if trans.0 { m } else { k }, a.0.len(), "A")?;
    need(b.1, if trans.1 { k } else { n }, b.0.len(), "B")?;
    need(c.1, n, c.0.len(), "C")?;
    let cfg = GemmConfig {
        transa: op(trans.0),
        transb: op(trans.1),
        m: int(m)?,
        n: int(n)?,
        k: int(k)?,
        alpha: 1.0,
        lda: int(a.1)?,
        ldb: int(b.1)?,
        beta,
        ldc: int(c.1)?,
    };
    // SAFETY: the callers size `a`, `b` and `c` for these dimensions and
    // leading dimensions (column-major), checked coarsely above.
    unsafe { g.blas.gemm(cfg, a.0, b.0, c.0) }.map_err(|e| gpu_err("cuBLAS dgemm")(&e))
}

/// Row blocks of `n` rows for a row costing `row_bytes` on the device.
pub(crate) fn row_blocks(g: &Gpu, n: usize, row_bytes: usize) -> Vec<Range<usize>> {
    let rows = g.block_rows(row_bytes);
    (0..n).step_by(rows).map(|s| s..(s + rows).min(n)).collect()
}

/// Folds per-segment weighted sums (frequency weights) into running means
/// `mx`, `my` of total weight `sw`, segment by segment in order.
fn merge_means(px: &Partials, py: Option<&Partials>, sw: &mut f64, mx: &mut [f64], my: &mut [f64]) {
    let (p, t) = (mx.len(), my.len());
    for s in 0..px.n_seg {
        let ws = px.s0[s * p];
        if ws == 0.0 {
            continue;
        }
        let tot = *sw + ws;
        let r = ws / tot;
        for j in 0..p {
            let o = s * p + j;
            let seg_mean = px.shift[o] + px.s1[o] / ws;
            mx[j] += r * (seg_mean - mx[j]);
        }
        if let Some(py) = py {
            for k in 0..t {
                let o = s * t + k;
                let seg_mean = py.shift[o] + py.s1[o] / ws;
                my[k] += r * (seg_mean - my[k]);
            }
        }
        *sw = tot;
    }
}

/// Folds per-segment partials (rows scaled by weights, or unweighted) of a
/// block of `nb` rows into `acc`, in order.
fn merge_column_moments(pt: &Partials, nb: usize, acc: &mut ColumnMoments) {
    let p = acc.n_features();
    for s in 0..pt.n_seg {
        let len = pt.seg.min(nb - s * pt.seg);
        let c = len as f64;
        let mut part = ColumnMoments::empty(p);
        part.n_samples = len as u64;
        for j in 0..p {
            let o = s * p + j;
            let (k, s1) = (pt.shift[o], pt.s1[o]);
            part.mean[j] = k + s1 / c;
            part.sum[j] = c * k + s1;
            part.m2[j] = (pt.s2[o] - s1 * s1 / c).max(0.0);
            part.min[j] = pt.min[o];
            part.max[j] = pt.max[o];
        }
        acc.merge(&part);
    }
}

/// The same as [`Moments::from_data`], with the products and reductions on
/// GPU `ordinal`.
pub fn moments<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    centered: bool,
) -> Result<Moments> {
    crate::linalg::moments::check_inputs(x, y, w)?;
    with_gpu(ordinal, |g| moments_on(g, x, y, w, centered))
}

fn weights_of<T: Real>(g: &Gpu, w: Option<&[T]>, rows: &Range<usize>) -> Result<CudaSlice<f64>> {
    match w {
        Some(w) => upload(
            g,
            &w[rows.clone()]
                .iter()
                .map(|v| v.to_f64())
                .collect::<Vec<_>>(),
        ),
        None => upload(g, &[]),
    }
}

fn moments_on<T: Real>(
    g: &mut Gpu,
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    centered: bool,
) -> Result<Moments> {
    let (n, p) = x.shape();
    let t = y.ncols();
    let blocks = row_blocks(g, n, 8 * (p + t + 1));
    let mode = if w.is_some() { 1 } else { 0 };
    let mut m = Moments::empty(p, t, centered);
    m.n_samples = n as u64;
    // One block: the data stays on the device between the two passes.
    let mut kept: Option<(CudaSlice<f64>, CudaSlice<f64>, CudaSlice<f64>)> = None;
    // Pass 1: weighted means, merged segment by segment in order.
    let mut sw = 0.0f64;
    let (mut mx, mut my) = (vec![0.0f64; p], vec![0.0f64; t]);
    for rows in &blocks {
        let xb = upload_rows(g, x, rows.clone(), "X")?;
        let yb = upload_rows(g, y, rows.clone(), "y")?;
        let wb = weights_of(g, w, rows)?;
        let nb = rows.len();
        if centered {
            let px = col_partials(g, &xb, &wb, mode, nb, p)?;
            let py = (t > 0)
                .then(|| col_partials(g, &yb, &wb, mode, nb, t))
                .transpose()?;
            merge_means(&px, py.as_ref(), &mut sw, &mut mx, &mut my);
        } else {
            sw += match w {
                Some(w) => w[rows.clone()].iter().map(|v| v.to_f64()).sum(),
                None => nb as f64,
            };
        }
        if blocks.len() == 1 {
            kept = Some((xb, yb, wb));
        }
    }
    if sw == 0.0 {
        return Ok(m);
    }
    m.sum_weights = sw;
    if centered {
        m.mean_x.clone_from(&mx);
        m.mean_y.clone_from(&my);
    }
    // Pass 2: centred, √w-scaled blocks; cuBLAS accumulates the products.
    let mut cxx = g
        .stream
        .alloc_zeros::<f64>(p * p)
        .map_err(|e| gpu_err("GPU allocation")(&e))?;
    let mut cxy = g
        .stream
        .alloc_zeros::<f64>((p * t).max(1))
        .map_err(|e| gpu_err("GPU allocation")(&e))?;
    for (b, rows) in blocks.iter().enumerate() {
        let (mut xb, mut yb, wb) = match kept.take() {
            Some(k) => k,
            None => (
                upload_rows(g, x, rows.clone(), "X")?,
                upload_rows(g, y, rows.clone(), "y")?,
                weights_of(g, w, rows)?,
            ),
        };
        let nb = rows.len();
        if centered || w.is_some() {
            center(g, &mut xb, &wb, w.is_some(), &m.mean_x, nb, p)?;
            center(g, &mut yb, &wb, w.is_some(), &m.mean_y, nb, t)?;
        }
        let beta = if b == 0 { 0.0 } else { 1.0 };
        gemm_at_b(g, &xb, &xb, &mut cxx, p, p, nb, beta)?;
        if t > 0 {
            gemm_at_b(g, &xb, &yb, &mut cxy, p, t, nb, beta)?;
        }
    }
    let hxx = download(g, &cxx)?;
    let hxy = download(g, &cxy)?;
    // cuBLAS fills both triangles; the lower one is kept and mirrored, as
    // the CPU does, so the matrix is exactly symmetric.
    m.cxx = Mat::from_fn(p, p, |i, j| {
        let (r, c) = if i >= j { (i, j) } else { (j, i) };
        hxx[r + c * p]
    });
    m.cxy = Mat::from_fn(p, t, |i, k| hxy[i + k * p]);
    Ok(m)
}

/// The same as [`ColumnMoments::from_data`] (BasicStatistics), with the
/// reductions on GPU `ordinal`: one pass, one partial per row segment
/// shifted by its first row, merged on the host in order.
pub fn column_moments<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    w: Option<&[T]>,
) -> Result<ColumnMoments> {
    let (n, p) = x.shape();
    if n == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    if let Some(w) = w {
        crate::basic_statistics::check_scale_weights(w, n)?;
    }
    with_gpu(ordinal, |g| {
        let mut acc = ColumnMoments::empty(p);
        let mode = if w.is_some() { 2 } else { 0 };
        for rows in row_blocks(g, n, 8 * (p + 1)) {
            let xb = upload_rows(g, x, rows.clone(), "X")?;
            let wb = weights_of(g, w, &rows)?;
            let nb = rows.len();
            let pt = col_partials(g, &xb, &wb, mode, nb, p)?;
            merge_column_moments(&pt, nb, &mut acc);
        }
        Ok(acc)
    })
}

/// [`crate::linear_model::fit_least_squares`] with the moments on the GPU.
pub fn fit_least_squares<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    params: &LeastSquaresParams,
) -> Result<LinearFit> {
    let m = moments(ordinal, x, y, w, params.fit_intercept)?;
    crate::linear_model::least_squares::least_squares_given_moments(x, y, w, params, m)
}

/// [`crate::linear_model::fit_ridge`] with the moments on the GPU.
pub fn fit_ridge<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    params: &RidgeParams,
) -> Result<LinearFit> {
    let m = moments(ordinal, x, y, w, params.fit_intercept)?;
    crate::linear_model::ridge_fit_from_moments(&m, &params.alpha)
}

/// [`crate::decomposition::fit_pca`] with the covariance on the GPU.
pub fn fit_pca<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    solver: PcaSolver,
    chunk_rows: usize,
) -> Result<PcaSpectrum> {
    let n = x.nrows();
    let no_targets: [T; 0] = [];
    let y = MatRef::from_row_major_slice(&no_targets, n, 0);
    let m = moments(ordinal, x, y, None, true)?;
    crate::decomposition::pca::fit_pca_given_moments(x, solver, chunk_rows, m)
}

#[cfg(test)]
mod tests {
    use super::super::tests::gpu_or_skip;
    use super::*;

    fn data(n: usize, p: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n * p)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 1.0 + 100.0
            })
            .collect()
    }

    fn close(a: f64, b: f64, scale: f64) -> bool {
        (a - b).abs() <= 1e-10 * scale.max(1.0)
    }

    /// The `colreduce` kernel on the host (row-major `x`, nb×p).
    fn emulate(x: &[f64], w: &[f64], mode: i32, nb: usize, p: usize) -> Partials {
        let seg = nb.div_ceil(SEGMENTS).max(1);
        let n_seg = nb.div_ceil(seg);
        let z = || vec![0.0; n_seg * p];
        let mut pt = Partials {
            seg,
            n_seg,
            s0: z(),
            s1: z(),
            s2: z(),
            min: z(),
            max: z(),
            shift: z(),
        };
        for s in 0..n_seg {
            let (r0, r1) = (s * seg, ((s + 1) * seg).min(nb));
            for j in 0..p {
                let scale = |i: usize| if mode == 2 { w[i] } else { 1.0 };
                let k = scale(r0) * x[r0 * p + j];
                let (mut a0, mut a1, mut a2) = (0.0, 0.0, 0.0);
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for i in r0..r1 {
                    let v = scale(i) * x[i * p + j];
                    let wt = if mode == 1 { w[i] } else { 1.0 };
                    let dd = v - k;
                    a0 += wt;
                    a1 += wt * dd;
                    a2 += wt * dd * dd;
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                let o = s * p + j;
                (
                    pt.s0[o],
                    pt.s1[o],
                    pt.s2[o],
                    pt.min[o],
                    pt.max[o],
                    pt.shift[o],
                ) = (a0, a1, a2, lo, hi, k);
            }
        }
        pt
    }

    #[test]
    fn merging_segment_partials_matches_the_cpu() {
        // 5000 rows: 1024 segments of 5 rows, the last shorter.
        let (n, p) = (5003, 4);
        let xs = data(n, p, 11);
        let w: Vec<f64> = data(n, 1, 12).iter().map(|v| v - 99.0).collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let none: [f64; 0] = [];
        let y = MatRef::from_row_major_slice(&none, n, 0);
        let cpu = Moments::from_data(x, y, Some(&w), true, 0).unwrap();
        let (mut sw, mut mx, mut my) = (0.0, vec![0.0; p], vec![]);
        merge_means(&emulate(&xs, &w, 1, n, p), None, &mut sw, &mut mx, &mut my);
        assert!(close(sw, cpu.sum_weights, sw));
        for j in 0..p {
            assert!(close(mx[j], cpu.mean_x[j], 100.0), "{j}");
        }
        for (wt, mode) in [(None, 0), (Some(&w[..]), 2)] {
            let cpu = ColumnMoments::from_data(x, wt, 0).unwrap();
            let mut acc = ColumnMoments::empty(p);
            merge_column_moments(&emulate(&xs, wt.unwrap_or(&[]), mode, n, p), n, &mut acc);
            assert_eq!(acc.n_samples, cpu.n_samples);
            assert_eq!(acc.min, cpu.min);
            assert_eq!(acc.max, cpu.max);
            for j in 0..p {
                assert!(close(acc.mean[j], cpu.mean[j], 100.0));
                assert!(close(acc.sum[j], cpu.sum[j], cpu.sum[j].abs()));
                assert!(close(acc.m2[j], cpu.m2[j], cpu.m2[j]));
            }
        }
    }

    #[test]
    fn moments_match_the_cpu() {
        let Some(dev) = gpu_or_skip() else { return };
        let (n, p) = (5000, 7);
        let xs = data(n, p, 1);
        let ys = data(n, 2, 2);
        let w: Vec<f64> = data(n, 1, 3).iter().map(|v| v - 99.0).collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 2);
        for (wt, centred) in [(None, true), (Some(&w[..]), true), (Some(&w[..]), false)] {
            let cpu = Moments::from_data(x, y, wt, centred, 0).unwrap();
            let gpu = moments(dev, x, y, wt, centred).unwrap();
            assert!(close(cpu.sum_weights, gpu.sum_weights, cpu.sum_weights));
            for j in 0..p {
                assert!(close(cpu.mean_x[j], gpu.mean_x[j], 100.0));
                for i in 0..p {
                    assert!(close(
                        cpu.cxx[(i, j)],
                        gpu.cxx[(i, j)],
                        cpu.cxx[(j, j)].abs()
                    ));
                }
            }
        }
    }

    #[test]
    fn column_moments_match_the_cpu() {
        let Some(dev) = gpu_or_skip() else { return };
        let (n, p) = (3001, 5);
        let xs = data(n, p, 4);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let cpu = ColumnMoments::from_data(x, None, 0).unwrap();
        let gpu = column_moments(dev, x, None).unwrap();
        assert_eq!(cpu.n_samples, gpu.n_samples);
        assert_eq!(cpu.min, gpu.min);
        assert_eq!(cpu.max, gpu.max);
        for j in 0..p {
            assert!(close(cpu.mean[j], gpu.mean[j], 100.0));
            assert!(close(cpu.m2[j], gpu.m2[j], cpu.m2[j]));
        }
    }

    #[test]
    fn staged_uploads_round_trip_and_name_the_first_non_finite() {
        let Some(dev) = gpu_or_skip() else { return };
        // Three staging chunks (the last partial), f64 and f32.
        let p = 3;
        let n = (STAGE_ELEMS / p) * 2 + 5;
        let xs: Vec<f64> = (0..n * p).map(|i| (i % 1000) as f64 * 0.5 - 7.0).collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let back = with_gpu(dev, |g| download(g, &upload_rows(g, x, 0..n, "X")?)).unwrap();
        assert_eq!(back[..n * p], xs[..]);
        let x32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let m32 = MatRef::from_row_major_slice(&x32, n, p);
        let rows = 7..n;
        let back = with_gpu(dev, |g| {
            download(g, &upload_rows(g, m32, rows.clone(), "X")?)
        })
        .unwrap();
        assert_eq!(back[..rows.len() * p], xs[7 * p..]);
        // Non-finite values in the second and third chunks: the first named.
        let mut bad = xs.clone();
        let r2 = STAGE_ELEMS / p + 11;
        bad[(2 * (STAGE_ELEMS / p) + 1) * p] = f64::NAN;
        bad[r2 * p + 2] = f64::INFINITY;
        let xb = MatRef::from_row_major_slice(&bad, n, p);
        let e = with_gpu(dev, |g| upload_rows(g, xb, 0..n, "X").map(|_| ())).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { row, col: 2, .. } if row == r2),
            "{e:?}"
        );
    }

    #[test]
    fn nan_is_reported_with_its_position() {
        let Some(dev) = gpu_or_skip() else { return };
        let mut xs = data(10, 2, 5);
        xs[7] = f64::NAN;
        let x = MatRef::from_row_major_slice(&xs, 10, 2);
        let e = column_moments(dev, x, None).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { row: 3, col: 1, .. }),
            "{e:?}"
        );
    }
}
