"""Fit time and communication of oxlearn.spmd on 1, 2 and 4 MPI ranks.

    python bench/bench_spmd.py [--rows 2000000] [--features 50] [--ranks 1 2 4]

launches ``mpiexec -n R`` for each rank count; every rank generates its own
shard of the rows (rank by rank from one seed: no data is sent), then times
``fit`` (the slowest rank, between barriers; median of 3) of LinearRegression,
KMeans (k=8, 10 Lloyd iterations, tol=0) and PCA, and counts the bytes each
rank contributed to the collectives of one fit (``oxlearn.spmd.bytes_sent``).
The bytes are also measured at a quarter of the rows: they must not change.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def shard(rows, p, rank, size, seed=0):
    lo, hi = rows * rank // size, rows * (rank + 1) // size
    rng = np.random.default_rng([seed, rank, size])
    X = rng.normal(size=(hi - lo, p))
    y = X @ np.linspace(-1, 1, p) + rng.normal(size=hi - lo)
    return X, y


def worker(rows, p):
    from mpi4py import MPI

    from oxlearn import spmd

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    init = np.random.default_rng(1).normal(size=(8, p))
    cases = {
        "LinearRegression": lambda X, y: spmd.LinearRegression().fit(X, y),
        "KMeans": lambda X, y: spmd.KMeans(8, init=init, max_iter=10, tol=0.0).fit(X),
        "PCA": lambda X, y: spmd.PCA(n_components=10).fit(X),
    }
    out = {}
    for n in (rows, rows // 4):
        X, y = shard(n, p, rank, size)
        for name, fit in cases.items():
            times, sent = [], 0
            for _ in range(3 if n == rows else 1):
                comm.Barrier()
                before = spmd.bytes_sent()
                t0 = time.perf_counter()
                fit(X, y)
                elapsed = time.perf_counter() - t0
                sent = spmd.bytes_sent() - before
                times.append(comm.allreduce(elapsed, op=MPI.MAX))
            out.setdefault(name, {})[n] = {"seconds": float(np.median(times)),
                                           "bytes_per_rank": int(comm.allreduce(sent,
                                                                                op=MPI.MAX))}
    if rank == 0:
        print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    if a.worker:
        return worker(a.rows, a.features)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    results = {}
    for r in a.ranks:
        run = subprocess.run([mpiexec, "-n", str(r), sys.executable, __file__, "--worker",
                              "--rows", str(a.rows), "--features", str(a.features)],
                             capture_output=True, text=True, check=True,
                             env=dict(os.environ, RAYON_NUM_THREADS="1"))
        results[r] = json.loads(run.stdout.strip().splitlines()[-1])
    small = a.rows // 4
    print(f"rows={a.rows} features={a.features}; seconds: slowest rank, median of 3; "
          f"bytes: contributed by one rank per fit (at {a.rows} rows / at {small} rows)")
    print(f"{'estimator':18} {'ranks':>5} {'fit s':>8} {'speed-up':>8} {'bytes':>10} "
          f"{'bytes@n/4':>10}")
    for name in ("LinearRegression", "KMeans", "PCA"):
        base = results[a.ranks[0]][name][str(a.rows)]["seconds"]
        for r in a.ranks:
            big, sm = results[r][name][str(a.rows)], results[r][name][str(small)]
            print(f"{name:18} {r:>5} {big['seconds']:>8.3f} {base / big['seconds']:>8.2f} "
                  f"{big['bytes_per_rank']:>10} {sm['bytes_per_rank']:>10}")


if __name__ == "__main__":
    main()
