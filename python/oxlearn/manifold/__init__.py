"""Accelerated manifold learning, drop-in replacements for :mod:`sklearn.manifold`."""

from oxlearn.manifold._t_sne import TSNE

__all__ = ["TSNE"]
