"""The pickled state of oxlearn estimators: the canonical form, and what travels beside it.

A fitted model's state is ``{"__oxlearn__": <sealed JSON header>, "arrays":
{name: ndarray}}``: the one canonical form that ``oxlearn.save`` writes too.
Building the header's fields from an estimator is scikit-learn plumbing and
lives here; the grammar of the header's values, the checksum, the
compatibility rules and the structure checks live in Rust
(``oxlearn-format``), shared with the native model file and the CLI.
Arrays stay plain numpy arrays so that ``joblib.load(..., mmap_mode="r")``
maps them without copying.

Pickle is never stricter than scikit-learn's: whatever the canonical form
cannot hold (a ``RandomState`` or a callable as a parameter, a nested
estimator, attributes a user set, the state of a half-fitted estimator)
travels beside it, under ``"extras"``, with pickle's own semantics. The model
file (``oxlearn.save``) stays strict and refuses such parameters.
"""

import json
import math
import platform
import threading
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from oxlearn import _array_api, _core
from oxlearn._config import get_config
from oxlearn._logging import logger
from oxlearn.exceptions import (
    EnvironmentMismatchWarning,
    IncompatibleModelError,
    ModelFileCorruptError,
    OxlearnVersionWarning,
)

STATE_KEY = "__oxlearn__"
EXTRAS_KEY = "extras"
# Attribute holding a lazily verified model's arrays (``load(mmap=True)``).
PENDING = "_oxlearn_pending"


class UnencodableError(TypeError):
    """A parameter value the model format cannot represent."""


def runtime_versions():
    """Return the reading process's ``(oxlearn, sklearn, numpy, python)`` versions."""
    return (_core.__version__, sklearn.__version__, np.__version__, platform.python_version())


def _unencodable(value, name):
    return UnencodableError(
        f"parameter {name}={value!r} of type {type(value).__name__} cannot be stored in an "
        "oxlearn model file, which holds numbers, strings, booleans, None, and lists, "
        "tuples, arrays and dicts of those; save the model with pickle or joblib instead "
        "(they keep such values beside the model), or set the parameter to such a value"
    )


def _dict_key(key, name):
    """Encode a dict key of ``__items__``: a string, number or boolean."""
    if isinstance(key, (bool, np.bool_)):
        return bool(key)
    if isinstance(key, (str, int, np.integer)):
        return key if isinstance(key, str) else int(key)
    if isinstance(key, (float, np.floating)) and math.isfinite(key):
        return float(key)
    raise _unencodable(key, name)


def _encode(value, name):
    """Encode a parameter value as JSON (``docs/format.md`` §1.3).

    Raises
    ------
    UnencodableError
        For values the format cannot represent (callables, estimators,
        ``RandomState``, ...), rather than dropping them.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if type(value) is dict:
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _encode(v, name) for k, v in value.items()}}
        # Keys JSON objects cannot hold (class_weight={0: 1.0, 1: 2.0}).
        return {"__items__": [[_dict_key(k, name), _encode(v, name)] for k, v in value.items()]}
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
    raise _unencodable(value, name)


def _decode(value):
    """Decode a JSON value that ``oxlearn-format`` accepted (its grammar is checked there)."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__items__" in value:
            return {k: _decode(v) for k, v in value["__items__"]}
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


def _init_attributes(cls):
    """The attributes a fresh instance of ``cls`` has besides its parameters."""
    fresh = cls()
    params = set(cls._get_param_names())
    return {k: v for k, v in vars(fresh).items() if k not in params}


def _transient(cls, name):
    """Whether attribute ``name`` is a cache that is rebuilt, never persisted."""
    return name.startswith("_oxl_") or name == PENDING or name in cls._oxlearn_transient


def _fitted_state(est, schema):
    """``(dtype, arrays, attrs)`` of the canonical form of a fitted estimator.

    Raises ``AttributeError``/``KeyError`` when a required attribute is
    missing (a half-fitted estimator).
    """
    dtype = est._oxlearn_dtype()
    src = est._oxlearn_state_view()
    arrays, attrs = [], {}
    for name, required in schema["arrays"]:
        if required and not hasattr(src, name):
            raise AttributeError(f"{type(est).__name__} has no fitted attribute {name!r}")
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
    return dtype.name, arrays, attrs


def _header(est, schema, fitted, dtype, attrs, params, placement=(None, "cpu")):
    names = getattr(est, "feature_names_in_", None) if fitted else None
    namespace, device = placement
    return {
        "format_version": _core.FORMAT_VERSION,
        "kind": est._oxlearn_kind,
        "schema_version": schema["version"],
        "oxlearn_version": _core.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "array_namespace": namespace,
        "fitted": fitted,
        "dtype": dtype,
        "n_features_in": int(est.n_features_in_) if fitted else None,
        "feature_names_in": None if names is None else [str(n) for n in names],
        "params": params,
        "attrs": attrs,
        "arrays": [],
        "checksum": "",
    }


def _canonical_names(est, schema):
    """Attribute names the canonical form holds (whatever form they take there)."""
    return ({"n_features_in_", "feature_names_in_"}
            | {name for name, _ in schema["arrays"]} | set(schema["attrs"])
            | set(type(est)._oxlearn_canonical))


def seal(est, file_layout=False, strict=True):
    """Return ``(sealed header JSON, [(name, array), ...], extras)`` for an estimator.

    Parameters
    ----------
    est : oxlearn estimator
        The estimator, fitted or not.
    file_layout : bool, default=False
        Record file offsets (``oxlearn.save``).
    strict : bool, default=True
        The model file's rule: every parameter must be representable, and a
        fitted estimator must be whole. With ``strict=False`` (pickle),
        what the canonical form cannot hold goes into ``extras``:
        ``{"params": {...}, "attrs": {...}}``.
    """
    est._verify_pending()
    cls = type(est)
    schema = _core.schema(est._oxlearn_kind)
    # An array API model is stored as host arrays, with its namespace and
    # device in the header.
    placement = _array_api.saved_placement(est)
    if placement[0] is not None:
        est = _array_api.host_twin(est)
    params, extra_params = {}, {}
    for name, value in est.get_params(deep=False).items():
        try:
            params[name] = _encode(value, name)
        except UnencodableError:
            if strict:
                raise
            extra_params[name] = value
    fitted = hasattr(est, "n_features_in_")
    arrays, attrs, dtype = [], {}, None
    if fitted:
        try:
            dtype, arrays, attrs = _fitted_state(est, schema)
        except (AttributeError, KeyError) as e:
            if strict:
                raise ValueError(
                    f"cannot save {cls.__name__}: it is not completely fitted ({e}); fit it "
                    "first, or pickle it"
                ) from e
            # Half fitted (e.g. copied by a callback during fit): scikit-learn
            # pickles whatever is there, and so does oxlearn, beside an
            # unfitted header.
            logger.debug("%s: pickling a partially fitted estimator (%s)", cls.__name__, e)
            fitted = False
    if not fitted:
        placement = (None, "cpu")
    header = _header(est, schema, fitted, dtype, attrs, params, placement)
    try:
        sealed = _core.seal_header(json.dumps(header, allow_nan=False), arrays, file_layout)
    except ValueError as e:
        if strict or not fitted:
            raise
        # Attributes that do not (yet) form a valid model: as above.
        logger.debug("%s: pickling an estimator whose fitted state is not a model (%s)",
                     cls.__name__, e)
        fitted, arrays = False, []
        header = _header(est, schema, fitted, None, {}, params)
        sealed = _core.seal_header(json.dumps(header, allow_nan=False), arrays, file_layout)
    canonical = _canonical_names(est, schema) if fitted else set()
    canonical |= set(params) | set(extra_params)
    extra_attrs = {k: v for k, v in vars(est).items()
                   if k not in canonical and not _transient(cls, k)}
    extras = {}
    if extra_params:
        extras["params"] = extra_params
    if extra_attrs:
        extras["attrs"] = extra_attrs
    return sealed, arrays, extras


def get_state(est):
    """Return the pickled state of an oxlearn estimator: canonical form plus extras."""
    sealed, arrays, extras = seal(est, strict=False)
    state = {STATE_KEY: sealed, "arrays": dict(arrays)}
    if extras:
        state[EXTRAS_KEY] = extras
    return state


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
    """Verify a pickled state (compatibility, checksum, structure) and load it into ``est``."""
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
    extras = state.get(EXTRAS_KEY) or {}
    _report(est, header, found)
    apply(est, header, arrays, extra_params=extras.get("params", {}),
          extra_attrs=extras.get("attrs", {}), check_values=False,
          device=get_config()["load_device"])


def _check_params(cls, header, params, check_values):
    """Refuse parameters that are not exactly ``cls``'s constructor parameters.

    Missing ones are filled with their defaults only when the model was
    written under another scikit-learn version (which may have had other
    parameters). With ``check_values``, the values must also satisfy the
    class's ``_parameter_constraints``.
    """
    names = set(cls._get_param_names())
    other_sklearn = header["sklearn_version"] != sklearn.__version__
    unknown = sorted(set(params) - names)
    if unknown:
        hint = (f"; it was written under scikit-learn {header['sklearn_version']}: load it "
                "under that version" if other_sklearn else "")
        raise ModelFileCorruptError(
            f"parameters {unknown} are not parameters of {cls.__name__}{hint}; the model "
            "data is corrupt or was not written by oxlearn"
        )
    missing = sorted(names - set(params))
    if missing:
        if not other_sklearn:
            raise ModelFileCorruptError(
                f"parameters {missing} of {cls.__name__} are missing; the model data is "
                "corrupt or was not written by oxlearn"
            )
        defaults = cls().get_params(deep=False)
        params = {**{k: defaults[k] for k in missing}, **params}
    if check_values:
        from oxlearn._sklearn_private import InvalidParameterError, validate_parameter_constraints

        try:
            validate_parameter_constraints(
                getattr(cls, "_parameter_constraints", {}), params, caller_name=cls.__name__
            )
        except InvalidParameterError as e:
            raise ModelFileCorruptError(f"{e}; the model data is corrupt") from None
    return params


def validate_params(est):
    """Check ``est``'s parameters as loading will (``oxlearn.save`` refuses what load would)."""
    from oxlearn._sklearn_private import InvalidParameterError, validate_parameter_constraints

    cls = type(est)
    try:
        validate_parameter_constraints(
            getattr(cls, "_parameter_constraints", {}), est.get_params(deep=False),
            caller_name=cls.__name__,
        )
    except InvalidParameterError as e:
        raise ValueError(f"cannot save {cls.__name__}: {e}") from None


def apply(est, header, arrays, *, lazy=None, extra_params=None, extra_attrs=None,
          check_values=True, device=None):
    """Set the parameters and fitted attributes of a verified model on ``est``.

    Parameters
    ----------
    est : oxlearn estimator
        A bare instance (``cls.__new__(cls)``) or one being unpickled.
    header : dict
        The verified header.
    arrays : dict
        The verified arrays, or with ``lazy`` the unverified ones.
    lazy : tuple or None
        ``(header JSON, copy)`` for a model loaded with ``mmap``: its arrays
        are verified (and copied when ``copy``), set and post-processed on
        first use; see :meth:`OxlearnEstimatorMixin._verify_pending`.
    extra_params, extra_attrs : dict
        What travelled beside the canonical form (pickle only).
    check_values : bool
        Check parameter values against the class's constraints (the model
        file; pickle keeps scikit-learn's semantics and checks them at fit).
    device : str or None
        Where an array API model's arrays go: ``None`` to the namespace and
        device it was saved from, ``"cpu"`` nowhere (a host model), else
        that device of its namespace.
    """
    cls = type(est)
    params = {k: _decode(v) for k, v in header["params"].items()}
    params.update(extra_params or {})
    params = _check_params(cls, header, params, check_values)
    d = est.__dict__
    d.update(_init_attributes(cls))
    d.update(params)
    d.update(extra_attrs or {})
    if not header["fitted"]:
        return
    for name, value in header["attrs"].items():
        d[name] = _decode(value)
    d["n_features_in_"] = header["n_features_in"]
    if header["feature_names_in"] is not None:
        d["feature_names_in_"] = np.asarray(header["feature_names_in"], dtype=object)
    namespace = header.get("array_namespace")
    if lazy is not None and arrays:
        d[PENDING] = _Pending(lazy[0], arrays, lazy[1])
        if namespace is None or device == "cpu":
            return
        # Arrays bound for a device are copied there now: verify them first.
        materialize(est)
    else:
        _set_arrays(est, arrays)
        est._oxlearn_after_load()
    _array_api.restore(est, namespace, header["device"], device)


def _set_arrays(est, arrays):
    d = est.__dict__
    for name, value in arrays.items():
        d[name] = value[()] if value.ndim == 0 else value


class _Pending:
    """The unverified arrays of a model loaded with ``mmap``."""

    __slots__ = ("header_json", "arrays", "copy", "error")

    def __init__(self, header_json, arrays, copy):
        self.header_json = header_json
        self.arrays = arrays
        self.copy = copy
        self.error = None

    def verified(self):
        """Return the arrays, verified against their digests and structure."""
        arrays = self.arrays
        if self.copy:
            # Copy first, then verify the copies: what is verified is what
            # the model keeps, whatever later happens to the file.
            arrays = {k: np.array(v) for k, v in arrays.items()}
        _core.verify_array_digests(self.header_json, arrays)
        return arrays


# One lock for every lazily loaded model: verification happens once per
# model, and threads that race for it must wait for the one that runs it.
_MATERIALIZE = threading.RLock()


def materialize(est):
    """Verify and set the arrays of a model loaded with ``mmap`` (once, thread-safe).

    A failed verification is raised again on every later call, never skipped.
    The verified model is assembled in a new ``__dict__`` that then replaces
    the old one in one step: a thread reading the model meanwhile (e.g.
    scikit-learn's ``check_is_fitted`` iterating ``vars(est)``) never sees it
    change under its feet.
    """
    if PENDING not in est.__dict__:
        return
    with _MATERIALIZE:
        pending = est.__dict__.get(PENDING)
        if pending is None:
            return
        if pending.error is not None:
            raise ModelFileCorruptError(str(pending.error))
        try:
            arrays = pending.verified()
        except ModelFileCorruptError as e:
            pending.error = e
            raise
        cls = type(est)
        shadow = cls.__new__(cls)
        shadow.__dict__.update((k, v) for k, v in est.__dict__.items() if k != PENDING)
        _set_arrays(shadow, arrays)
        shadow._oxlearn_after_load()
        object.__setattr__(est, "__dict__", shadow.__dict__)
