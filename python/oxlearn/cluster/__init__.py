"""Accelerated clustering, drop-in replacements for :mod:`sklearn.cluster`."""

from oxlearn.cluster._kmeans import KMeans

__all__ = ["KMeans"]
