"""Accelerated clustering, drop-in replacements for :mod:`sklearn.cluster`."""

from oxlearn.cluster._dbscan import DBSCAN
from oxlearn.cluster._kmeans import KMeans

__all__ = ["DBSCAN", "KMeans"]
