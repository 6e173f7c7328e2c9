//! Brute-force k-nearest neighbours (euclidean) with the distances and a
//! top-k selection on the GPU, the exact ranking on the host.
//!
//! cuBLAS forms `Xc·Qcᵀ` for a block of queries (data and queries centred on
//! the data's mean; each query's products contiguous), a kernel (one thread
//! block per query, an exact radix selection) keeps the `K' = k + 16`
//! smallest `(‖q‖² − 2 q·x) + ‖x‖²`, ties to the smaller index; the host
//! recomputes the `K'` candidates' distances with the CPU's exact,
//! difference-based formula and keeps the `k` best, ties to the smaller
//! index. A rigorous rounding bound on the GPU values proves that no point
//! outside the candidates can be among the `k` best; a query where it cannot
//! (many points at nearly the same distance) is answered by the CPU index.
//! So the answer is the CPU's, bit for bit.

use super::kernels::{Kernel, TOPK_MAX, TOPK_THREADS};
use super::moments::{download, gemm, upload, upload_matrix};
use super::{gpu_err, with_gpu, Gpu};
use crate::neighbors::{rows_f64, KNeighbors, Metric, NeighborIndex};
use crate::{Error, Real, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use faer::MatRef;
use rayon::prelude::*;

/// Extra candidates per query beyond `k`: room for rounding near the k-th.
const EXTRA: usize = 16;
/// Largest `n_neighbors` the GPU path takes.
pub const MAX_K: usize = TOPK_MAX - EXTRA;

/// The `k` nearest points of `index` to each row of `queries`, with the
/// distances on GPU `ordinal`: the same answer as
/// [`NeighborIndex::kneighbors`]. Euclidean indexes only, `k <= MAX_K`.
pub fn kneighbors<T: Real>(
    ordinal: usize,
    index: &NeighborIndex,
    queries: MatRef<'_, T>,
    k: usize,
) -> Result<KNeighbors> {
    let (n, d) = (index.n_points(), index.n_features());
    if index.metric() != Metric::Euclidean {
        return Err(Error::InvalidParameter {
            name: "metric",
            reason: format!(
                "{:?}: the GPU k-nearest search is euclidean only; use the CPU",
                index.metric()
            ),
        });
    }
    if k == 0 || k > n {
        return Err(Error::InvalidParameter {
            name: "n_neighbors",
            reason: format!("{k}; it must be between 1 and the number of fitted samples, {n}"),
        });
    }
    if k > MAX_K {
        return Err(Error::InvalidParameter {
            name: "n_neighbors",
            reason: format!("{k}; the GPU k-nearest search takes at most {MAX_K}; use the CPU"),
        });
    }
    if queries.ncols() != d {
        return Err(Error::ShapeMismatch {
            what: "number of features in X vs the fitted data".into(),
            expected: d,
            got: queries.ncols(),
        });
    }
    let q = rows_f64(queries, "X")?;
    let prep = Prepared::new(index.points(), &q, n, d);
    let kk = (k + EXTRA).min(n);
    with_gpu(ordinal, |g| {
        let xd = upload_matrix(g, &prep.xc, d)?;
        let xnd = upload(g, &prep.xn)?;
        let step = g.block_rows(8 * n + 8 * d + kk * 16 + 8);
        search(index, &q, k, &prep, step, |qc, qn, nb| {
            block_topk(g, &xd, &xnd, qc, qn, (nb, n, d), kk)
        })
        .map(|(out, _)| out)
    })
}

/// The data centred on its mean, with what the rounding bound needs.
struct Prepared {
    mean: Vec<f64>,
    xc: Vec<f64>,
    xn: Vec<f64>,
    max_xn: f64,
    /// Bound on how far centring's rounding moves a difference vector.
    centring: f64,
    d: usize,
}

impl Prepared {
    fn new(data: &[f64], q: &[f64], n: usize, d: usize) -> Prepared {
        // Partial sums over fixed row chunks (in parallel), added in chunk
        // order: the same mean whatever the thread count.
        let per = ((1 << 14) / d.max(1) + 1) * d.max(1);
        let sums: Vec<Vec<f64>> = data
            .par_chunks(per)
            .map(|c| {
                let mut s = vec![0.0f64; d];
                for row in c.chunks_exact(d.max(1)) {
                    for (m, v) in s.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                s
            })
            .collect();
        let mut mean = vec![0.0f64; d];
        for s in &sums {
            for (m, v) in mean.iter_mut().zip(s) {
                *m += v;
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        // Centring rounds each coordinate by up to eps·|value|: the norm of
        // the largest magnitudes bounds how far that moves a difference.
        let amax = data
            .par_chunks(per)
            .chain(q.par_chunks(per))
            .map(|c| {
                let mut a = vec![0.0f64; d];
                for row in c.chunks_exact(d.max(1)) {
                    for (a, v) in a.iter_mut().zip(row) {
                        *a = a.max(v.abs());
                    }
                }
                a
            })
            .reduce(
                || vec![0.0f64; d],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(&b) {
                        *x = x.max(*y);
                    }
                    a
                },
            );
        let centring = 2.0 * f64::EPSILON * amax.iter().map(|a| a * a).sum::<f64>().sqrt();
        let mut p = Prepared {
            mean,
            xc: Vec::new(),
            xn: Vec::new(),
            max_xn: 0.0,
            centring,
            d,
        };
        let (xc, xn) = p.centre(data);
        p.max_xn = xn.iter().fold(0.0f64, |a, &b| a.max(b));
        (p.xc, p.xn) = (xc, xn);
        p
    }

    /// Rows centred on the data's mean, and their squared norms.
    fn centre(&self, rows: &[f64]) -> (Vec<f64>, Vec<f64>) {
        // Element by element (rows in parallel): the same bits as in order.
        let d = self.d.max(1);
        let mut c = vec![0.0f64; rows.len()];
        let mut norms = vec![0.0f64; rows.len() / d];
        let per = (1 << 14) / d + 1;
        c.par_chunks_mut(per * d)
            .zip(rows.par_chunks(per * d))
            .zip(norms.par_chunks_mut(per))
            .for_each(|((c, r), nr)| {
                for ((cr, rr), n) in c.chunks_exact_mut(d).zip(r.chunks_exact(d)).zip(nr) {
                    for ((o, v), m) in cr.iter_mut().zip(rr).zip(&self.mean) {
                        *o = v - m;
                    }
                    *n = cr.iter().map(|v| v * v).sum();
                }
            });
        (c, norms)
    }
}

/// Per-segment candidates of one query block: `(distances, indices,
/// segments)`, laid out as [`block_topk`]'s.
type Candidates = (Vec<f64>, Vec<i64>, usize);

/// The exact search given a per-block candidate source `topk(qc, qn, nb)`
/// returning `(distances, indices, segments)` laid out as [`block_topk`]'s
/// (the GPU, or an emulation in tests), over query blocks of `step` rows.
/// Also returns how many queries the CPU answered.
fn search<F>(
    index: &NeighborIndex,
    q: &[f64],
    k: usize,
    prep: &Prepared,
    step: usize,
    mut topk: F,
) -> Result<(KNeighbors, usize)>
where
    F: FnMut(&[f64], &[f64], usize) -> Result<Candidates>,
{
    let (n, d) = (index.n_points(), index.n_features());
    let data = index.points();
    let nq = q.len() / d.max(1);
    let kk = (k + EXTRA).min(n);
    let mut out = KNeighbors {
        k,
        distances: vec![0.0; nq * k],
        indices: vec![0; nq * k],
    };
    let mut redo: Vec<usize> = Vec::new();
    for q0 in (0..nq).step_by(step.max(1)) {
        let nb = step.max(1).min(nq - q0);
        let (qc, qn) = prep.centre(&q[q0 * d..(q0 + nb) * d]);
        let (od, oi, segs) = topk(&qc, &qn, nb)?;
        // Each query on its own (in parallel): `None` when the bound cannot
        // settle it.
        let settled: Vec<Option<Vec<(f64, u32)>>> = (0..nb)
            .into_par_iter()
            .map(|t| {
                let qi = q0 + t;
                let mut cand: Vec<(f64, i64)> = (0..segs)
                    .flat_map(|s| {
                        let o = (s * nb + t) * kk;
                        (0..kk).map(move |c| o + c)
                    })
                    .map(|o| (od[o], oi[o]))
                    .filter(|&(_, i)| i >= 0 && (i as usize) < n)
                    .collect();
                cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                cand.truncate(kk);
                let row = &q[qi * d..(qi + 1) * d];
                let mut exact: Vec<(f64, u32)> = cand
                    .iter()
                    .map(|&(_, i)| {
                        let i = i as usize;
                        (
                            Metric::Euclidean.rdist(row, &data[i * d..(i + 1) * d]),
                            i as u32,
                        )
                    })
                    .collect();
                exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let proven = exact.len() >= k
                    && (n <= kk || {
                        // Every point left out has a GPU value >= threshold,
                        // so an exact distance >= threshold − slack: the
                        // product's and the norms' rounding (with a factor 2
                        // to spare) and the centring's.
                        let threshold = cand[kk - 1].0;
                        let slack = 8.0 * (d as f64 + 4.0) * f64::EPSILON * (qn[t] + prep.max_xn)
                            + 2.0 * prep.centring * threshold.max(0.0).sqrt()
                            + 2.0 * prep.centring * prep.centring;
                        cand.len() == kk && threshold - slack > exact[k - 1].0
                    });
                proven.then(|| {
                    exact.truncate(k);
                    exact
                })
            })
            .collect();
        for (t, found) in settled.into_iter().enumerate() {
            let qi = q0 + t;
            let Some(exact) = found else {
                redo.push(qi);
                continue;
            };
            for (c, &(rd, i)) in exact.iter().enumerate() {
                out.distances[qi * k + c] = Metric::Euclidean.from_reduced(rd);
                out.indices[qi * k + c] = i;
            }
        }
    }
    let n_redo = redo.len();
    if !redo.is_empty() {
        // Near-ties the rounding bound cannot settle: the CPU's exact search.
        let rows: Vec<f64> = redo
            .iter()
            .flat_map(|&i| q[i * d..(i + 1) * d].iter().copied())
            .collect();
        let cpu = index.kneighbors(MatRef::from_row_major_slice(&rows, redo.len(), d), k, 0)?;
        for (r, &qi) in redo.iter().enumerate() {
            out.distances[qi * k..(qi + 1) * k].copy_from_slice(&cpu.distances[r * k..(r + 1) * k]);
            out.indices[qi * k..(qi + 1) * k].copy_from_slice(&cpu.indices[r * k..(r + 1) * k]);
        }
    }
    Ok((out, n_redo))
}

/// Top-`kk` of each query of one block: `(distances, indices, 1)` laid out
/// `[query · kk + rank]` (one segment: all points).
fn block_topk(
    g: &Gpu,
    xd: &CudaSlice<f64>,
    xnd: &CudaSlice<f64>,
    qc: &[f64],
    qn: &[f64],
    (nb, n, d): (usize, usize, usize),
    kk: usize,
) -> Result<Candidates> {
    let qd = upload_matrix(g, qc, d)?;
    let qnd = upload(g, qn)?;
    let alloc = |len: usize| {
        g.stream
            .alloc_zeros::<f64>(len)
            .map_err(|e| gpu_err("GPU allocation")(&e))
    };
    let mut gm = alloc(n * nb)?;
    // G (n×nb, column-major) = Xc·Qcᵀ: Xc is d×n and Qc d×nb column-major,
    // so each query's n products are contiguous.
    gemm(
        g,
        (true, false),
        (n, nb, d),
        (xd, d),
        (&qd, d),
        (&mut gm, n),
        0.0,
    )?;
    let mut od = alloc(nb * kk)?;
    let mut oi = g
        .stream
        .alloc_zeros::<i64>(nb * kk)
        .map_err(|e| gpu_err("GPU allocation")(&e))?;
    let (nq_i, n_i, kk_i) = (nb as i64, n as i64, kk as i32);
    let blocks = u32::try_from(nb)
        .map_err(|_| Error::Gpu(format!("{nb} queries in one block exceed the grid")))?;
    let cfg = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (TOPK_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut b = g.stream.launch_builder(g.func(Kernel::TopK));
    b.arg(&gm)
        .arg(&qnd)
        .arg(xnd)
        .arg(&nq_i)
        .arg(&n_i)
        .arg(&kk_i)
        .arg(&mut od)
        .arg(&mut oi);
    // SAFETY: the kernel reads n·nb elements of `gm`, nb of `qnd`, n of
    // `xnd`, and writes nb·kk of `od` and `oi` (allocated so); it runs with
    // exactly TOPK_THREADS threads per block (its shared arrays' layout),
    // kk <= n and kk <= TOPK_MAX (its shared candidate arrays); types match
    // its signature.
    unsafe { b.launch(cfg) }.map_err(|e| gpu_err("top-k kernel")(&e))?;
    Ok((download(g, &od)?, download(g, &oi)?, 1))
}

#[cfg(test)]
mod tests {
    use super::super::tests::gpu_or_skip;
    use super::*;
    use crate::neighbors::IndexParams;

    /// `ox_key` of the kernel: the order of `f64::total_cmp` on `u64`s.
    fn key(v: f64) -> u64 {
        let b = v.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    }

    /// The `topk_select` kernel's algorithm on the host for one query's
    /// values: radix selection of the `kk`-th smallest key 8 bits at a time,
    /// the keys below it and the first equal ones in index order, then the
    /// rank sort by (key, index).
    fn radix_topk(vals: &[f64], kk: usize) -> Vec<(f64, i64)> {
        let (mut prefix, mut mask, mut need) = (0u64, 0u64, kk as u32);
        for shift in (0..8).rev().map(|b| b * 8) {
            let mut hist = [0u32; 256];
            for &v in vals {
                let k = key(v);
                if k & mask == prefix {
                    hist[((k >> shift) & 255) as usize] += 1;
                }
            }
            let (mut acc, mut digit) = (0u32, 0usize);
            while digit < 255 && acc + hist[digit] < need {
                acc += hist[digit];
                digit += 1;
            }
            need -= acc;
            prefix |= (digit as u64) << shift;
            mask |= 255 << shift;
        }
        let below = kk - need as usize;
        let mut kept = vec![(f64::NAN, -1i64); kk];
        let (mut nl, mut ne) = (0usize, 0usize);
        for (j, &v) in vals.iter().enumerate() {
            let k = key(v);
            if k < prefix {
                kept[nl] = (v, j as i64);
                nl += 1;
            } else if k == prefix {
                if ne < need as usize {
                    kept[below + ne] = (v, j as i64);
                }
                ne += 1;
            }
        }
        assert_eq!(nl, below);
        let mut out = vec![(f64::NAN, -1i64); kk];
        for &(v, j) in &kept {
            let r = kept
                .iter()
                .filter(|&&(u, i)| key(u) < key(v) || (key(u) == key(v) && i < j))
                .count();
            out[r] = (v, j);
        }
        out
    }

    #[test]
    fn radix_selection_is_the_sorted_prefix() {
        let mut s = 5u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let sets: Vec<Vec<f64>> = vec![
            (0..1000).map(|_| next() * 100.0 - 1.0).collect(),
            (0..500).map(|_| (next() * 7.0).floor()).collect(),
            vec![3.0; 300],
            (0..400)
                .map(|i| [0.0, -0.0, -1e-300, 1e-300, 5e-324, -5e-324][i % 6])
                .collect(),
            (0..200)
                .map(|i| 1.0 + (i % 3) as f64 * f64::EPSILON)
                .collect(),
        ];
        for vals in &sets {
            for kk in [1, 2, 17, 128.min(vals.len()), vals.len().min(150)] {
                let mut want: Vec<(f64, i64)> = vals
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| (v, j as i64))
                    .collect();
                want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                want.truncate(kk);
                let got = radix_topk(vals, kk);
                assert_eq!(
                    got.iter()
                        .map(|&(v, j)| (v.to_bits(), j))
                        .collect::<Vec<_>>(),
                    want.iter()
                        .map(|&(v, j)| (v.to_bits(), j))
                        .collect::<Vec<_>>(),
                    "kk = {kk}"
                );
            }
        }
    }

    /// The `topk_select` kernel on the host: each value `(‖q‖² − 2 q·x) +
    /// ‖x‖²` perturbed by up to `noise` (relative to its scale), standing in
    /// for cuBLAS rounding, then [`radix_topk`] over all points.
    fn emulate(
        prep: &Prepared,
        n: usize,
        kk: usize,
        noise: f64,
    ) -> impl FnMut(&[f64], &[f64], usize) -> Result<Candidates> + '_ {
        let d = prep.d;
        let mut s = 12345u64;
        move |qc, qn, nb| {
            let mut od = vec![f64::INFINITY; nb * kk];
            let mut oi = vec![-1i64; nb * kk];
            for t in 0..nb {
                let vals: Vec<f64> = (0..n)
                    .map(|j| {
                        let g: f64 = (0..d).map(|f| qc[t * d + f] * prep.xc[j * d + f]).sum();
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let u = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                        let v = (qn[t] - 2.0 * g) + prep.xn[j];
                        v + u * noise * (qn[t] + prep.xn[j])
                    })
                    .collect();
                for (r, (v, j)) in radix_topk(&vals, kk).into_iter().enumerate() {
                    od[t * kk + r] = v;
                    oi[t * kk + r] = j;
                }
            }
            Ok((od, oi, 1))
        }
    }

    #[test]
    fn host_logic_gives_the_cpu_answer_with_ties_and_rounding() {
        // Continuous data (few ties), with an offset that makes the
        // centring round; then integer grid points (many exact ties, which
        // the bound leaves to the CPU).
        let mut s = 99u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for (n, d, offset, grid) in [
            (900, 3, 0.0, false),
            (500, 5, 1e6, false),
            (900, 3, 0.0, true),
            (40, 2, 0.0, true),
        ] {
            let mut value = |i: usize| {
                if grid {
                    ((i * 7919) % 13) as f64 + offset
                } else {
                    next() * 10.0 + offset
                }
            };
            let xs: Vec<f64> = (0..n * d).map(&mut value).collect();
            let qs: Vec<f64> = (0..60 * d).map(|i| value(i * 104729) + 0.5).collect();
            let x = MatRef::from_row_major_slice(&xs, n, d);
            let index = NeighborIndex::build(x, Metric::Euclidean, IndexParams::default()).unwrap();
            let prep = Prepared::new(index.points(), &qs, n, d);
            for k in [1, 5, 30] {
                let cpu = index
                    .kneighbors(MatRef::from_row_major_slice(&qs, 60, d), k, 0)
                    .unwrap();
                let kk = (k + EXTRA).min(n);
                for noise in [0.0, 1e-14] {
                    let (got, redo) =
                        search(&index, &qs, k, &prep, 17, emulate(&prep, n, kk, noise)).unwrap();
                    assert_eq!(got, cpu, "n = {n}, k = {k}, noise = {noise}");
                    // The bound settles queries without ties itself.
                    assert!(grid || redo == 0, "n = {n}, k = {k}: {redo} of 60 redone");
                }
            }
        }
    }

    #[test]
    fn same_answer_as_the_cpu_with_ties() {
        let Some(dev) = gpu_or_skip() else { return };
        // Integer grid points: many exact ties in distance.
        let (n, d) = (3000, 3);
        let xs: Vec<f64> = (0..n * d).map(|i| ((i * 7919) % 13) as f64).collect();
        let qs: Vec<f64> = (0..200 * d)
            .map(|i| ((i * 104729) % 11) as f64 + 0.5)
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, d);
        let q = MatRef::from_row_major_slice(&qs, 200, d);
        let index = NeighborIndex::build(x, Metric::Euclidean, IndexParams::default()).unwrap();
        for k in [1, 5, 40] {
            let cpu = index.kneighbors(q, k, 0).unwrap();
            let gpu = kneighbors(dev, &index, q, k).unwrap();
            assert_eq!(cpu, gpu, "k = {k}");
        }
    }
}
