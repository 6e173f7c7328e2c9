"""Model selection utilities with scikit-learn's ``sklearn.model_selection`` API."""

from oxlearn.model_selection._split import train_test_split

__all__ = ["train_test_split"]
