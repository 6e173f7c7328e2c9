"""Accelerated clustering, drop-in replacements for :mod:`sklearn.cluster`."""

from oxlearn.cluster._dbscan import DBSCAN

__all__ = ["DBSCAN"]
