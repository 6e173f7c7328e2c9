"""In-process serving: a saved model answered by the very code of ``oxlearn serve``.

:class:`Servable` loads an oxlearn model file as the ``oxlearn`` binary
loads it (checksums, compatibility table, structure) and answers the
methods the binary serves with the binary's own Rust code, so its answers
are the ``.npy`` answers of ``oxlearn serve``, byte for byte (and, for
``predict``, the output of ``oxlearn predict``): a Python web application
can serve a model without scikit-learn estimators in memory and give
exactly the server's answers.
"""

import io
import json
import math
import warnings
from pathlib import Path

import numpy as np

from oxlearn import _core
from oxlearn._sklearn_private import _get_feature_names

_METHODS = ("predict", "transform", "predict_proba", "decision_function", "kneighbors")


class Servable:
    """A saved model, answered by the ``oxlearn`` binary's code.

    Parameters
    ----------
    path : str, path-like or bytes
        The model file written by :func:`oxlearn.save`, or its bytes.

    Attributes
    ----------
    kind : str
        The model's kind, e.g. ``"linear_model.LogisticRegression"``.
    methods : tuple of str
        The methods served, among ``predict``, ``transform``,
        ``predict_proba``, ``decision_function`` and ``kneighbors``: those
        the estimator has in Python (a pipeline: its ``predict`` or
        ``transform``).
    info : dict
        What ``GET /v1/models/{name}`` of ``oxlearn serve`` shows of it.

    Raises
    ------
    ValueError
        If the file does not verify or the binary does not serve its kind,
        with the reason.
    """

    def __init__(self, path):
        data = bytes(path) if isinstance(path, (bytes, bytearray)) else Path(path).read_bytes()
        self._core = _core.Servable(data)
        self.info = json.loads(self._core.info())
        self.kind = self.info["kind"]
        self.methods = tuple(self._core.methods())

    def __repr__(self):
        return f"Servable({self.kind}: {', '.join(self.methods)})"

    def predict(self, X):
        """Python's ``predict`` of the saved model, as the binary computes it.

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            The rows: a numeric array, or a data frame (columns by name, as
            the estimator takes them).

        Returns
        -------
        y : ndarray
            The predictions, in Python's dtype.
        """
        return self._call("predict", X)

    def transform(self, X):
        """Python's ``transform`` (PCA, transforming pipelines).

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        Xt : ndarray
            The transformed rows.
        """
        return self._call("transform", X)

    def predict_proba(self, X):
        """Python's ``predict_proba``.

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The class probabilities.
        """
        return self._call("predict_proba", X)

    def decision_function(self, X):
        """Python's ``decision_function``.

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        scores : ndarray
            The decision values.
        """
        return self._call("decision_function", X)

    def kneighbors(self, X):
        """Python's ``kneighbors(X)``: the ``n_neighbors`` nearest training samples.

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            The rows.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_neighbors)
            The distances, nearest first.
        indices : ndarray of shape (n_samples, n_neighbors)
            The training samples' indices.
        """
        return self._call("kneighbors", X)

    def _call(self, method, X):
        # A method not served is the binary's NotImplementedError, with its words.
        body, is_json, names = self._body(X)
        arrays, messages = self._core.call(method, body, is_json, names)
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=3)
        out = tuple(np.load(io.BytesIO(a), allow_pickle=False) for a in arrays)
        return out if method == "kneighbors" else out[0]

    def _body(self, X):
        """Return the request body of ``X``, whether it is JSON, and its column names.

        ``.npy`` bytes (with a data frame's column names), or the server's
        JSON rows by name for a data frame with text columns or a pipeline
        (which takes columns by name).
        """
        columns = getattr(X, "columns", None)
        if columns is not None and hasattr(X, "to_dict"):
            # scikit-learn's rule: string column names are names, integers
            # (pd.DataFrame(X)) positions, a mix a TypeError.
            names = _get_feature_names(X)
            names = None if names is None else names.tolist()
            numeric = all(getattr(t, "kind", "O") in "fiub" for t in X.dtypes)
            if numeric and (names is None or self.kind in _core.known_kinds("oxlearn")):
                return _npy(X.to_numpy()), False, names
            if names is None:  # rows by position, as for an array
                rows = [[_json_value(v) for v in row] for row in X.itertuples(index=False)]
            else:
                rows = [dict(zip(names, map(_json_value, row), strict=True))
                        for row in X.itertuples(index=False)]
            return json.dumps({"instances": rows}).encode(), True, None
        X = np.asarray(X)
        if X.dtype.kind == "O":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as e:
                raise ValueError(f"X holds values that are not numbers: {e}") from None
        if X.dtype.kind not in "fiubU":
            raise ValueError(
                f"X has dtype {X.dtype}: pass numbers (or numpy strings for a pipeline), "
                "or a data frame")
        return _npy(X), False, None


def _npy(X):
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    return buf.getvalue()


def _json_value(v):
    """A data frame cell as JSON: NaN, None and pandas' NA as null (JSON has no NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ == "NAType":
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v
