"""The pickled state of oxlearn estimators: the canonical form.

The state is ``{"__oxlearn__": <sealed JSON header>, "arrays": {name: ndarray}}``.
Building the header's fields from an estimator is sklearn plumbing and lives
here; validation, the checksum and the compatibility rules live in Rust
(``oxlearn-format``), shared with the native model file and the CLI.
Arrays stay plain numpy arrays so that ``joblib.load(..., mmap_mode="r")``
maps them without copying.
"""

import json
import math
import platform
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from oxlearn import _core
from oxlearn._config import get_config
from oxlearn.exceptions import (
    EnvironmentMismatchWarning,
    IncompatibleModelError,
    ModelFileCorruptError,
    OxlearnVersionWarning,
)

STATE_KEY = "__oxlearn__"


def runtime_versions():
    """Return the reading process's ``(oxlearn, sklearn, numpy, python)`` versions."""
    return (_core.__version__, sklearn.__version__, np.__version__, platform.python_version())


def _encode(value, name):
    """Encode a parameter value as JSON, refusing what cannot round-trip."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, name) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return {"__ndarray__": [_encode(v, name) for v in value.ravel().tolist()],
                "dtype": _le_dtype(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        flat = value.ravel().tolist()
        # Object arrays of strings (or of integers), e.g. class labels: the
        # elements are plain JSON values, so they round-trip without pickle.
        if all(isinstance(v, str) for v in flat) or all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in flat
        ):
            return {"__ndarray__": [v if isinstance(v, str) else int(v) for v in flat],
                    "dtype": "|O", "shape": list(value.shape)}
    raise TypeError(
        f"parameter {name}={value!r} of type {type(value).__name__} cannot be stored in an "
        "oxlearn model; use a number, string, bool, None, or a list/tuple/array of those"
    )


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__ndarray__" in value:
            flat = [_decode(v) for v in value["__ndarray__"]]
            return np.asarray(flat, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    return value


def _scalar(value, name):
    if isinstance(value, (np.generic,)):
        value = value.item()
    return _encode(value, name)


def _le_dtype(dtype):
    """Return the dtype string of ``dtype`` in little-endian order (``<i2``, ``|u1``, ``<U5``)."""
    return dtype.newbyteorder("<").str if dtype.byteorder == ">" else dtype.str


# The dtypes the format stores as arrays (oxlearn-format's DType).
_ARRAY_DTYPES = frozenset(np.dtype(t).newbyteorder("<") for t in _core.ARRAY_DTYPES)


def _le_contiguous(value):
    arr = np.asarray(value)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def seal(est, file_layout=False):
    """Return ``(sealed header JSON, [(name, array), ...])`` for an oxlearn estimator."""
    est._verify_pending()
    schema = _core.schema(est._oxlearn_kind)
    fitted = hasattr(est, "n_features_in_")
    arrays, attrs, dtype = [], {}, None
    if fitted:
        dtype = est._oxlearn_dtype()
        src = est._oxlearn_state_view()
        for name, _required in schema["arrays"]:
            if hasattr(src, name):
                if getattr(src, name) is None and name in schema["attrs"]:
                    continue  # an optional array left unset (e.g. precision_): an attr
                arr = _le_contiguous(getattr(src, name))
                if arr.dtype not in _ARRAY_DTYPES and name in schema["attrs"]:
                    continue  # not an array dtype (e.g. string class labels): an attr
                # scikit-learn's scalar 0.0 intercept (fit_intercept=False) is a
                # Python float even for float32 models: store it in the model's
                # dtype when that is exact.
                if arr.ndim == 0 and arr.dtype.kind == "f" and arr.dtype != dtype:
                    if arr.astype(dtype) == arr:
                        arr = arr.astype(dtype)
                arrays.append((name, arr))
        array_names = {name for name, _ in arrays}
        for name in schema["attrs"]:
            if hasattr(src, name) and name not in array_names:
                attrs[name] = _scalar(getattr(src, name), name)
        dtype = dtype.name
    names = getattr(est, "feature_names_in_", None)
    header = {
        "format_version": _core.FORMAT_VERSION,
        "kind": est._oxlearn_kind,
        "schema_version": schema["version"],
        "oxlearn_version": _core.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": "cpu",
        "fitted": fitted,
        "dtype": dtype,
        "n_features_in": int(est.n_features_in_) if fitted else None,
        "feature_names_in": None if names is None else [str(n) for n in names],
        "params": {k: _encode(v, k) for k, v in est.get_params(deep=False).items()},
        "attrs": attrs,
        "arrays": [],
        "checksum": "",
    }
    return _core.seal_header(json.dumps(header, allow_nan=False), arrays, file_layout), arrays


def get_state(est):
    """Return the canonical, sealed state of an oxlearn estimator (its pickle)."""
    sealed, arrays = seal(est)
    return {STATE_KEY: sealed, "arrays": dict(arrays)}


def _report(est, header, found):
    strict = get_config()["strict_persistence"]
    if strict and found:
        messages = "; ".join(message for _, message in found)
        raise IncompatibleModelError(
            f"{messages} (strict_persistence=True turns these warnings into errors)"
        )
    for code, message in found:
        if code == "sklearn_version":
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(est).__name__,
                    current_sklearn_version=sklearn.__version__,
                    original_sklearn_version=header["sklearn_version"],
                ),
                stacklevel=4,
            )
        elif code == "oxlearn_version":
            warnings.warn(message, OxlearnVersionWarning, stacklevel=4)
        else:
            warnings.warn(message, EnvironmentMismatchWarning, stacklevel=4)


def set_state(est, state):
    """Verify a canonical state (compatibility, checksum, structure) and load it into ``est``."""
    if not (isinstance(state, dict) and isinstance(state.get(STATE_KEY), str)
            and isinstance(state.get("arrays"), dict)):
        raise ModelFileCorruptError(
            f"this is not an oxlearn model state (got {type(state).__name__} without the "
            f"{STATE_KEY!r} header); the pickle is corrupt or was not written by oxlearn"
        )
    arrays = state["arrays"]
    found = _core.open_header(state[STATE_KEY], arrays, runtime_versions())
    header = json.loads(state[STATE_KEY])
    if header["kind"] != est._oxlearn_kind:
        raise ModelFileCorruptError(
            f"the state holds a {header['kind']} model but is being loaded into "
            f"{type(est).__name__} ({est._oxlearn_kind})"
        )
    _report(est, header, found)
    apply(est, header, arrays)


def apply(est, header, arrays):
    """Set the parameters and fitted attributes of a verified model on ``est``."""
    est.__dict__.update({k: _decode(v) for k, v in header["params"].items()})
    if not header["fitted"]:
        return
    for entry in header["arrays"]:
        value = arrays[entry["name"]]
        setattr(est, entry["name"], value[()] if value.ndim == 0 else value)
    for name, value in header["attrs"].items():
        setattr(est, name, _decode(value))
    est.n_features_in_ = header["n_features_in"]
    if header["feature_names_in"] is not None:
        est.feature_names_in_ = np.asarray(header["feature_names_in"], dtype=object)
    est._oxlearn_after_load()
