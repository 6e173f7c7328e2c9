"""Per-feature low-order statistics (scikit-learn-intelex's API)."""

from oxlearn.basic_statistics._basic_statistics import (
    BasicStatistics,
    IncrementalBasicStatistics,
)

__all__ = ["BasicStatistics", "IncrementalBasicStatistics"]
