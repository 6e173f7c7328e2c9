"""Fit time on the CPU against an NVIDIA GPU (``target_offload="gpu"``).

Each workload is fitted ``--repeat`` times per device after one warm-up (the
first GPU call opens the device and compiles the kernels) and the medians are
printed with their ratio, with the largest difference between the two
models' main attribute. Exits with a message, not an error, without a GPU.
``--scale`` shrinks every size (``--scale 0.1`` for a quick run).
"""

import argparse
import statistics
import sys
import time

import numpy as np

import oxlearn
from oxlearn import _gpu
from oxlearn.basic_statistics import BasicStatistics
from oxlearn.cluster import KMeans
from oxlearn.decomposition import PCA
from oxlearn.exceptions import GpuUnavailableError
from oxlearn.linear_model import LinearRegression, Ridge
from oxlearn.neighbors import NearestNeighbors


def timed(fn, repeat):
    """Median wall time of ``fn()`` over ``repeat`` runs (after one warm-up); last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def workloads(scale):
    """(name, fit function taking no argument and returning an array to compare)."""
    rng = np.random.default_rng(0)
    n = int(1_000_000 * scale)
    X = rng.normal(size=(n, 50)) + 3.0
    y = X @ rng.normal(size=50) + rng.normal(size=n)
    nk = int(200_000 * scale)
    centres = rng.normal(scale=8.0, size=(16, 32))
    Xk = centres[rng.integers(0, 16, nk)] + rng.normal(size=(nk, 32))
    nt, nq = int(100_000 * scale), int(10_000 * scale)
    Xt = rng.normal(size=(nt, 32))
    Q = rng.normal(size=(nq, 32))
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(Xt)
    return [
        (f"LinearRegression {n}x50", lambda: LinearRegression().fit(X, y).coef_),
        (f"Ridge {n}x50", lambda: Ridge(alpha=1.0).fit(X, y).coef_),
        (f"PCA(10) {n}x50", lambda: PCA(10, svd_solver="covariance_eigh").fit(X).components_),
        (f"BasicStatistics {n}x50", lambda: BasicStatistics().fit(X).variance_),
        (f"KMeans(16) {nk}x32", lambda: KMeans(16, n_init=1, random_state=0).fit(Xk)
         .cluster_centers_),
        (f"kneighbors(10) {nt}x32, {nq} queries", lambda: nn.kneighbors(Q)[1]),
    ]


def main():
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--device", default="gpu")
    args = parser.parse_args()
    with oxlearn.config_context(target_offload=args.device):
        device = _gpu.requested()
    try:
        info = _gpu.gpu_info(device or 0)
    except GpuUnavailableError as e:
        print(f"bench_gpu: skipped, no GPU: {e}")
        return 0
    print(f"GPU: {info['name']}, {info['total_memory'] / 2**30:.0f} GiB, compute capability "
          f"{info['compute_capability']}, driver CUDA {info['driver_cuda_version']}")
    print(f"{'workload':42} {'CPU s':>9} {'GPU s':>9} {'CPU/GPU':>8} {'max |diff|':>11}")
    for name, fit in workloads(args.scale):
        with oxlearn.config_context(target_offload="cpu"):
            t_cpu, a = timed(fit, args.repeat)
        with oxlearn.config_context(target_offload=args.device):
            t_gpu, b = timed(fit, args.repeat)
        diff = float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))
        print(f"{name:42} {t_cpu:9.3f} {t_gpu:9.3f} {t_cpu / t_gpu:7.2f}x {diff:11.2e}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
