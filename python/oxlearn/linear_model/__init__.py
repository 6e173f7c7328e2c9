"""Accelerated linear models, drop-in replacements for :mod:`sklearn.linear_model`."""

from oxlearn.linear_model._coordinate_descent import ElasticNet, Lasso
from oxlearn.linear_model._incremental import IncrementalLinearRegression, IncrementalRidge
from oxlearn.linear_model._linear import LinearRegression
from oxlearn.linear_model._logistic import LogisticRegression
from oxlearn.linear_model._ridge import Ridge

__all__ = [
    "ElasticNet",
    "IncrementalLinearRegression",
    "IncrementalRidge",
    "Lasso",
    "LinearRegression",
    "LogisticRegression",
    "Ridge",
]
