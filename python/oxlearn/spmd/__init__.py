"""Distributed (SPMD) training over MPI: the same estimators, rows spread over ranks.

Run the same script on every rank (``mpiexec -n 4 python train.py``); each
rank passes its own rows to ``fit``. Partial results are computed in Rust
and exchanged with mpi4py (``pip install 'oxlearn[spmd]'``). A fitted model
is the same on every rank and pickles or saves as the ordinary oxlearn
class; neighbour models keep their rows spread over the ranks (see
:meth:`NearestNeighbors.to_local`). See ``docs/distributed.md``.
"""

from oxlearn.spmd._cluster import DBSCAN, KMeans
from oxlearn.spmd._comm import ShardError, bytes_sent
from oxlearn.spmd._forest import RandomForestClassifier, RandomForestRegressor
from oxlearn.spmd._linear import (
    IncrementalLinearRegression,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from oxlearn.spmd._moments import (
    PCA,
    BasicStatistics,
    EmpiricalCovariance,
    IncrementalBasicStatistics,
    IncrementalEmpiricalCovariance,
    IncrementalPCA,
)
from oxlearn.spmd._neighbors import (
    DetachedModelError,
    KNeighborsClassifier,
    KNeighborsRegressor,
    NearestNeighbors,
)

__all__ = [
    "PCA",
    "DBSCAN",
    "BasicStatistics",
    "DetachedModelError",
    "EmpiricalCovariance",
    "IncrementalBasicStatistics",
    "IncrementalEmpiricalCovariance",
    "IncrementalLinearRegression",
    "IncrementalPCA",
    "KMeans",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "LinearRegression",
    "LogisticRegression",
    "NearestNeighbors",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "Ridge",
    "ShardError",
    "bytes_sent",
]
