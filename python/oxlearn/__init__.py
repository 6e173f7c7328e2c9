"""oxlearn: a scikit-learn accelerator with a Rust compute core.

Estimators subclass their scikit-learn counterparts and keep their API and
fitted attributes; :func:`patch_sklearn` swaps them into ``sklearn.*``.
"""

from oxlearn import (  # _aligned first: it guards every call into Rust
    _aligned,  # noqa: F401
    basic_statistics,
    cluster,
    covariance,
    decomposition,
    ensemble,
    exceptions,
    linear_model,
    manifold,
    metrics,
    neighbors,
    svm,
)
from oxlearn._config import config_context, get_config, set_config
from oxlearn._core import __version__
from oxlearn._io import from_sklearn, load, save
from oxlearn._patch import get_patch_names, patch_sklearn, sklearn_is_patched, unpatch_sklearn

__all__ = [
    "__version__",
    "basic_statistics",
    "cluster",
    "config_context",
    "covariance",
    "decomposition",
    "ensemble",
    "exceptions",
    "from_sklearn",
    "get_config",
    "get_patch_names",
    "linear_model",
    "load",
    "manifold",
    "metrics",
    "neighbors",
    "patch_sklearn",
    "save",
    "set_config",
    "sklearn_is_patched",
    "svm",
    "unpatch_sklearn",
]
