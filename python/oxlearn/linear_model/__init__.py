"""Accelerated linear models, drop-in replacements for :mod:`sklearn.linear_model`."""

from oxlearn.linear_model._incremental import IncrementalLinearRegression, IncrementalRidge
from oxlearn.linear_model._linear import LinearRegression
from oxlearn.linear_model._logistic import LogisticRegression
from oxlearn.linear_model._ridge import Ridge

__all__ = [
    "IncrementalLinearRegression",
    "IncrementalRidge",
    "LinearRegression",
    "LogisticRegression",
    "Ridge",
]
