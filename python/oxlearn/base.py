"""What every oxlearn estimator shares.

Dispatch logging, fallback, device policy, tuning knobs and the canonical
pickled state.
"""

import operator

import numpy as np

from oxlearn import _array_api, _core, _gpu, _hyperparameters, _persistence
from oxlearn._logging import logger
from oxlearn._sklearn_private import _openmp_effective_n_threads


def n_threads(n_jobs):
    """Map scikit-learn's ``n_jobs`` to the thread count oxlearn's compute uses.

    ``None`` follows scikit-learn's OpenMP code
    (``_openmp_effective_n_threads``): the cores, limited by ``OMP_NUM_THREADS``
    and threadpoolctl, so oxlearn inside ``joblib.Parallel`` or
    ``GridSearchCV(n_jobs=k)`` workers uses the share joblib gives each worker
    instead of oversubscribing the machine. An integer follows joblib: ``-1``
    is all cores, ``-2`` all but one, and so on. Every count is capped at the
    cores this process may use, so ``n_jobs=10**6`` (even from a model file)
    costs what ``n_jobs=-1`` does. Results never depend on it: oxlearn's
    reductions run over fixed chunks combined in order.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0, which means nothing in joblib either.
    """
    cores = _core.available_cores()
    if n_jobs is None:
        return max(1, min(_openmp_effective_n_threads(), cores))
    n_jobs = operator.index(n_jobs)
    if n_jobs == 0:
        raise ValueError(
            "n_jobs == 0 has no meaning; use None, a positive number of threads, or a "
            "negative one (-1: all cores, -2: all but one, ...)"
        )
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return min(n_jobs, cores)


def check_device(what, gpu_path=False, host_ok=False):
    """Apply ``target_offload`` to the call named ``what``; see ``oxlearn._gpu``.

    Returns the GPU ordinal to run on, or None for the CPU.
    """
    return _gpu.resolve(what, gpu_path, host_ok)


class OxlearnEstimatorMixin:
    """Mixin for oxlearn estimators; comes first in the bases.

    Subclasses set ``_oxlearn_kind`` (their schema in ``oxlearn-format``) and
    ``_hyperparameter_specs`` (``{op: {name: default}}``).
    """

    _oxlearn_kind = None
    # The fitted attribute whose dtype is the model's dtype.
    _oxlearn_dtype_attr = "coef_"
    _hyperparameter_specs = {}
    # Attributes the canonical form holds in another shape than their own, or
    # that loading rebuilds from it (besides the schema's arrays and attrs),
    # e.g. a forest's flat arrays and tree template.
    _oxlearn_canonical = ()
    # Caches rebuilt after a load, never persisted (also any ``_oxl_*`` name).
    _oxlearn_transient = ()
    # Methods with a GPU implementation (``target_offload="gpu"``).
    _oxlearn_gpu_methods = ()

    # Whether array API inputs are accepted (through host copies, see
    # oxlearn._array_api) and fitted attributes follow their namespace.
    _oxlearn_array_api = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # After scikit-learn's set_output wrapper: dispatch is the outer layer,
        # so the set_output wrapper sees host arrays and the dispatch wrapper
        # moves only arrays (a DataFrame passes through unchanged).
        if cls._oxlearn_array_api:
            _array_api.install(cls)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._oxlearn_array_api:
            tags.array_api_support = True
        return tags

    def to_numpy(self):
        """Return this model with its array attributes as host numpy arrays.

        A model fitted under ``array_api_dispatch=True`` keeps its attributes
        in the input's namespace and on its device; this copy is a plain host
        model (its other attributes are shared with this one), e.g. to save
        it for a machine without that library or device.

        Returns
        -------
        model : estimator
            Of the same class; ``self`` is not changed.
        """
        self._verify_pending()
        return _array_api.host_twin(self)

    # --- dispatch ---------------------------------------------------------
    def _check_device(self, method):
        """Verify a lazily loaded model, then apply ``target_offload``.

        Returns the GPU ordinal to run on, or None for the CPU.
        """
        self._verify_pending()
        gpu = self._oxlearn_gpu_methods
        return check_device(f"{type(self).__name__}.{method}", method in gpu, bool(gpu))

    def _log_accelerated(self, method, device=None):
        """Log where an accelerated call runs: the CPU, or GPU ``device``."""
        logger.info("%s.%s: running accelerated version on %s", type(self).__name__, method,
                    "CPU" if device is None else "GPU")

    def _log_fallback(self, method, reason):
        if method in self._oxlearn_gpu_methods:
            _gpu.no_gpu_path(f"{type(self).__name__}.{method}", reason)
        logger.info("%s.%s: fallback to scikit-learn (%s)", type(self).__name__, method, reason)

    # --- tuning knobs -----------------------------------------------------
    @classmethod
    def get_hyperparameters(cls, op):
        """Return the process-level tuning knobs of operation ``op``.

        Parameters
        ----------
        op : str
            Operation name, e.g. ``"fit"``.

        Returns
        -------
        hyperparameters : Hyperparameters
            Mutable; shared by every instance of the class in this process
            and never saved with a model.
        """
        return _hyperparameters.get_hyperparameters(cls.__name__, op, cls._hyperparameter_specs)

    @classmethod
    def reset_hyperparameters(cls, op):
        """Restore the defaults of ``op``'s tuning knobs."""
        cls.get_hyperparameters(op).reset()

    # --- persistence ------------------------------------------------------
    @classmethod
    def _sklearn_counterpart(cls):
        """The stock scikit-learn class this estimator converts to."""
        for base in cls.__mro__[1:]:
            if base.__module__.startswith("sklearn."):
                return base
        raise TypeError(f"{cls.__name__} has no scikit-learn counterpart")

    @classmethod
    def _sklearn_twin(cls):
        """The scikit-learn class this estimator stands in for, or ``None``.

        It is the scikit-learn base of the same name, what ``from_sklearn``
        converts from and ``patch_sklearn`` replaces; unlike
        ``_sklearn_counterpart`` (what it converts to), incremental models
        subclass their one-shot counterpart (``IncrementalEmpiricalCovariance``
        is an ``EmpiricalCovariance``) without standing in for it, and
        scikit-learn-intelex's APIs (``BasicStatistics``) have no twin at all.
        """
        for base in cls.__mro__[1:]:
            if base.__module__.startswith("sklearn.") and base.__name__ == cls.__name__:
                return base
        return None

    def to_sklearn(self):
        """Return the stock scikit-learn equivalent of this fitted model.

        Returns
        -------
        estimator : scikit-learn estimator
            Same parameters and fitted attributes; usable without oxlearn.
        """
        from oxlearn._io import to_sklearn

        return to_sklearn(self)

    def _oxlearn_state_view(self):
        """Return the object whose attributes are persisted.

        ``self``, unless a fitted attribute is not a plain array (e.g. a
        sparse matrix): a subclass then maps it to the arrays its schema lists.
        """
        return self

    def _oxlearn_dtype(self):
        """The model's dtype, recorded in its header.

        That of ``_oxlearn_dtype_attr``: a numpy array, a scipy sparse matrix
        or a numpy scalar.
        """
        value = getattr(self, self._oxlearn_dtype_attr)
        dtype = getattr(value, "dtype", None)
        return np.dtype(dtype) if dtype is not None else np.asarray(value).dtype

    def _oxlearn_after_load(self):
        """Rebuild what :meth:`_oxlearn_state_view` mapped, after a load."""

    def _verify_pending(self):
        """Verify the arrays of a model loaded with ``mmap=True``, then set them.

        Runs once (thread-safe), before anything reads or replaces a fitted
        attribute: the first read of an attribute the model lacks so far
        (:meth:`__getattr__`), the first attribute write, ``fit``, pickling.
        A failure is raised again on every later use, never skipped.
        """
        if _persistence.PENDING in self.__dict__:
            _persistence.materialize(self)

    def __getattr__(self, name):
        # Reached only when normal lookup fails: a lazily loaded model sets
        # its fitted attributes once they are verified.
        if name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if _persistence.PENDING in self.__dict__:
            _persistence.materialize(self)
        # Look again: the lookup that failed may have raced another thread
        # that has materialized the model since.
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        # A lazily loaded model is verified before anything replaces a fitted
        # attribute, so that verification never overwrites a newer one.
        if _persistence.PENDING in self.__dict__:
            _persistence.materialize(self)
        super().__setattr__(name, value)

    def _validate_params(self):
        # Every fit starts here (ours and scikit-learn's): refitting a lazily
        # loaded model (warm start, partial_fit) sees its verified state.
        self._verify_pending()
        super()._validate_params()

    def __getstate__(self):
        return _persistence.get_state(self)

    def __setstate__(self, state):
        _persistence.set_state(self, state)


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def as_compute_float(X, float16=np.float32):
    """``X`` validated with ``dtype="numeric"``, in a dtype oxlearn computes in.

    float64 and float32 are kept (no copy); float16, which Rust does not
    compute in, becomes ``float16`` (float32 by default: every float16 value
    is exact in it); any other numeric dtype (integers, booleans) becomes
    float64, as scikit-learn's float code converts it.
    """
    if X.dtype in _FLOAT_DTYPES:
        return X
    if X.dtype == np.float16:
        return X.astype(float16)
    return X.astype(np.float64)


def validate_numeric(est, X, y="no_validation", float16=np.float32, **kwargs):
    """``validate_data`` with scikit-learn's default ``dtype="numeric"``, then floats.

    For estimators whose scikit-learn counterpart validates with
    ``dtype="numeric"``: the same inputs are accepted and refused, with
    scikit-learn's messages (arrays of strings or bytes are refused, object
    arrays of numbers converted), then :func:`as_compute_float` gives Rust a
    float array. Returns what ``validate_data`` returns.
    """
    from sklearn.utils.validation import validate_data

    out = validate_data(est, X, y, **kwargs)
    if isinstance(out, tuple):
        return (as_compute_float(out[0], float16), *out[1:])
    return as_compute_float(out, float16)


def _validate_predict_X(est, X, numeric=False):
    """``validate_data(est, X, reset=False)`` for predict, with a fast path.

    A plain 2-D float numpy array with the fitted number of columns, for a
    model fitted without feature names, needs none of scikit-learn's
    conversions; its finiteness is checked in Rust while it is read. Anything
    else goes through scikit-learn's full validation, with its messages:
    with ``numeric=True`` that of a scikit-learn predict that validates with
    ``dtype="numeric"`` (strings refused, float16 computed in float32), else
    that of one that asks for ``[float64, float32]`` (strings parsed).
    """
    from sklearn.utils.validation import validate_data

    if (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] == getattr(est, "n_features_in_", -1)
        and not hasattr(est, "feature_names_in_")
    ):
        return X
    if numeric:
        return validate_numeric(est, X, reset=False, ensure_all_finite=False)
    return validate_data(
        est, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=False
    )


class LinearPredictMixin:
    """Accelerated ``predict`` for models ``X @ coef_.T + intercept_``."""

    def predict(self, X):
        """Predict using the linear model.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        C : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        from scipy import sparse
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        if sparse.issparse(X):
            self._log_fallback("predict", "sparse input")
            return super().predict(X)
        self._check_device("predict")
        # scikit-learn's linear models predict with dtype="numeric".
        X = _validate_predict_X(self, X, numeric=True)
        coef = np.asarray(self.coef_)
        dtype = np.result_type(X.dtype, coef.dtype)
        coef2 = coef.reshape(1, -1) if coef.ndim == 1 else coef
        intercept = np.broadcast_to(np.asarray(self.intercept_, dtype=dtype), coef2.shape[:1])
        self._log_accelerated("predict")
        out = _core.predict_linear(
            np.asarray(X, dtype=dtype),
            np.asarray(coef2, dtype=dtype),
            np.ascontiguousarray(intercept),
            n_threads(getattr(self, "n_jobs", None)),
        )
        return out.ravel() if coef.ndim == 1 else out


class IncrementalFitMixin:
    """``partial_fit`` and batched ``fit`` shared by the incremental estimators.

    The state kept between batches is mergeable (moments merged exactly, in
    order), so ``fit`` equals ``partial_fit`` over successive batches of
    ``batch_size_`` rows, computed in one call. Subclasses set
    ``_incremental_state`` (names of the private state attributes; the first
    one marks a started fit) and define ``_update(batch, chunk_rows)``, which
    merges one validated batch into the state and sets the public
    attributes; they may override ``_validate_batch``.
    """

    _incremental_state = ()

    def _validate_batch(self, X, y, sample_weight, reset):
        """Validate one batch; returns what ``_update`` receives."""
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                          ensure_all_finite=False)
        return X, y, sample_weight

    def _accumulate(self, X, y, sample_weight, reset, chunk_rows):
        self._check_device("partial_fit")
        if reset:
            for name in (*self._incremental_state, "n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
        batch = self._validate_batch(X, y, sample_weight, reset)
        if chunk_rows is None:
            # fit(): batches of batch_size_ rows, accumulated in one call.
            self.batch_size_ = self.batch_size or 5 * batch[0].shape[1]
            chunk_rows = self.batch_size_
        self._log_accelerated("partial_fit")
        self._update(batch, chunk_rows)
        return self

    def _partial_fit(self, X, y, sample_weight):
        first = not hasattr(self, self._incremental_state[0])
        if first:
            self.batch_size_ = self.batch_size
        return self._accumulate(X, y, sample_weight, first, 0)

    def _fit_batches(self, X, y, sample_weight):
        return self._accumulate(X, y, sample_weight, True, None)
