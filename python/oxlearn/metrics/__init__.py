"""Metrics computed in Rust, with scikit-learn's ``sklearn.metrics`` API."""

from oxlearn.metrics._pairwise import pairwise_distances
from oxlearn.metrics._ranking import roc_auc_score

__all__ = ["pairwise_distances", "roc_auc_score"]
