"""Accelerated covariance estimators, drop-in replacements for :mod:`sklearn.covariance`."""

from oxlearn.covariance._empirical import EmpiricalCovariance, IncrementalEmpiricalCovariance

__all__ = ["EmpiricalCovariance", "IncrementalEmpiricalCovariance"]
