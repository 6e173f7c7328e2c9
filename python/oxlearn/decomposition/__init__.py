"""Accelerated principal component analysis."""

from oxlearn.decomposition._incremental_pca import IncrementalPCA
from oxlearn.decomposition._pca import PCA

__all__ = ["PCA", "IncrementalPCA"]
