"""Every private scikit-learn name oxlearn uses, imported here and only here.

Private names are not part of scikit-learn's API and change between
releases, so oxlearn declares (``pyproject.toml``) exactly the scikit-learn
versions it is tested with, and a missing name fails the import of oxlearn
with a message naming that range instead of an ``ImportError`` deep inside.
"""

SUPPORTED_SKLEARN = ">=1.9.1,<1.10"

try:
    from sklearn._config import _get_threadlocal_config
    from sklearn.base import _fit_context
    from sklearn.decomposition._pca import _infer_dimension
    from sklearn.ensemble._forest import _get_n_samples_bootstrap
    from sklearn.externals import array_api_compat
    from sklearn.linear_model._logistic import _LOGISTIC_SOLVER_CONVERGENCE_MSG
    from sklearn.metrics._base import _average_binary_score, _average_multiclass_ovo_score
    from sklearn.metrics._ranking import _binary_roc_auc_score
    from sklearn.model_selection._split import _validate_shuffle_split
    from sklearn.neighbors._base import _get_weights
    from sklearn.tree._tree import NODE_DTYPE, Tree
    from sklearn.utils import _safe_indexing
    from sklearn.utils._array_api import (
        _max_precision_float_dtype,
        get_namespace_and_device,
        move_to,
    )
    from sklearn.utils._available_if import _AvailableIfDescriptor
    from sklearn.utils._encode import _encode, _unique
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    from sklearn.utils._param_validation import (
        Interval,
        InvalidParameterError,
        RealNotInt,
        StrOptions,
        validate_parameter_constraints,
        validate_params,
    )
    from sklearn.utils._set_output import _SetOutputMixin
    from sklearn.utils._unique import attach_unique, cached_unique
    from sklearn.utils.validation import (
        _assert_all_finite,
        _check_sample_weight,
        _get_feature_names,
        _is_arraylike_not_scalar,
        _num_samples,
    )
except ImportError as e:  # pragma: no cover - exercised with a stubbed module
    import sklearn

    raise ImportError(
        f"oxlearn supports scikit-learn {SUPPORTED_SKLEARN} and uses private names of it; "
        f"the installed scikit-learn {sklearn.__version__} lacks one ({e}). Install a "
        f"supported version: pip install 'scikit-learn{SUPPORTED_SKLEARN}'"
    ) from e

__all__ = [
    "NODE_DTYPE",
    "RealNotInt",
    "_average_binary_score",
    "_average_multiclass_ovo_score",
    "_binary_roc_auc_score",
    "_encode",
    "_num_samples",
    "_safe_indexing",
    "_unique",
    "_validate_shuffle_split",
    "attach_unique",
    "cached_unique",
    "get_namespace_and_device",
    "validate_params",
    "SUPPORTED_SKLEARN",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "Tree",
    "_AvailableIfDescriptor",
    "_LOGISTIC_SOLVER_CONVERGENCE_MSG",
    "_SetOutputMixin",
    "_assert_all_finite",
    "_check_sample_weight",
    "_get_feature_names",
    "_fit_context",
    "_get_n_samples_bootstrap",
    "_get_threadlocal_config",
    "_get_weights",
    "_max_precision_float_dtype",
    "_infer_dimension",
    "_is_arraylike_not_scalar",
    "_openmp_effective_n_threads",
    "array_api_compat",
    "move_to",
    "validate_parameter_constraints",
]
