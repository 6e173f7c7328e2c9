"""Pipelines and scikit-learn's own transformers in the native model file.

``oxlearn.save`` accepts a stock scikit-learn ``Pipeline`` or
``ColumnTransformer`` of supported transformers, ending in any estimator
``oxlearn.save`` accepts, and those transformers on their own. Each
component is one ``part`` of the file's header (format 1.3); its arrays are
named ``<part index>/<attribute>``. The schemas, the checks that the steps
fit together, and the checksum live in Rust (``oxlearn-format``), so the
``oxlearn`` binary verifies and serves the very same file.

Loading builds only classes from the closed table below and gives back
stock scikit-learn objects with scikit-learn's own fitted attributes, so a
loaded pipeline predicts bit-identically, pickles and clones as the saved
one did.
"""

import importlib
import json
import platform

import numpy as np
import sklearn

from oxlearn import _core, _persistence

# Parameters holding a numpy scalar type (``dtype=np.float64``): stored by name.
_DTYPE_PARAMS = frozenset({"dtype"})
# Attributes holding a numpy dtype (``SimpleImputer._fit_dtype``): stored as its string.
_DTYPE_ATTRS = frozenset({"_fit_dtype", "_fill_dtype"})
# Object arrays of indices or None (``OneHotEncoder.drop_idx_``), or of
# numbers (a constant ``SimpleImputer``'s ``statistics_``): stored as lists.
_OBJECT_LIST_ATTRS = frozenset({"drop_idx_", "_drop_idx_after_grouping", "statistics_"})
# The score functions ``SelectKBest`` may name (oxlearn-format's SCORE_FUNCS).
_SCORE_FUNCS = ("f_classif", "f_regression", "chi2", "mutual_info_classif",
                "mutual_info_regression", "r_regression")
# A ColumnTransformer's remainder that is an estimator: its fitted clone is
# the part named "remainder"; the parameter records only that.
_REMAINDER_ESTIMATOR = "estimator"


def classes_of(origin, package):
    """``{kind: class}`` for the kinds of one ``origin`` of the Rust registry.

    Kind ``<module>.<class>`` is the class of that name in
    ``<package>.<module>``; only those modules are imported, so nothing is
    ever built from a name in a file. ``_io._registry`` takes oxlearn's
    estimators this way, and this module scikit-learn's own classes.
    """
    table = {}
    for kind in _core.known_kinds(origin):
        module, name = kind.rsplit(".", 1)
        table[kind] = getattr(importlib.import_module(f"{package}.{module}"), name)
    return table


def _stock_kinds():
    """``{scikit-learn class: kind}``: the stock classes the file stores."""
    return {cls: kind for kind, cls in classes_of("sklearn", "sklearn").items()}


def stock_classes():
    """``{kind: scikit-learn class}``: the only stock classes ``load`` builds."""
    return classes_of("sklearn", "sklearn")


def handles(model):
    """Whether ``model`` is a stock object this module saves (exact class)."""
    return type(model) in _stock_kinds()


def handles_kind(kind):
    """Whether a file of ``kind`` is loaded by this module."""
    # Markers: the "passthrough" / "drop" placeholders, which have no class.
    return kind in _core.known_kinds("sklearn") or kind in _core.known_kinds("marker")


# --- saving ---------------------------------------------------------------------------


def _where(path):
    return f" at {path}" if path else ""


def _unsupported(est, path):
    supported = sorted(c.__name__ for c in _stock_kinds())
    return TypeError(
        f"cannot save {type(est).__module__}.{type(est).__name__}{_where(path)} in an oxlearn "
        f"model file; supported steps are oxlearn's estimators, the scikit-learn estimators "
        f"oxlearn converts, and {supported}; save this pipeline with pickle or joblib instead"
    )


def _encode_params(est, path):
    params = {}
    for name, value in est.get_params(deep=False).items():
        if name in _DTYPE_PARAMS and isinstance(value, type):
            value = np.dtype(value).name
        elif name == "score_func":
            fname = getattr(value, "__name__", None)
            import sklearn.feature_selection as fs

            if fname not in _SCORE_FUNCS or getattr(fs, fname) is not value:
                raise _persistence.UnencodableError(
                    f"parameter score_func={value!r}{_where(path)}: only scikit-learn's "
                    f"{list(_SCORE_FUNCS)} can be stored in an oxlearn model file"
                )
            value = fname
        try:
            params[name] = _persistence._encode(value, name)
        except _persistence.UnencodableError as e:
            raise _persistence.UnencodableError(f"{e}{_where(path)}") from None
    return params


def _stock_state(est, kind, path):
    """``(dtype, [(name, array)], attrs)`` of a fitted stock transformer.

    Every attribute it has beyond its parameters must be one the kind's
    schema lists: an attribute this scikit-learn version added is refused
    rather than dropped.
    """
    schema = _core.schema(kind)
    array_names = {name for name, _ in schema["arrays"]}
    params = set(est.get_params(deep=False))
    arrays, attrs, dtype = [], {}, None
    for name, value in vars(est).items():
        if name in params or name in ("n_features_in_", "feature_names_in_"):
            continue
        if name in array_names and value is not None:
            arr = _persistence._le_contiguous(value)
            if arr.dtype in _persistence._ARRAY_DTYPES:
                if dtype is None and arr.dtype.kind == "f":
                    dtype = arr.dtype.name
                arrays.append((name, arr))
                continue
        if name not in schema["attrs"]:
            raise TypeError(
                f"cannot save {type(est).__name__}{_where(path)}: its attribute {name!r} "
                f"(scikit-learn {sklearn.__version__}) is not part of the oxlearn model file; "
                "save it with pickle or joblib instead"
            )
        if name in _DTYPE_ATTRS and value is not None:
            value = np.dtype(value).str
        elif name == "categories_":
            # Object categories with a missing value (None or NaN, last)
            # are a plain list; the others tagged arrays.
            value = [_object_list(c) if c.dtype == object and not all(
                isinstance(v, str) for v in c) else c for c in value]
        elif (name in _OBJECT_LIST_ATTRS and isinstance(value, np.ndarray)
              and value.dtype == object and not all(isinstance(v, str) for v in value.flat)):
            value = _object_list(value)
        try:
            attrs[name] = _persistence._encode(value, name)
        except _persistence.UnencodableError:
            raise TypeError(
                f"cannot save {type(est).__name__}{_where(path)}: its attribute {name}="
                f"{value!r} cannot be stored in an oxlearn model file; save it with pickle or "
                "joblib instead"
            ) from None
    return dtype, arrays, attrs


def _object_list(arr):
    """An object array as a plain list of Python values (None and NaN kept)."""
    return [v.item() if isinstance(v, np.generic) else v for v in arr.tolist()]


def _is_fitted(est):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    return True


def _names(est):
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _part(name, kind, fitted, params, n_features_in=None, names=None, dtype=None,
          attrs=None, parts=None, schema_version=None):
    part = {
        "name": name,
        "kind": kind,
        "schema_version": schema_version or _core.schema(kind)["version"],
        "fitted": fitted,
        "dtype": dtype,
        "n_features_in": n_features_in,
        "feature_names_in": names,
        "params": params,
        "attrs": attrs or {},
    }
    if parts:
        part["parts"] = parts
    return part


def _prefixed(index, arrays):
    return [(f"{index}/{name}", arr) for name, arr in arrays]


def _encode(est, name, path, n_features_in=None):
    """``(part, [(array name, array)])`` of one component, recursively."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(est, str) and est in ("passthrough", "drop") or est is None:
        kind = "compose.drop" if est == "drop" else "compose.passthrough"
        # Fitted exactly when its composite is, which knows its width then.
        return _part(name, kind, n_features_in is not None, {}, n_features_in), []
    if type(est) is FunctionTransformer:
        # A ColumnTransformer's fitted "passthrough" is an identity
        # FunctionTransformer; any other function is code, not data.
        if est.func is not None or est.inverse_func is not None:
            raise _unsupported(est, path)
        fitted = _is_fitted(est)
        n = est.n_features_in_ if fitted else None
        return _part(name, "compose.passthrough", fitted, _encode_params(est, path), n,
                     _names(est) if fitted else None), []
    if type(est) is Pipeline:
        return _encode_pipeline(est, name, path)
    if type(est) is ColumnTransformer:
        return _encode_column_transformer(est, name, path)
    kind = _stock_kinds().get(type(est))
    if kind is None:
        return _encode_oxlearn(est, name, path)
    params = _encode_params(est, path)
    if not _is_fitted(est):
        return _part(name, kind, False, params), []
    dtype, arrays, attrs = _stock_state(est, kind, path)
    # A label encoder has no n_features_in_: it encodes one column (y).
    n = 1 if kind == "preprocessing.LabelEncoder" else est.n_features_in_
    return _part(name, kind, True, params, n, _names(est), dtype, attrs), arrays


def _encode_oxlearn(est, name, path):
    """An oxlearn estimator (or a stock one oxlearn converts) as a part."""
    from oxlearn._io import from_sklearn

    try:
        model = from_sklearn(est)
    except TypeError:
        raise _unsupported(est, path) from None
    export = getattr(model, "_oxlearn_export", None)
    if export is not None:
        model = export()
    _persistence.validate_params(model)
    sealed, arrays, _ = _persistence.seal(model, file_layout=False, strict=True)
    h = json.loads(sealed)
    if h.get("array_namespace") is not None:
        raise ValueError(
            f"cannot save {type(model).__name__}{_where(path)}: its attributes are "
            f"{h['array_namespace']} arrays; a pipeline is saved with host arrays: call "
            "model.to_numpy() on it first"
        )
    part = _part(name, h["kind"], h["fitted"], h["params"], h["n_features_in"],
                 h["feature_names_in"], h["dtype"], h["attrs"],
                 schema_version=h["schema_version"])
    return part, arrays


def _encode_children(children, path_of, n_first):
    """Encode ``[(name, estimator)]``; the arrays of child ``i`` get prefix ``i/``."""
    parts, arrays = [], []
    for i, (child_name, child) in enumerate(children):
        part, child_arrays = _encode(child, child_name, path_of(i), n_first(i))
        parts.append(part)
        arrays.extend(_prefixed(i, child_arrays))
    return parts, arrays


def _output_width(est):
    """Columns a fitted stock transformer outputs (for a later passthrough step)."""
    try:
        return len(est.get_feature_names_out())
    except (AttributeError, ValueError, TypeError):
        return None


def _encode_pipeline(pipe, name, path):
    params = _encode_params_except(pipe, ("steps",), path)
    steps = pipe.steps

    def n_first(i):
        if i == 0:
            return getattr(pipe, "n_features_in_", None)
        return _output_width(steps[i - 1][1])

    where = path or "pipeline"
    fitted_steps = _is_fitted(pipe)
    for i, (_, step) in enumerate(steps):
        if fitted_steps and (step is None or step == "passthrough") and n_first(i) is None:
            raise TypeError(
                f"cannot save the passthrough step {where}.steps[{i}]: the width of the step "
                "before it is unknown (it has no get_feature_names_out)"
            )
    parts, arrays = _encode_children(steps, lambda i: f"{where}.steps[{i}]", n_first)
    fitted = {p["fitted"] for p in parts}
    if len(fitted) > 1:
        raise ValueError(
            f"cannot save the pipeline{_where(path)}: some steps are fitted and others are "
            "not; fit the pipeline first"
        )
    fitted = fitted.pop()
    n = parts[0]["n_features_in"] if fitted else None
    names = parts[0]["feature_names_in"] if fitted else None
    return _part(name, "pipeline.Pipeline", fitted, params, n, names, parts=parts), arrays


def _encode_params_except(est, nested, path):
    """The parameters of a composite but its nested estimators (they are parts)."""
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key in nested:
            continue
        if key == "memory" and value is not None:
            raise _persistence.UnencodableError(
                f"parameter memory={value!r}{_where(path)}: a pipeline's cache is not part of "
                "a model; set memory=None to save it in an oxlearn model file"
            )
        params[key] = _persistence._encode(value, key)
    return params


# A slice column selection, stored as this tuple (start, stop, step follow):
# it must come back a slice, since numpy sums a sliced view and a copy in
# different orders (a refit would differ in the last bits).
_SLICE = "__slice__"


def _column_spec(spec, indices):
    """A column selection as the file stores it."""
    if isinstance(spec, slice):
        return (_SLICE, spec.start, spec.stop, spec.step)
    return spec


def _column_spec_back(spec):
    if isinstance(spec, tuple) and len(spec) == 4 and spec[0] == _SLICE:
        return slice(*spec[1:])
    return spec


def _encode_column_transformer(ct, name, path):
    from sklearn.base import BaseEstimator

    params = _encode_params_except(ct, ("transformers", "remainder"), path)
    where = path or "column_transformer"
    if isinstance(ct.remainder, BaseEstimator):
        params["remainder"] = _REMAINDER_ESTIMATOR
    else:
        params["remainder"] = ct.remainder
    if not _is_fitted(ct):
        parts, arrays = _encode_children(
            [(n, t) for n, t, _ in ct.transformers],
            lambda i: f"{where}.transformers[{i}]", lambda i: None)
        # The unfitted column selections, as given.
        params["transformers"] = [
            _persistence._encode(_column_spec(c, ()), "transformers") for _, _, c in
            ct.transformers]
        return _part(name, "compose.ColumnTransformer", False, params, parts=parts), arrays
    indices = ct._transformer_to_input_indices
    children = [(n, t) for n, t, _ in ct.transformers_]
    parts, arrays = _encode_children(
        children, lambda i: f"{where}.transformers[{i}]",
        lambda i: len(indices[children[i][0]]))
    columns = [_column_spec(c, indices[n]) for n, _, c in ct.transformers_]
    rem = ct._remainder
    attrs = {
        "_transformer_to_input_indices": _persistence._encode(
            {n: [int(j) for j in v] for n, v in indices.items()
             if n in dict(children) or n == "remainder"},
            "_transformer_to_input_indices"),
        "_columns": _persistence._encode(columns, "_columns"),
        "sparse_output_": bool(ct.sparse_output_),
        "_remainder": _persistence._encode(
            ["remainder", params["remainder"], _column_spec(rem[2], indices["remainder"])],
            "_remainder"),
        "output_indices_": _persistence._encode(
            {n: [s.start, s.stop] for n, s in ct.output_indices_.items()}, "output_indices_"),
    }
    return _part(name, "compose.ColumnTransformer", True, params, int(ct.n_features_in_),
                 _names(ct), attrs=attrs, parts=parts), arrays


def seal(model, file_layout=True):
    """Return ``(sealed header JSON, [(name, array)])`` of a stock composite or transformer.

    Raises
    ------
    TypeError
        A step that the file cannot hold, named with its path
        (``pipeline.steps[1].transformers[0]``).
    ValueError
        A partly fitted pipeline, or a model the schemas refuse.
    """
    part, arrays = _encode(model, "", "")
    header = {
        "format_version": _core.FORMAT_VERSION,
        "kind": part["kind"],
        "schema_version": part["schema_version"],
        "oxlearn_version": _core.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": "cpu",
        "array_namespace": None,
        "fitted": part["fitted"],
        "dtype": part["dtype"],
        "n_features_in": part["n_features_in"],
        "feature_names_in": part["feature_names_in"],
        "params": part["params"],
        "attrs": part["attrs"],
        "parts": part.get("parts", []),
        "arrays": [],
        "checksum": "",
    }
    sealed = _core.seal_header(json.dumps(header, allow_nan=False), arrays, file_layout)
    return sealed, arrays


# --- loading --------------------------------------------------------------------------


def _sub_arrays(arrays, index):
    prefix = f"{index}/"
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _decode_attr(name, value):
    value = _persistence._decode(value)
    if name in _DTYPE_ATTRS and value is not None:
        return np.dtype(value)
    if name in _OBJECT_LIST_ATTRS and isinstance(value, list):
        return np.array(value, dtype=object)
    if name == "categories_" and isinstance(value, list):
        return [np.array(c, dtype=object) if isinstance(c, list) else c for c in value]
    return value


def _decode_params(cls, header, part):
    params = {k: _persistence._decode(v) for k, v in part["params"].items()}
    if isinstance(params.get("dtype"), str) and "dtype" in _DTYPE_PARAMS:
        params["dtype"] = np.dtype(params["dtype"]).type
    if "score_func" in params:
        import sklearn.feature_selection as fs

        params["score_func"] = getattr(fs, params["score_func"])  # a name from _SCORE_FUNCS
    return _persistence._check_params(cls, header, params, check_values=True)


def _fitted_common(obj, part):
    d = obj.__dict__
    if part["kind"] != "preprocessing.LabelEncoder":
        d["n_features_in_"] = part["n_features_in"]
    if part["feature_names_in"] is not None:
        d["feature_names_in_"] = np.asarray(part["feature_names_in"], dtype=object)


def build(header, part, arrays):
    """The estimator of one verified part (or of the whole header, which is one)."""
    from sklearn.preprocessing import FunctionTransformer

    from oxlearn._io import _registry

    kind = part["kind"]
    merged = {**header, **part}
    if kind == "compose.drop":
        return "drop"
    if kind == "compose.passthrough":
        if not part["params"]:
            return "passthrough"
        obj = FunctionTransformer(**_decode_params(FunctionTransformer, header, part))
        if part["fitted"]:
            _fitted_common(obj, part)
        return obj
    oxlearn_cls = _registry().get(kind)
    if oxlearn_cls is not None:
        model = oxlearn_cls.__new__(oxlearn_cls)
        _persistence.apply(model, merged, arrays)
        return model
    cls = stock_classes()[kind]  # Rust refused unknown kinds already
    children = [build(header, p, _sub_arrays(arrays, i))
                for i, p in enumerate(part.get("parts", []))]
    if kind == "pipeline.Pipeline":
        return _build_pipeline(cls, header, part, children)
    if kind == "compose.ColumnTransformer":
        return _build_column_transformer(cls, header, part, children)
    obj = cls.__new__(cls)
    obj.__dict__.update(_decode_params(cls, header, part))
    if not part["fitted"]:
        return obj
    for name, value in part["attrs"].items():
        obj.__dict__[name] = _decode_attr(name, value)
    for name, value in arrays.items():
        obj.__dict__[name] = value[()] if value.ndim == 0 else value
    _fitted_common(obj, part)
    return obj


def _build_pipeline(cls, header, part, children):
    params = {k: _persistence._decode(v) for k, v in part["params"].items()}
    params["steps"] = [(p["name"], c) for p, c in zip(part["parts"], children, strict=True)]
    params = _persistence._check_params(cls, header, params, check_values=True)
    obj = cls.__new__(cls)
    obj.__dict__.update(params)
    return obj


def _build_column_transformer(cls, header, part, children):
    from sklearn.base import clone

    params = {k: _persistence._decode(v) for k, v in part["params"].items()}
    names = [p["name"] for p in part["parts"]]
    if not part["fitted"]:
        specs = [_column_spec_back(s) for s in params.pop("transformers")]
        params["transformers"] = [(n, c, s) for n, c, s in zip(names, children, specs,
                                                                strict=True)]
        if params["remainder"] == _REMAINDER_ESTIMATOR:
            raise ValueError("an unfitted ColumnTransformer's estimator remainder is not stored")
        params = _persistence._check_params(cls, header, params, check_values=True)
        obj = cls.__new__(cls)
        obj.__dict__.update(params)
        return obj
    attrs = {k: _persistence._decode(v) for k, v in part["attrs"].items()}
    columns = [_column_spec_back(c) for c in attrs["_columns"]]
    fitted = list(zip(names, children, columns, strict=True))
    # scikit-learn appends the remainder (dropped or not) when it has columns;
    # no transformer may be named "remainder" (a constructor argument).
    remainder_part = bool(names) and names[-1] == "remainder"
    given = fitted[:-1] if remainder_part else fitted

    def unfitted(c):
        if isinstance(c, str):
            return c
        # A fitted identity FunctionTransformer was the string "passthrough".
        if type(c).__name__ == "FunctionTransformer" and c.func is None:
            return "passthrough"
        return clone(c)

    if params["remainder"] == _REMAINDER_ESTIMATOR:
        params["remainder"] = clone(fitted[-1][1])
    params["transformers"] = [(n, unfitted(c), s) for n, c, s in given]
    params = _persistence._check_params(cls, header, params, check_values=True)
    obj = cls.__new__(cls)
    d = obj.__dict__
    d.update(params)
    _fitted_common(obj, part)
    d["_columns"] = [s for _, _, s in given]
    d["_transformer_to_input_indices"] = attrs["_transformer_to_input_indices"]
    rem = attrs["_remainder"]
    d["_remainder"] = ("remainder", params["remainder"], _column_spec_back(rem[2]))
    d["sparse_output_"] = attrs["sparse_output_"]
    d["transformers_"] = fitted
    d["output_indices_"] = {n: slice(a, b) for n, (a, b) in attrs["output_indices_"].items()}
    return obj
