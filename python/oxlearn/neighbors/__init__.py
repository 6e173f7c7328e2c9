"""Accelerated nearest neighbours, drop-in replacements for :mod:`sklearn.neighbors`."""

from oxlearn.neighbors._knn import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors

__all__ = ["KNeighborsClassifier", "KNeighborsRegressor", "NearestNeighbors"]
