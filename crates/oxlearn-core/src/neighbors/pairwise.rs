//! Dense pairwise distance matrices (scikit-learn's `pairwise_distances`).
//!
//! Every entry of the [`Metric`] distances is the exact, difference-based
//! distance (the arithmetic of scikit-learn's `DistanceMetric` and of scipy's
//! `cdist`: coordinate differences accumulated in dimension order in `f64`),
//! never `‖x‖² − 2x·y + ‖y‖²`, which loses all digits for near-identical
//! rows. The kernel keeps a 4 × 16 block of distances in registers while it
//! walks the dimensions of a tile of `y`, so it runs at matrix-product speed
//! for the small and moderate dimensions these metrics are used with. Cosine
//! is `1 − u·v` of unit rows through a matrix product, as scikit-learn
//! defines it.

use super::metric::{with_reduce, Reduce};
use super::{rows_f64, Metric};
use crate::simd::multiversion;
use crate::{Error, Real, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// What `pairwise_distances` computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairwiseMetric {
    /// One of the neighbour-search metrics.
    Metric(Metric),
    /// `1 − x·y / (‖x‖ ‖y‖)`, clipped to `[0, 2]`; a zero row is at distance
    /// 1 from everything (scikit-learn's `cosine_distances`).
    Cosine,
}

impl PairwiseMetric {
    /// The metric called `name` (scikit-learn's names and aliases, plus
    /// `"cosine"`); `p` is the Minkowski order.
    pub fn from_name(name: &str, p: Option<f64>) -> Result<PairwiseMetric> {
        match name {
            "cosine" => Ok(PairwiseMetric::Cosine),
            other => Metric::from_name(other, p).map(PairwiseMetric::Metric),
        }
    }
}

/// Rows of `x` per kernel call (kept in registers with `LANES` points).
const QROWS: usize = 4;
/// Points of `y` per vector block.
const LANES: usize = 16;
/// Points of `y` per tile (stays in cache while a chunk of rows passes).
const TILE: usize = 256;
/// Rows of `x` per parallel task.
const CHUNK_ROWS: usize = 32;

/// The distances between every row of `x` and every row of `y` (`n_x × n_y`,
/// row-major, into `out`). `same` says `y` is `x` (the diagonal is then
/// exactly 0 for cosine too, as scikit-learn sets it); `squared` returns
/// squared euclidean distances. Results do not depend on the thread count.
pub fn pairwise_distances<T: Real, O: Real>(
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    metric: PairwiseMetric,
    same: bool,
    squared: bool,
    out: &mut [O],
) -> Result<()> {
    let (nx, d) = x.shape();
    let (ny, dy) = y.shape();
    if d != dy {
        return Err(Error::InvalidParameter {
            name: "Y",
            reason: format!("has {dy} features but X has {d}; both need the same number"),
        });
    }
    if out.len() != nx * ny {
        return Err(Error::InvalidParameter {
            name: "out",
            reason: format!("has {} entries, the distance matrix {nx}×{ny}", out.len()),
        });
    }
    if squared && metric != PairwiseMetric::Metric(Metric::Euclidean) {
        return Err(Error::InvalidParameter {
            name: "squared",
            reason: "True is only defined for the euclidean metric".into(),
        });
    }
    if nx == 0 || ny == 0 {
        return Ok(());
    }
    let mut xr = rows_f64(x, "X")?;
    let mut yr = if same { Vec::new() } else { rows_f64(y, "Y")? };
    let reduce_metric = match metric {
        PairwiseMetric::Metric(m) => m,
        PairwiseMetric::Cosine => {
            let zero_x = normalise_rows(&mut xr, d);
            let zero_y = if same {
                zero_x.clone()
            } else {
                normalise_rows(&mut yr, d)
            };
            let yr = if same { &xr } else { &yr };
            cosine(&xr, yr, d, &zero_x, &zero_y, same, out);
            return Ok(());
        }
    };
    let yr = if same { &xr } else { &yr };
    let yt = tiles(yr, ny, d);
    let finish = match reduce_metric {
        _ if squared => Finish::Identity,
        Metric::Euclidean => Finish::Sqrt,
        Metric::Minkowski(p) => Finish::Root(1.0 / p),
        Metric::Manhattan | Metric::Chebyshev => Finish::Identity,
    };
    with_reduce!(reduce_metric, |m| {
        out.par_chunks_mut(CHUNK_ROWS * ny)
            .enumerate()
            .for_each(|(c, out)| {
                let r0 = c * CHUNK_ROWS;
                let rows = out.len() / ny;
                let mut block = vec![0.0; QROWS * d];
                let mut acc = vec![0.0; QROWS * TILE];
                for (t, tile) in yt.chunks_exact(TILE * d.max(1)).enumerate() {
                    let j0 = t * TILE;
                    let width = TILE.min(ny - j0);
                    for q0 in (0..rows).step_by(QROWS) {
                        let nq = QROWS.min(rows - q0);
                        // A short last block repeats its last row (results unused).
                        for r in 0..QROWS {
                            let i = r0 + q0 + r.min(nq - 1);
                            for (j, &v) in xr[i * d..(i + 1) * d].iter().enumerate() {
                                block[j * QROWS + r] = v;
                            }
                        }
                        tile_kernel(m, &block, tile, d, &mut acc);
                        for r in 0..nq {
                            let o = &mut out[(q0 + r) * ny + j0..(q0 + r) * ny + j0 + width];
                            finish.apply(&acc[r * TILE..r * TILE + width], o);
                        }
                    }
                }
            })
    });
    Ok(())
}

/// How reduced distances become the returned ones (decided once, so the
/// per-entry loop has no branch on the metric).
enum Finish {
    Identity,
    Sqrt,
    /// `rd^(1/p)`.
    Root(f64),
}

impl Finish {
    /// Writes one row's distances.
    #[inline]
    fn apply<O: Real>(&self, acc: &[f64], out: &mut [O]) {
        match *self {
            Finish::Identity => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = O::from_f64(a);
                }
            }
            Finish::Sqrt => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = O::from_f64(a.sqrt());
                }
            }
            Finish::Root(inv_p) => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = O::from_f64(a.powf(inv_p));
                }
            }
        }
    }
}

/// Rows of `x` per parallel task of the cosine product.
const COSINE_ROWS: usize = 128;

/// Cosine distances `1 − u·v` of unit rows `x` (`n_x × d`) and `y`, clipped
/// to `[0, 2]`, as scikit-learn computes them: one matrix product per fixed
/// chunk of rows (sequential inside, so results do not depend on the thread
/// count); 1 for zero rows, 0 on the diagonal of `X` against itself.
fn cosine<O: Real>(
    x: &[f64],
    y: &[f64],
    d: usize,
    zero_x: &[bool],
    zero_y: &[bool],
    same: bool,
    out: &mut [O],
) {
    let ny = zero_y.len();
    let yv = MatRef::from_row_major_slice(y, ny, d);
    let zero_cols: Vec<usize> = (0..ny).filter(|&j| zero_y[j]).collect();
    out.par_chunks_mut(COSINE_ROWS * ny)
        .enumerate()
        .for_each_init(Vec::new, |scratch: &mut Vec<f64>, (c, out)| {
            let r0 = c * COSINE_ROWS;
            let rows = out.len() / ny;
            let xc = MatRef::from_row_major_slice(&x[r0 * d..(r0 + rows) * d], rows, d);
            // Column r of Y·Xcᵀ is row r of the output. The scratch is reused
            // by the thread's next chunk (no fresh pages to fault in).
            scratch.resize(ny * rows, 0.0);
            let dots = MatMut::from_column_major_slice_mut(&mut scratch[..], ny, rows);
            matmul(dots, Accum::Replace, yv, xc.transpose(), 1.0, Par::Seq);
            for (r, o) in out.chunks_exact_mut(ny).enumerate() {
                let i = r0 + r;
                if zero_x[i] {
                    o.fill(O::from_f64(1.0));
                } else {
                    let col = &scratch[r * ny..(r + 1) * ny];
                    // Branch-free so it vectorises; zero columns patched after.
                    for (o, &dot) in o.iter_mut().zip(col) {
                        *o = O::from_f64((1.0 - dot).clamp(0.0, 2.0));
                    }
                    for &j in &zero_cols {
                        o[j] = O::from_f64(1.0);
                    }
                }
                if same {
                    o[i] = O::from_f64(0.0);
                }
            }
        });
}

/// The rows of `x` scaled to unit euclidean norm (row-major `f64`), and
/// whether any row is all zeros (left as zeros). Cosine neighbours are the
/// euclidean neighbours of unit rows: `‖u − v‖² = 2 (1 − u·v)`.
pub fn unit_rows<T: Real>(x: MatRef<'_, T>) -> Result<(Vec<f64>, bool)> {
    let mut rows = rows_f64(x, "X")?;
    let zero = normalise_rows(&mut rows, x.ncols());
    Ok((rows, zero.contains(&true)))
}

/// Scales rows to unit norm in place; returns which rows were zero (left
/// as they are, like scikit-learn's `normalize`).
fn normalise_rows(x: &mut [f64], d: usize) -> Vec<bool> {
    x.chunks_exact_mut(d.max(1))
        .map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 {
                return true;
            }
            for v in row.iter_mut() {
                *v /= norm;
            }
            false
        })
        .collect()
}

/// `y` (row-major `n × d`) as tiles of `TILE` points, each dimension-major
/// (`tile[j * TILE + i]`), the last one padded with zeros.
fn tiles(y: &[f64], n: usize, d: usize) -> Vec<f64> {
    let n_tiles = n.div_ceil(TILE);
    let mut yt = vec![0.0; n_tiles * TILE * d];
    for (i, row) in y.chunks_exact(d.max(1)).enumerate().take(n) {
        let tile = &mut yt[(i / TILE) * TILE * d..];
        for (j, &v) in row.iter().enumerate() {
            tile[j * TILE + i % TILE] = v;
        }
    }
    yt
}

multiversion! {
    /// Reduced distances from the `QROWS` rows of `block` (dimension-major:
    /// `block[j * QROWS + r]`) to the
    /// `TILE` points of `tile` (dimension-major), into `acc` (`QROWS × TILE`).
    fn tile_kernel<M: Reduce>(m: M, block: &[f64], tile: &[f64], d: usize, acc: &mut [f64]) -> ()
    => tile_kernel_portable
}

#[inline(always)]
fn tile_kernel_portable<M: Reduce>(m: M, block: &[f64], tile: &[f64], d: usize, acc: &mut [f64]) {
    for l0 in (0..TILE).step_by(LANES) {
        let mut a = [[0.0f64; LANES]; QROWS];
        // One dimension per step: QROWS × LANES independent accumulators
        // hide the add latency; iterators keep bounds checks out of the loop.
        for (col, q) in tile
            .chunks_exact(TILE)
            .zip(block.chunks_exact(QROWS))
            .take(d)
        {
            let col = &col[l0..l0 + LANES];
            for (a, &q) in a.iter_mut().zip(q) {
                for (a, &v) in a.iter_mut().zip(col) {
                    *a = M::combine(*a, m.term(q - v));
                }
            }
        }
        for (r, a) in a.iter().enumerate() {
            acc[r * TILE + l0..][..LANES].copy_from_slice(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn data(n: usize, d: usize, seed: u64) -> Mat<f64> {
        let mut s = seed;
        Mat::from_fn(n, d, |_, _| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
    }

    fn reference(x: &Mat<f64>, y: &Mat<f64>, metric: Metric) -> Vec<f64> {
        let rows = |m: &Mat<f64>| -> Vec<Vec<f64>> {
            (0..m.nrows())
                .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
                .collect()
        };
        let (xr, yr) = (rows(x), rows(y));
        xr.iter()
            .flat_map(|a| {
                yr.iter()
                    .map(move |b| metric.from_reduced(metric.rdist(a, b)))
            })
            .collect()
    }

    #[test]
    fn every_metric_is_the_exact_distance_bit_for_bit() {
        // Sizes off the tile, block and chunk boundaries.
        let (x, y) = (data(37, 5, 1), data(261, 5, 2));
        for metric in [
            Metric::Euclidean,
            Metric::Manhattan,
            Metric::Chebyshev,
            Metric::Minkowski(3.5),
        ] {
            let mut out = vec![0.0f64; 37 * 261];
            pairwise_distances(
                x.as_ref(),
                y.as_ref(),
                PairwiseMetric::Metric(metric),
                false,
                false,
                &mut out,
            )
            .unwrap();
            assert_eq!(out, reference(&x, &y, metric), "{metric:?}");
        }
    }

    #[test]
    fn cosine_zero_rows_diagonal_and_squared() {
        let mut x = data(9, 3, 3);
        for j in 0..3 {
            x[(4, j)] = 0.0;
        }
        let mut out = vec![0.0f64; 81];
        pairwise_distances(
            x.as_ref(),
            x.as_ref(),
            PairwiseMetric::Cosine,
            true,
            false,
            &mut out,
        )
        .unwrap();
        for i in 0..9 {
            for j in 0..9 {
                let v = out[i * 9 + j];
                if i == j {
                    assert_eq!(v, 0.0);
                } else if i == 4 || j == 4 {
                    assert_eq!(v, 1.0);
                } else {
                    let (a, b) = (x.row(i), x.row(j));
                    let dot: f64 = (0..3).map(|k| a[k] * b[k]).sum();
                    let na = (0..3).map(|k| a[k] * a[k]).sum::<f64>().sqrt();
                    let nb = (0..3).map(|k| b[k] * b[k]).sum::<f64>().sqrt();
                    assert!((v - (1.0 - dot / (na * nb))).abs() < 1e-14, "{i} {j}");
                }
            }
        }
        let mut sq = vec![0.0f32; 81];
        let metric = PairwiseMetric::Metric(Metric::Euclidean);
        pairwise_distances(x.as_ref(), x.as_ref(), metric, true, true, &mut sq).unwrap();
        let exact = reference(&x, &x, Metric::Euclidean);
        for (s, e) in sq.iter().zip(&exact) {
            assert_eq!(*s, (e * e) as f32);
        }
    }

    #[test]
    fn independent_of_thread_count_and_errors() {
        let (x, y) = (data(200, 7, 4), data(300, 7, 5));
        let run = |threads| {
            let mut out = vec![0.0f64; 200 * 300];
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                pairwise_distances(
                    x.as_ref(),
                    y.as_ref(),
                    PairwiseMetric::Metric(Metric::Euclidean),
                    false,
                    false,
                    &mut out,
                )
            })
            .unwrap();
            out
        };
        assert_eq!(run(1), run(3));
        let z = data(4, 6, 6);
        let mut out = vec![0.0f64; 200 * 4];
        let e = pairwise_distances(
            x.as_ref(),
            z.as_ref(),
            PairwiseMetric::Cosine,
            false,
            false,
            &mut out,
        )
        .unwrap_err();
        assert!(e.to_string().contains("6 features but X has 7"), "{e}");
        let e = pairwise_distances(
            x.as_ref(),
            x.as_ref(),
            PairwiseMetric::Cosine,
            true,
            true,
            &mut vec![0.0f64; 200 * 200],
        )
        .unwrap_err();
        assert!(e.to_string().contains("squared"), "{e}");
        let mut bad = data(3, 7, 7);
        bad[(1, 2)] = f64::NAN;
        let e = pairwise_distances(
            bad.as_ref(),
            x.as_ref(),
            PairwiseMetric::Metric(Metric::Manhattan),
            false,
            false,
            &mut vec![0.0f64; 600],
        )
        .unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }
}
