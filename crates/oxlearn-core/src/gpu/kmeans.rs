//! k-means with the E-step's distances and argmin on the GPU.
//!
//! The data are centred on their mean once (on the device; kept there when
//! they fit the memory budget, else re-sent block by block each
//! iteration), and each iteration cuBLAS forms `Xc·Cᵀ` per row block and a
//! kernel takes `argmin_j ‖c_j‖² − 2 x·c_j` (ties to the lowest `j`), the
//! CPU kernel's formula. Initialisation (k-means++ with the same draws),
//! centre updates, empty-cluster moves and inertia are the CPU code's
//! ([`crate::cluster::kmeans::fit_kmeans_with`]).

use super::kernels::Kernel;
use super::moments::{center, gemm, row_blocks, upload, upload_rows};
use super::{gpu_err, with_gpu, Gpu};
use crate::cluster::kmeans::{fit_kmeans_with, LabelAssigner};
use crate::cluster::{KMeansFit, KMeansInit, KMeansParams};
use crate::{Real, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use faer::MatRef;
use std::ops::Range;

struct Assigner<'a, T: Real> {
    g: &'a Gpu,
    x: MatRef<'a, T>,
    shift: Vec<f64>,
    blocks: Vec<Range<usize>>,
    /// The centred data when it is one block.
    resident: Option<CudaSlice<f64>>,
    /// Products and labels of the largest block, reused every iteration.
    scratch: Option<(CudaSlice<f64>, CudaSlice<i32>)>,
    k: usize,
}

impl<T: Real> Assigner<'_, T> {
    fn centred_block(&self, rows: &Range<usize>) -> Result<CudaSlice<f64>> {
        let p = self.x.ncols();
        let mut xb = upload_rows(self.g, self.x, rows.clone(), "X")?;
        let none = upload(self.g, &[])?;
        center(self.g, &mut xb, &none, false, &self.shift, rows.len(), p)?;
        Ok(xb)
    }
}

impl<T: Real> LabelAssigner for Assigner<'_, T> {
    fn prepare(&mut self, shift: &[f64]) -> Result<()> {
        let p = self.x.ncols();
        self.shift = shift.to_vec();
        self.blocks = row_blocks(self.g, self.x.nrows(), 8 * (p + self.k) + 4);
        if self.blocks.len() == 1 {
            self.resident = Some(self.centred_block(&self.blocks[0])?);
        }
        Ok(())
    }

    fn assign(&mut self, centers: &[f64], labels: &mut [i32]) -> Result<()> {
        let p = self.x.ncols();
        let k = centers.len() / p.max(1);
        let cn: Vec<f64> = centers
            .chunks_exact(p)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        let (cd, cnd) = (upload(self.g, centers)?, upload(self.g, &cn)?);
        let most = self.blocks.iter().map(|r| r.len()).max().unwrap_or(0);
        let (mut gm, mut lab) = match self.scratch.take() {
            Some((gm, lab)) if gm.len() >= most * k => (gm, lab),
            _ => {
                let alloc_err = |e: cudarc::driver::DriverError| gpu_err("GPU allocation")(&e);
                (
                    self.g
                        .stream
                        .alloc_zeros::<f64>((most * k).max(1))
                        .map_err(alloc_err)?,
                    self.g
                        .stream
                        .alloc_zeros::<i32>(most.max(1))
                        .map_err(alloc_err)?,
                )
            }
        };
        for rows in &self.blocks {
            let nb = rows.len();
            let owned;
            let xb = match &self.resident {
                Some(x) => x,
                None => {
                    owned = self.centred_block(rows)?;
                    &owned
                }
            };
            // G (nb×k, column-major) = Xc·Cᵀ: Xc is p×nb and C p×k column-major.
            gemm(
                self.g,
                (true, false),
                (nb, k, p),
                (xb, p),
                (&cd, p),
                (&mut gm, nb),
                0.0,
            )?;
            let (nb_i, k_i) = (nb as i64, k as i32);
            let cfg = LaunchConfig {
                grid_dim: (nb.div_ceil(256) as u32, 1, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut b = self
                .g
                .stream
                .launch_builder(self.g.func(Kernel::ArgminRows));
            b.arg(&gm).arg(&cnd).arg(&nb_i).arg(&k_i).arg(&mut lab);
            // SAFETY: the kernel reads nb·k elements of `gm` and k of `cnd`
            // and writes nb of `lab`, all allocated with at least those
            // sizes (the largest block's); the argument types match its
            // signature.
            unsafe { b.launch(cfg) }.map_err(|e| gpu_err("argmin kernel")(&e))?;
            self.g
                .stream
                .memcpy_dtoh(&lab.slice(0..nb), &mut labels[rows.clone()])
                .map_err(|e| gpu_err("copy from the GPU")(&e))?;
        }
        self.scratch = Some((gm, lab));
        Ok(())
    }
}

/// [`crate::cluster::fit_kmeans`] with the E-steps on GPU `ordinal`; the
/// same model as the CPU fit whenever no point is within rounding of two
/// centres.
pub fn fit_kmeans<T: Real>(
    ordinal: usize,
    x: MatRef<'_, T>,
    w: Option<&[T]>,
    inits: &[KMeansInit],
    params: &KMeansParams,
) -> Result<KMeansFit> {
    with_gpu(ordinal, |g| {
        let mut a = Assigner {
            g,
            x,
            shift: Vec::new(),
            blocks: Vec::new(),
            resident: None,
            scratch: None,
            k: params.n_clusters,
        };
        fit_kmeans_with(x, w, inits, params, Some(&mut a))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::gpu_or_skip;
    use super::*;

    #[test]
    fn same_model_as_the_cpu() {
        let Some(dev) = gpu_or_skip() else { return };
        let (n, p, k) = (4000, 6, 5);
        let mut s = 7u64;
        let xs: Vec<f64> = (0..n * p)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) + 10.0 * ((i / p) % k) as f64
            })
            .collect();
        let x = MatRef::from_row_major_slice(&xs, n, p);
        let draws: Vec<f64> = (0..1 + (k - 1) * 3)
            .map(|i| (i as f64 * 0.618) % 1.0)
            .collect();
        let params = KMeansParams {
            n_clusters: k,
            max_iter: 100,
            tol: 1e-4,
            n_local_trials: 3,
            chunk_rows: 0,
        };
        let inits = [KMeansInit::PlusPlus(draws)];
        let cpu = crate::cluster::fit_kmeans(x, None, &inits, &params).unwrap();
        let gpu = fit_kmeans(dev, x, None, &inits, &params).unwrap();
        assert_eq!(cpu.labels, gpu.labels);
        assert_eq!(cpu.n_iter, gpu.n_iter);
        assert_eq!(cpu.centers, gpu.centers);
    }
}
