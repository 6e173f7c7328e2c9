"""Accelerated nearest neighbours, drop-in replacements for :mod:`sklearn.neighbors`."""

from oxlearn.neighbors._knn import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from oxlearn.neighbors._lof import LocalOutlierFactor

__all__ = ["KNeighborsClassifier", "KNeighborsRegressor", "LocalOutlierFactor", "NearestNeighbors"]
