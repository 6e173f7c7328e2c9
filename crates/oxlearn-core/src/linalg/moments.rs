//! Weighted, centred first and second moments of `[X | y]`, accumulated over
//! fixed row chunks and merged in order.
//!
//! Each chunk is centred on its own weighted mean before its cross-products
//! are formed, and chunks are merged with the pairwise update of Chan, Golub
//! and LeVeque (1979). This keeps the precision of a two-pass algorithm in one
//! pass, unlike raw sums of squares; the same merge serves `partial_fit`.

use super::chunks::{check_weights, copy_shifted, ChunkPlan};
use crate::{Error, Real, Result};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef, Par};
use std::ops::Range;

/// Weighted moments of features `X` (n×p) and targets `y` (n×t).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Rows seen (including rows of zero weight).
    pub n_samples: u64,
    /// Sum of the sample weights (`n_samples` without weights).
    pub sum_weights: f64,
    /// Whether `cxx`/`cxy` are centred on the means (fit_intercept) or raw.
    pub centered: bool,
    /// Weighted mean of each feature (zeros when not centred).
    pub mean_x: Vec<f64>,
    /// Weighted mean of each target (zeros when not centred).
    pub mean_y: Vec<f64>,
    /// p×p: Σ wᵢ (xᵢ − x̄)(xᵢ − x̄)ᵀ, or Σ wᵢ xᵢxᵢᵀ when not centred.
    pub cxx: Mat<f64>,
    /// p×t: Σ wᵢ (xᵢ − x̄)(yᵢ − ȳ)ᵀ, or Σ wᵢ xᵢyᵢᵀ when not centred.
    pub cxy: Mat<f64>,
}

impl Moments {
    /// Moments of no data.
    pub fn empty(n_features: usize, n_targets: usize, centered: bool) -> Self {
        Moments {
            n_samples: 0,
            sum_weights: 0.0,
            centered,
            mean_x: vec![0.0; n_features],
            mean_y: vec![0.0; n_targets],
            cxx: Mat::zeros(n_features, n_features),
            cxy: Mat::zeros(n_features, n_targets),
        }
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.mean_x.len()
    }

    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.mean_y.len()
    }

    /// Moments of `x` (n×p) and `y` (n×t) with optional sample weights,
    /// computed over chunks of `chunk_rows` rows (0: automatic).
    ///
    /// Fails on NaN/infinity in `x` or `y`, on invalid weights, and on
    /// mismatched shapes.
    pub fn from_data<T: Real>(
        x: MatRef<'_, T>,
        y: MatRef<'_, T>,
        w: Option<&[T]>,
        centered: bool,
        chunk_rows: usize,
    ) -> Result<Self> {
        let (n, p) = x.shape();
        let t = y.ncols();
        check_inputs(x, y, w)?;
        let plan = ChunkPlan::new(n, p + t, chunk_rows);
        // Bound live partial results to ~32 MiB whatever p is.
        let bytes = 8 * (p * p + p * t + p + t) + 64;
        let group = ((32usize << 20) / bytes).clamp(1, 64);
        plan.map_fold(
            group,
            Moments::empty(p, t, centered),
            |rows| chunk_moments(x, y, w, rows, centered),
            |mut acc, part| {
                acc.merge(&part);
                acc
            },
        )
    }

    /// Adds another set of moments of the same shape (Chan et al.'s update).
    pub fn merge(&mut self, o: &Moments) {
        self.n_samples += o.n_samples;
        if o.sum_weights == 0.0 {
            return;
        }
        if self.sum_weights == 0.0 {
            self.sum_weights = o.sum_weights;
            self.mean_x.clone_from(&o.mean_x);
            self.mean_y.clone_from(&o.mean_y);
            self.cxx.clone_from(&o.cxx);
            self.cxy.clone_from(&o.cxy);
            return;
        }
        let (p, t) = (self.n_features(), self.n_targets());
        if !self.centered {
            self.sum_weights += o.sum_weights;
            self.cxx += &o.cxx;
            self.cxy += &o.cxy;
            return;
        }
        let (wa, wb) = (self.sum_weights, o.sum_weights);
        let w = wa + wb;
        let f = wa * wb / w;
        let r = wb / w;
        let d: Vec<f64> = (0..p).map(|j| o.mean_x[j] - self.mean_x[j]).collect();
        let dy: Vec<f64> = (0..t).map(|k| o.mean_y[k] - self.mean_y[k]).collect();
        for j in 0..p {
            for i in 0..p {
                self.cxx[(i, j)] += o.cxx[(i, j)] + f * d[i] * d[j];
            }
        }
        for k in 0..t {
            for i in 0..p {
                self.cxy[(i, k)] += o.cxy[(i, k)] + f * d[i] * dy[k];
            }
        }
        for j in 0..p {
            self.mean_x[j] += r * d[j];
        }
        for k in 0..t {
            self.mean_y[k] += r * dy[k];
        }
        self.sum_weights = w;
    }
}

/// The checks of [`Moments::from_data`] (and of the GPU's moments): `x`
/// neither empty nor without columns, `y` with as many rows, valid weights.
pub(crate) fn check_inputs<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
) -> Result<()> {
    let (n, p) = x.shape();
    if n == 0 || p == 0 {
        return Err(Error::EmptyInput { what: "X" });
    }
    if y.nrows() != n {
        return Err(Error::ShapeMismatch {
            what: "number of samples in y vs X".into(),
            expected: n,
            got: y.nrows(),
        });
    }
    if let Some(w) = w {
        check_weights(w, n)?;
    }
    Ok(())
}

/// Moments of rows `rows` of the data.
///
/// The chunk is shifted by its first row while it is copied (the shifted-data
/// algorithm: cancellation then depends only on the spread of the chunk
/// around one of its own points, not on the data's offset), its column sums
/// are taken in the same pass, and the shifted cross-products are corrected
/// to the chunk mean: `C = S - s sᵀ / W`.
fn chunk_moments<T: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    w: Option<&[T]>,
    rows: Range<usize>,
    centered: bool,
) -> Result<Moments> {
    let len = rows.len();
    let (xs, ys) = (x.subrows(rows.start, len), y.subrows(rows.start, len));
    let shift = |m: MatRef<'_, T>| -> Vec<f64> {
        (0..m.ncols())
            .map(|j| if centered { m[(0, j)].to_f64() } else { 0.0 })
            .collect()
    };
    let (kx, ky) = (shift(xs), shift(ys));
    let ws: Option<Vec<f64>> = w.map(|w| w[rows.clone()].iter().map(|v| v.to_f64()).collect());
    // Reusing each thread's chunk buffer avoids a fresh multi-MiB allocation
    // (page faults, zeroing) per chunk.
    let mut xbuf = CHUNK_BUF.with(|b| b.take());
    let mut ybuf = Vec::new();
    let result = chunk_moments_in(
        xs,
        ys,
        &kx,
        &ky,
        ws.as_deref(),
        rows.start,
        centered,
        &mut xbuf,
        &mut ybuf,
    );
    CHUNK_BUF.with(|b| b.replace(xbuf));
    result
}

thread_local! {
    static CHUNK_BUF: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[allow(clippy::too_many_arguments)]
fn chunk_moments_in<T: Real>(
    xs: MatRef<'_, T>,
    ys: MatRef<'_, T>,
    kx: &[f64],
    ky: &[f64],
    ws: Option<&[f64]>,
    row0: usize,
    centered: bool,
    xbuf: &mut Vec<f64>,
    ybuf: &mut Vec<f64>,
) -> Result<Moments> {
    let (len, p, t) = (xs.nrows(), xs.ncols(), ys.ncols());
    let (xb, sx) = copy_shifted(xs, "X", row0, kx, ws, xbuf)?;
    let (yb, sy) = copy_shifted(ys, "y", row0, ky, ws, ybuf)?;
    let sum_weights = match ws {
        Some(ws) => ws.iter().sum(),
        None => len as f64,
    };
    let mut m = Moments::empty(p, t, centered);
    m.n_samples = len as u64;
    if sum_weights == 0.0 {
        return Ok(m);
    }
    m.sum_weights = sum_weights;
    // A fixed sequential GEMM per chunk (parallelism is across chunks), on
    // the lower triangle only: XᵀX is symmetric.
    triangular::matmul(
        m.cxx.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        xb.as_ref().transpose(),
        BlockStructure::Rectangular,
        xb.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    matmul(
        m.cxy.as_mut(),
        Accum::Replace,
        xb.as_ref().transpose(),
        yb.as_ref(),
        1.0,
        Par::Seq,
    );
    if centered {
        let inv = 1.0 / sum_weights;
        for j in 0..p {
            for i in j..p {
                m.cxx[(i, j)] -= sx[i] * sx[j] * inv;
            }
            for k in 0..t {
                m.cxy[(j, k)] -= sx[j] * sy[k] * inv;
            }
            m.mean_x[j] = kx[j] + sx[j] * inv;
        }
        for k in 0..t {
            m.mean_y[k] = ky[k] + sy[k] * inv;
        }
    }
    for j in 0..p {
        for i in 0..j {
            m.cxx[(i, j)] = m.cxx[(j, i)];
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, p: usize, seed: u64) -> Vec<f64> {
        // Small deterministic LCG: tests need varied, reproducible numbers.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n * p)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 1.0
            })
            .collect()
    }

    fn naive(x: MatRef<'_, f64>, y: MatRef<'_, f64>, w: &[f64]) -> (Vec<f64>, Mat<f64>, Mat<f64>) {
        let (n, p) = x.shape();
        let sw: f64 = w.iter().sum();
        let mx: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| w[i] * x[(i, j)]).sum::<f64>() / sw)
            .collect();
        let my: f64 = (0..n).map(|i| w[i] * y[(i, 0)]).sum::<f64>() / sw;
        let cxx = Mat::from_fn(p, p, |a, b| {
            (0..n)
                .map(|i| w[i] * (x[(i, a)] - mx[a]) * (x[(i, b)] - mx[b]))
                .sum()
        });
        let cxy = Mat::from_fn(p, 1, |a, _| {
            (0..n)
                .map(|i| w[i] * (x[(i, a)] - mx[a]) * (y[(i, 0)] - my))
                .sum()
        });
        (mx, cxx, cxy)
    }

    #[test]
    fn chunked_matches_naive_with_weights() {
        let (n, p) = (1000, 5);
        let xs = data(n, p, 1);
        let ys = data(n, 1, 2);
        let w: Vec<f64> = data(n, 1, 3).iter().map(|v| v.abs()).collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let m = Moments::from_data(x, y, Some(&w), true, 64).unwrap();
        let (mx, cxx, cxy) = naive(x, y, &w);
        for j in 0..p {
            assert!((m.mean_x[j] - mx[j]).abs() < 1e-12);
            for i in 0..p {
                assert!((m.cxx[(i, j)] - cxx[(i, j)]).abs() < 1e-9 * cxx[(j, j)].abs().max(1.0));
            }
            assert!((m.cxy[(j, 0)] - cxy[(j, 0)]).abs() < 1e-9);
        }
        assert_eq!(m.n_samples, n as u64);
    }

    #[test]
    fn independent_of_thread_count() {
        let (n, p) = (20_000, 7);
        let xs = data(n, p, 4);
        let ys = data(n, 2, 5);
        let x = MatRef::from_column_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 2);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Moments::from_data(x, y, None, true, 512).unwrap())
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn merging_batches_equals_one_pass() {
        let (n, p) = (3000, 4);
        let xs = data(n, p, 6);
        let ys = data(n, 1, 7);
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let y = MatRef::from_row_major_slice(&ys, n, 1);
        let whole = Moments::from_data(x, y, None, true, 0).unwrap();
        let mut parts = Moments::empty(p, 1, true);
        for start in (0..n).step_by(700) {
            let len = 700.min(n - start);
            parts.merge(
                &Moments::from_data(x.subrows(start, len), y.subrows(start, len), None, true, 0)
                    .unwrap(),
            );
        }
        assert_eq!(parts.n_samples, whole.n_samples);
        for i in 0..p {
            assert!((parts.mean_x[i] - whole.mean_x[i]).abs() < 1e-14);
            for j in 0..p {
                assert!((parts.cxx[(i, j)] - whole.cxx[(i, j)]).abs() < 1e-10 * whole.cxx[(i, i)]);
            }
        }
    }

    #[test]
    fn zero_weight_rows_are_ignored() {
        let xs = [1.0, 2.0, 3.0, 100.0];
        let ys = [1.0, 2.0, 3.0, -50.0];
        let x = MatRef::from_row_major_slice(&xs, 4, 1);
        let y = MatRef::from_row_major_slice(&ys, 4, 1);
        let a = Moments::from_data(x, y, Some(&[1.0, 1.0, 1.0, 0.0]), true, 1).unwrap();
        let b = Moments::from_data(x.subrows(0, 3), y.subrows(0, 3), None, true, 1).unwrap();
        assert!((a.mean_x[0] - b.mean_x[0]).abs() < 1e-15);
        assert!((a.cxx[(0, 0)] - b.cxx[(0, 0)]).abs() < 1e-14);
    }

    #[test]
    fn rejects_nan_with_position() {
        let xs = [1.0, f64::NAN, 3.0, 4.0];
        let ys = [0.0; 2];
        let x = MatRef::from_row_major_slice(&xs, 2, 2);
        let y = MatRef::from_row_major_slice(&ys, 2, 1);
        let err = Moments::from_data(x, y, None, true, 0).unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 0, col: 1, .. }));
    }
}
