"""Accelerated random forests and extra trees.

Trees are grown in Rust on quantile-binned features (at most ``max_bins``
bins per feature, computed once per fit), in parallel over trees, each from
its own seed: the same ``random_state`` gives the same forest whatever the
thread count. The fitted forest is a set of flat node arrays (scikit-learn's
tree layout, concatenated, with per-tree offsets); ``estimators_`` is built
from them on first access as real scikit-learn decision trees and is never
pickled.
"""

import copy
import math
from numbers import Integral
from types import SimpleNamespace

import numpy as np
from scipy.sparse import issparse
from sklearn import ensemble as _sk
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from oxlearn import _core
from oxlearn._docs import accelerated_doc
from oxlearn._sklearn_private import _check_sample_weight, _get_n_samples_bootstrap
from oxlearn.base import OxlearnEstimatorMixin, _validate_predict_X, n_threads
from oxlearn.ensemble._flat_trees import (
    _MAX_INT,
    _NODE_ARRAYS,
    concat_forests,
    flatten_trees,
    sklearn_tree,
)

_ACCELERATED_CRITERIA = {"gini", "entropy", "log_loss", "squared_error"}
# Sparse X up to this size is densified and grown in Rust: the same forest as
# on the dense array, as scikit-learn's trees are the same on both.
_MAX_DENSIFIED_BYTES = 1 << 30
_FOREST_ARRAYS = ("tree_offsets", *_NODE_ARRAYS, "_seeds", "_feature_importances",
                  "missing_go_to_left")
_FITTED_EXTRAS = ("_n_samples", "_n_samples_bootstrap", "oob_score_",
                  "oob_decision_function_", "oob_prediction_", "_grown_by")
# What a ForestPack is built from: replacing any of them re-packs.
_PACKED_ARRAYS = ("tree_offsets", "feature", "threshold", "children_left", "children_right",
                  "value")


def _resolve_max_features(max_features, n_features):
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(np.log2(n_features)))
    if max_features is None:
        return n_features
    if isinstance(max_features, Integral):
        return int(max_features)
    return max(1, int(max_features * n_features))


def _custom_joblib_backend():
    """The name of a user-registered joblib backend in effect (dask, ray...), or None.

    scikit-learn grows a forest's trees through joblib, so such a backend
    (``with joblib.parallel_backend("dask"):``) distributes them; oxlearn's
    threads cannot, so that fit is scikit-learn's. joblib's own backends are
    not a request to distribute anything.
    """
    from joblib import parallel

    backend, _ = parallel.get_active_backend()
    builtin = {parallel.BACKENDS.get(n) for n in ("loky", "threading", "multiprocessing",
                                                  "sequential")}
    return None if type(backend) in builtin else type(backend).__name__


class _ForestMixin(OxlearnEstimatorMixin):
    _oxlearn_extra = False
    # Trees are host structures (as scikit-learn's, which has no array API
    # support for forests): inputs of other namespaces go through np.asarray.
    _oxlearn_array_api = False
    # Thresholds and values are float64 whatever X's dtype (as scikit-learn's trees).
    _oxlearn_dtype_attr = "_oxlearn_thresholds"
    _oxlearn_private_fitted = ("_n_samples", "_n_samples_bootstrap")
    _oxlearn_canonical = ("_oxlearn_forest", "classes_", "n_classes_", "n_outputs_",
                          "estimator_")
    _oxlearn_transient = ("_oxlearn_estimators",)
    _hyperparameter_specs = {"fit": {"max_bins": 256}}

    # --- fit --------------------------------------------------------------
    def _unsupported(self, X):
        """Why this fit cannot run in Rust, or ``None``."""
        if issparse(X) and X.shape[0] * X.shape[1] * X.dtype.itemsize > _MAX_DENSIFIED_BYTES:
            return "sparse X too large to densify"
        backend = _custom_joblib_backend()
        if backend is not None:
            return f"joblib backend {backend} in effect"
        if self.criterion not in _ACCELERATED_CRITERIA:
            return f"criterion={self.criterion!r}"
        if (self.warm_start and "_oxlearn_forest" in self.__dict__
                and self.__dict__.get("_grown_by") != "oxlearn"):
            return "warm_start=True on trees grown by scikit-learn"
        if getattr(self, "monotonic_cst", None) is not None:
            return "monotonic_cst"
        if self.ccp_alpha != 0.0:
            return "ccp_alpha"
        return None

    def fit(self, X, y, sample_weight=None):
        """Build a forest of trees from the training set (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels or real numbers).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._validate_params()
        reason = self._unsupported(X)
        if reason is not None:
            self._fallback_fit(reason, X, y, sample_weight)
        else:
            self._fit_accelerated(X, y, sample_weight)
        if "_oxlearn_forest" in self.__dict__:
            self._packed()  # at fit, so that predict leaves the estimator unchanged
        return self

    def _fallback_fit(self, reason, X, y, sample_weight):
        self._log_fallback("fit", reason)
        if self.warm_start and "_oxlearn_forest" in self.__dict__:
            # scikit-learn's warm start extends the trees it finds.
            self.__dict__["estimators_"] = list(self.estimators_)
        self.__dict__.pop("_oxlearn_forest", None)
        self.__dict__.pop("_oxlearn_estimators", None)
        super().fit(X, y, sample_weight)
        self._adopt_estimators()
        return self

    def _adopt_estimators(self):
        """Turn scikit-learn's fitted trees (``estimators_``) into the flat forest.

        The flat forest predicts in Rust and persists; the trees are kept as
        the cached ``estimators_``.
        """
        trees = self.__dict__.pop("estimators_")
        self._oxlearn_forest = flatten_trees(trees)
        self.__dict__["_oxlearn_estimators"] = trees
        # Their bootstrap draws are scikit-learn's: out-of-bag rows and a
        # warm start stay scikit-learn's too.
        self._grown_by = "sklearn"

    def _fit_accelerated(self, X, y, sample_weight):
        X0, y0 = X, y
        # A warm start keeps the trees fitted so far (grown here, from seeds).
        old = None
        if self.warm_start and "_oxlearn_forest" in self.__dict__:
            classes = self.classes_ if is_classifier(self) else None
            old = SimpleNamespace(
                state=dict(self.__dict__), forest=self._oxlearn_forest,
                n_features=self.n_features_in_, n_outputs=self.n_outputs_,
                n_samples=self._n_samples, n_bootstrap=self._n_samples_bootstrap,
                classes=None if classes is None else [
                    np.asarray(c) for c in (classes if isinstance(classes, list)
                                            else [classes])])
            n_old = old.forest["tree_offsets"].shape[0] - 1
            if self.n_estimators < n_old:
                # Before anything is refitted: the model stays as it was.
                raise ValueError(
                    f"n_estimators={self.n_estimators} must be larger or equal to "
                    f"len(estimators_)={n_old} when warm_start==True"
                )
        if issparse(y):
            raise ValueError("sparse multilabel-indicator for y is not supported.")
        Xv, y = validate_data(self, X, y, multi_output=True, dtype=[np.float64, np.float32],
                              ensure_all_finite=False, accept_sparse="csr")
        if issparse(Xv):
            self._log_fallback("fit", "sparse X densified for the accelerated fit")
            Xv = Xv.toarray()
        if not np.isfinite(Xv).all():
            # NaN handling (and scikit-learn's error for infinity) stay scikit-learn's.
            return self._fallback_fit("missing or infinite values in X", X0, y0, sample_weight)
        X = Xv
        self._check_device("fit")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        y = np.atleast_1d(y)
        if y.ndim == 2 and y.shape[1] == 1:
            import warnings

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning, stacklevel=3,
            )
        if y.ndim == 1:
            y = np.reshape(y, (-1, 1))
        n_samples, n_features = X.shape
        self._n_samples, self.n_outputs_ = y.shape
        y, expanded_class_weight = self._validate_y_class_weight(y, sample_weight)
        if sample_weight is None:
            sw = expanded_class_weight
        elif expanded_class_weight is None:
            sw = sample_weight
        else:
            sw = sample_weight * expanded_class_weight
        if self.bootstrap and sw is not None:
            # scikit-learn draws each bootstrap with probability proportional
            # to the weights and grows the tree on the counts alone.
            return self._fallback_fit("bootstrap with sample or class weights", X0, y0,
                                      sample_weight)
        if sw is not None and np.any(sw < 0):
            # scikit-learn grows trees on negative weights (its splitter
            # takes them as they are); oxlearn's histogram trees do not.
            return self._fallback_fit("negative sample weights", X0, y0, sample_weight)
        if not self.bootstrap and self.max_samples is not None:
            raise ValueError(
                "`max_sample` cannot be set if `bootstrap=False`. Either switch to "
                "`bootstrap=True` or set `max_sample=None`."
            )
        n_bootstrap = (_get_n_samples_bootstrap(n_samples, self.max_samples, sw)
                       if self.bootstrap else n_samples)
        if not self.bootstrap and self.oob_score:
            raise ValueError("Out of bag estimation only available if bootstrap=True")
        max_features = _resolve_max_features(self.max_features, n_features)
        if max_features > n_features:
            raise ValueError(
                f"max_features must be in (0, n_features={n_features}], got {max_features}"
            )
        n_old = 0 if old is None else old.forest["tree_offsets"].shape[0] - 1
        n_more = self.n_estimators - n_old
        if old is not None and n_more == 0:
            import warnings

            warnings.warn("Warm-start fitting without increasing n_estimators does not fit "
                          "new trees.", UserWarning, stacklevel=3)
            if not (self.oob_score and "oob_score_" not in old.state):
                # Nothing to fit: the model stays exactly as it was.
                self.__dict__.clear()
                self.__dict__.update(old.state)
                return self
        if old is not None:
            try:
                self._check_warm_start(old, n_features, n_samples, n_bootstrap)
            except ValueError:
                # Refused: the fitted model stays exactly as it was.
                self.__dict__.clear()
                self.__dict__.update(old.state)
                raise
        if n_more == 0:  # only the out-of-bag score is new
            forest = old.forest
        else:
            forest = self._grow(X, y, sw, n_features, n_samples, n_bootstrap, max_features,
                                n_old)
            if old is not None:
                forest = concat_forests(old.forest, forest, n_features)
        self._oxlearn_forest = forest
        self._n_samples_bootstrap = int(n_bootstrap) if self.bootstrap else None
        self._grown_by = "oxlearn"
        # Built on first access; the key exists so that building it never
        # resizes __dict__ under a thread iterating it (check_is_fitted).
        self.__dict__["_oxlearn_estimators"] = None
        self.__dict__.pop("estimators_", None)
        self._validate_estimator()
        self._sample_weight = sw  # as scikit-learn's fit records it
        if self.oob_score and (n_more > 0 or not hasattr(self, "oob_score_")):
            self._set_oob_score_and_attributes(X, y)
        if is_classifier(self) and self.n_outputs_ == 1:
            self.n_classes_ = self.n_classes_[0]
            self.classes_ = self.classes_[0]
        return self

    def _check_warm_start(self, old, n_features, n_samples, n_bootstrap):
        """The trees fitted so far must mean the same on the new data."""
        what = None
        if old.n_features != n_features:
            what = f"{old.n_features} features, now {n_features}"
        elif old.n_outputs != self.n_outputs_:
            what = f"{old.n_outputs} outputs, now {self.n_outputs_}"
        elif old.classes is not None and not all(
                a.shape == b.shape and np.array_equal(a, b)
                for a, b in zip(old.classes, self.classes_, strict=True)):
            what = "other classes"
        elif self.oob_score and (old.n_samples, old.n_bootstrap) != (n_samples, n_bootstrap):
            what = (f"{old.n_samples} samples ({old.n_bootstrap} per bootstrap); out-of-bag "
                    "rows of the earlier trees exist only for the same training set")
        if what is not None:
            raise ValueError(f"warm_start=True adds trees to a forest fitted on {what}; "
                             "fit with warm_start=False to start a new forest")

    def _grow(self, X, y, sw, n_features, n_samples, n_bootstrap, max_features, n_old):
        msl = self.min_samples_leaf
        msl = int(msl) if isinstance(msl, Integral) else max(1, math.ceil(msl * n_samples))
        mss = self.min_samples_split
        mss = int(mss) if isinstance(mss, Integral) else max(2, math.ceil(mss * n_samples))
        random_state = check_random_state(self.random_state)
        # Tree t's seed is the t-th draw: a warm start grows the trees a fit
        # of all n_estimators at once would have grown.
        seeds = random_state.randint(_MAX_INT, size=self.n_estimators)[n_old:]
        self._log_accelerated("fit")
        if is_classifier(self):
            y_classes = np.ascontiguousarray(y, dtype=np.uint32)
            n_classes = [int(c) for c in np.atleast_1d(self.n_classes_)]
            y_values = None
        else:
            y_classes, n_classes = None, []
            y_values = np.ascontiguousarray(y, dtype=np.float64)
        subsample = (getattr(self, "class_weight", None) == "balanced_subsample"
                     and self.bootstrap)
        forest = _core.fit_forest(
            X, y_classes, n_classes, y_values,
            None if sw is None else np.ascontiguousarray(sw, dtype=np.float64),
            self.criterion, self.max_depth, mss, msl, float(self.min_weight_fraction_leaf),
            max_features, self.max_leaf_nodes, float(self.min_impurity_decrease),
            bool(self.bootstrap), int(n_bootstrap), self._oxlearn_extra,
            int(self.get_hyperparameters("fit").max_bins), [int(s) for s in seeds],
            n_threads(self.n_jobs), balanced_subsample=subsample,
        )
        forest["_feature_importances"] = forest.pop("feature_importances")
        forest["_seeds"] = seeds.astype(np.int64)
        return forest

    def _set_oob_score_and_attributes(self, X, y, scoring_function=None):
        """Set ``oob_score_`` and the out-of-bag predictions.

        scikit-learn's method, on the trees grown here (``y`` encoded,
        ``n × n_outputs``).
        """
        if "_oxlearn_forest" not in self.__dict__:
            # Called by scikit-learn's own fit (a fallback): its trees, its oob.
            return super()._set_oob_score_and_attributes(X, y, scoring_function)
        n_bootstrap = self._n_samples_bootstrap
        y_type = type_of_target(y)
        if y_type == "unknown" or (is_classifier(self) and y_type == "multiclass-multioutput"):
            raise ValueError(
                "The type of target cannot be used to compute OOB estimates. Got "
                f"{y_type} while only the following are supported: continuous, "
                "continuous-multioutput, binary, multiclass, multilabel-indicator."
            )
        pred, n_oob = _core.forest_oob_predict(self._oxlearn_forest, self.n_features_in_, X,
                                               int(n_bootstrap), n_threads(self.n_jobs))
        if (n_oob == 0).any():
            import warnings

            warnings.warn("Some inputs do not have OOB scores. This probably means too few "
                          "trees were used to compute any reliable OOB estimates.",
                          UserWarning, stacklevel=4)
        y = np.ascontiguousarray(y, dtype=np.float64)  # as scikit-learn scores it
        scoring = scoring_function or (self.oob_score if callable(self.oob_score) else None)
        if is_classifier(self):
            n_classes = int(np.atleast_1d(self.n_classes_)[0])
            oob = np.ascontiguousarray(pred.transpose(0, 2, 1)[:, :n_classes, :])
            if oob.shape[-1] == 1:
                oob = oob[..., 0]
            self.oob_decision_function_ = oob
            self.oob_score_ = (scoring or accuracy_score)(y, np.argmax(oob, axis=1))
        else:
            oob = np.ascontiguousarray(pred[:, :, 0])
            if oob.shape[-1] == 1:
                oob = oob[:, 0]
            self.oob_prediction_ = oob
            self.oob_score_ = (scoring or r2_score)(y, oob)

    # --- fitted attributes ------------------------------------------------
    @property
    def estimators_(self):
        """The fitted trees, as scikit-learn decision trees (built on first access)."""
        if "estimators_" in self.__dict__:
            return self.__dict__["estimators_"]
        if "_oxlearn_forest" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no attribute 'estimators_'")
        cached = self.__dict__.get("_oxlearn_estimators")
        if cached is None:
            cached = self._build_estimators()
            self.__dict__["_oxlearn_estimators"] = cached
        return cached

    @estimators_.setter
    def estimators_(self, value):
        self.__dict__["estimators_"] = value

    def _build_estimators(self):
        # scikit-learn's trees trust their indices: verify a lazily loaded
        # model (checksums and every child/feature index) first.
        self._verify_pending()
        f = self._oxlearn_forest
        n_outputs = f["value"].shape[1]
        is_clf = is_classifier(self)
        n_classes = (np.atleast_1d(self.n_classes_).astype(np.intp) if is_clf
                     else np.ones(n_outputs, dtype=np.intp))
        trees = []
        for t in range(f["tree_offsets"].shape[0] - 1):
            tree = sklearn_tree(f, t, self.n_features_in_, n_classes)
            est = self._make_estimator(append=False)
            est.set_params(random_state=int(f["_seeds"][t]))
            est.tree_ = tree
            est.n_features_in_ = self.n_features_in_
            if hasattr(self, "feature_names_in_"):
                est.feature_names_in_ = self.feature_names_in_
            est.n_outputs_ = self.n_outputs_
            est.max_features_ = _resolve_max_features(self.max_features, self.n_features_in_)
            if is_clf:
                est.classes_ = self.classes_
                est.n_classes_ = self.n_classes_
            trees.append(est)
        return trees

    @property
    def feature_importances_(self):
        """Impurity-based feature importances (normalised, as scikit-learn's)."""
        check_is_fitted(self)
        return np.array(self._oxlearn_forest["_feature_importances"])

    @property
    def _oxlearn_thresholds(self):
        return self._oxlearn_forest["threshold"]

    # --- prediction -------------------------------------------------------
    def _forest_X(self, method, X):
        """Return X for the Rust traversal, or ``None`` for scikit-learn's own.

        scikit-learn's prediction (on ``estimators_``) handles sparse X and
        missing values.
        """
        check_is_fitted(self)
        if not issparse(X):
            X = _validate_predict_X(self, X)
        if issparse(X) or not np.isfinite(X).all():
            self._log_fallback(method, "sparse X or missing values")
            return None
        self._check_device(method)
        self._log_accelerated(method)
        return X

    def _packed(self):
        """The forest validated and packed for traversal once (never pickled).

        Rebuilt whenever the flat arrays are replaced (fit, warm start, load).
        """
        f = self._oxlearn_forest
        arrays = tuple(f[k] for k in _PACKED_ARRAYS)
        cached = self.__dict__.get("_oxl_packed")
        if cached is None or any(a is not b for a, b in zip(cached[0], arrays, strict=True)):
            cached = (arrays, _core.forest_pack(f, self.n_features_in_, n_threads(self.n_jobs)))
            self.__dict__["_oxl_packed"] = cached
        return cached[1]

    def _raw_predict(self, X):
        return _core.forest_predict(self._oxlearn_forest, self.n_features_in_, X,
                                    n_threads(self.n_jobs), self._packed())

    def apply(self, X):
        """Apply trees in the forest to X, return leaf indices.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        X_leaves : ndarray of shape (n_samples, n_estimators)
            For each datapoint x in X and for each tree in the forest, the index
            of the leaf x ends up in.
        """
        Xr = self._forest_X("apply", X)
        if Xr is None:
            return super().apply(X)
        return _core.forest_apply(self._oxlearn_forest, self.n_features_in_, Xr,
                                  n_threads(self.n_jobs), self._packed())

    # --- persistence --------------------------------------------------------
    def _oxlearn_state_view(self):
        # The flat arrays and the scalars prediction needs; never the trees.
        f = self._oxlearn_forest
        state = {k: f[k] for k in _FOREST_ARRAYS if k in f}
        state["n_outputs_"] = self.n_outputs_
        for name in _FITTED_EXTRAS:
            if name in self.__dict__:
                state[name] = self.__dict__[name]
        if is_classifier(self):
            state["n_classes_"] = self.n_classes_
            if self.n_outputs_ == 1:
                state["classes_"] = self.classes_
            else:  # one label array per output: a list of label objects
                state["_classes_per_output"] = [np.asarray(c) for c in self.classes_]
        return SimpleNamespace(**state)

    def _oxlearn_after_load(self):
        d = self.__dict__
        self._oxlearn_forest = {k: d.pop(k) for k in _FOREST_ARRAYS if k in d}
        if "_classes_per_output" in d:
            self.classes_ = d.pop("_classes_per_output")
        d["_oxlearn_estimators"] = None  # built on first access (see fit)
        if d.get("_grown_by") == "oxlearn":
            # Grown here: bootstraps are unweighted randint draws (a weighted
            # one is scikit-learn's fit), which estimators_samples_ redraws.
            d["_sample_weight"] = None
        self._validate_estimator()
        self._packed()  # now, so that predict leaves __dict__ as it is

    def _oxlearn_after_convert(self):
        """After :func:`oxlearn.from_sklearn`: the stock trees become the flat forest."""
        self._adopt_estimators()
        self.__dict__.pop("_sample_weight", None)

    def _oxlearn_to_stock(self, est):
        """After :func:`oxlearn.to_sklearn`: real scikit-learn trees, as its fit leaves them."""
        est.estimators_ = copy.deepcopy(list(self.estimators_))
        est._sample_weight = None


class _ClassifierMixin(_ForestMixin):
    def predict_proba(self, X):
        """Predict class probabilities for X (mean of the trees' class fractions).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        p : ndarray of shape (n_samples, n_classes), or a list of such arrays
            The class probabilities, one array per output when there are several.
        """
        Xr = self._forest_X("predict_proba", X)
        if Xr is None:
            return super().predict_proba(X)
        raw = self._raw_predict(Xr)
        if self.n_outputs_ == 1:
            return raw[:, 0, : self.n_classes_]
        return [raw[:, k, : self.n_classes_[k]] for k in range(self.n_outputs_)]

    def predict(self, X):
        """Predict class for X: the class of highest mean probability.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted classes.
        """
        proba = self.predict_proba(X)
        if self.n_outputs_ == 1:
            return self.classes_.take(np.argmax(proba, axis=1), axis=0)
        out = np.empty((proba[0].shape[0], self.n_outputs_), dtype=self.classes_[0].dtype)
        for k in range(self.n_outputs_):
            out[:, k] = self.classes_[k].take(np.argmax(proba[k], axis=1), axis=0)
        return out


class _RegressorMixin(_ForestMixin):
    def predict(self, X):
        """Predict regression target for X (mean of the trees' predictions).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        Xr = self._forest_X("predict", X)
        if Xr is None:
            return super().predict(X)
        raw = self._raw_predict(Xr)[:, :, 0]
        return raw[:, 0] if self.n_outputs_ == 1 else raw


_DOC = ("Accelerated by oxlearn (Rust): histogram trees on quantile bins (max_bins=256), "
        "grown in parallel from per-tree seeds (thread-count independent); flat node arrays, "
        "batched prediction. Bootstraps are scikit-learn's draws (``estimators_samples_``); "
        "a weighted bootstrap, a user-registered joblib backend (e.g. dask) and large sparse "
        "X run scikit-learn's fit.")


class RandomForestClassifier(_ClassifierMixin, _sk.RandomForestClassifier):
    __doc__ = accelerated_doc(_sk.RandomForestClassifier, _DOC)
    _oxlearn_kind = "ensemble.RandomForestClassifier"


class RandomForestRegressor(_RegressorMixin, _sk.RandomForestRegressor):
    __doc__ = accelerated_doc(_sk.RandomForestRegressor, _DOC)
    _oxlearn_kind = "ensemble.RandomForestRegressor"


class ExtraTreesClassifier(_ClassifierMixin, _sk.ExtraTreesClassifier):
    __doc__ = accelerated_doc(_sk.ExtraTreesClassifier, _DOC + " One random bin edge per "
                              "drawn feature and node.")
    _oxlearn_kind = "ensemble.ExtraTreesClassifier"
    _oxlearn_extra = True


class ExtraTreesRegressor(_RegressorMixin, _sk.ExtraTreesRegressor):
    __doc__ = accelerated_doc(_sk.ExtraTreesRegressor, _DOC + " One random bin edge per "
                              "drawn feature and node.")
    _oxlearn_kind = "ensemble.ExtraTreesRegressor"
    _oxlearn_extra = True


__all__ = ["ExtraTreesClassifier", "ExtraTreesRegressor", "RandomForestClassifier",
           "RandomForestRegressor"]
