"""Distributed linear regression: run with ``mpiexec -n 2 python examples/spmd_linear.py``.

Every rank makes (here: generates) its own rows, fits collectively, and
gets the same model; rank 0 saves it, and the file loads anywhere as an
ordinary ``oxlearn.linear_model.LinearRegression`` (no MPI needed).
"""

import os
import tempfile

import numpy as np
from mpi4py import MPI

import oxlearn
from oxlearn import spmd
from oxlearn.linear_model import LinearRegression

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()

# This rank's shard: shards may differ in size (even be empty).
rng = np.random.default_rng(rank)
X = rng.normal(size=(1000 + 500 * rank, 3))
y = X @ [1.5, -2.0, 0.5] + 3.0 + 0.01 * rng.normal(size=len(X))

model = spmd.LinearRegression().fit(X, y)  # collective: every rank calls it

if rank == 0:
    path = os.path.join(tempfile.mkdtemp(), "linear.oxl")
    oxlearn.save(model, path)  # saved as the ordinary class
    loaded = oxlearn.load(path)
    assert type(loaded) is LinearRegression
    assert np.array_equal(loaded.predict(X), model.predict(X))
    print(f"{size} ranks: coef={np.round(model.coef_, 3)}, "
          f"intercept={model.intercept_:.3f}; saved to {path}")
