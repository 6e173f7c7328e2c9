"""Metrics computed in Rust, with scikit-learn's ``sklearn.metrics`` API."""

from oxlearn.metrics._pairwise import pairwise_distances

__all__ = ["pairwise_distances"]
