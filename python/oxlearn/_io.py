"""The native model file and conversion to and from stock scikit-learn.

``oxlearn.save`` / ``oxlearn.load``, ``oxlearn.from_sklearn`` / ``to_sklearn``.

The file's layout, checksums and checks are implemented in Rust
(``oxlearn-format``); this module maps files to estimator classes through a
closed registry and never executes anything from a file.
"""

import json
import os
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from oxlearn import _composite, _core, _persistence
from oxlearn.exceptions import ModelFileCorruptError


def _registry():
    """``{kind: class}``: the only classes ``load`` ever builds.

    The ``oxlearn`` kinds of the Rust registry (``oxlearn-format``), the one
    list of kinds: kind ``<module>.<class>`` is the class of that name in
    ``oxlearn.<module>``. Only those modules are imported, so nothing is
    ever built from a name in a file.
    """
    return _composite.classes_of("oxlearn", "oxlearn")


def _from_sklearn_classes():
    """``{stock scikit-learn class: oxlearn class}`` for :func:`from_sklearn`."""
    table = {}
    for cls in _registry().values():
        stock = cls._sklearn_twin()
        if stock is not None:
            table[stock] = cls
    return table


def from_sklearn(estimator):
    """Turn a fitted stock scikit-learn estimator into the oxlearn one.

    Parameters
    ----------
    estimator : estimator
        A fitted instance of a scikit-learn class that oxlearn accelerates
        (e.g. ``sklearn.linear_model.LinearRegression``).

    Returns
    -------
    model : oxlearn estimator
        Same parameters and fitted attributes; predicts the same values
        (within 1e-12 relative: the summation order differs from BLAS).
    """
    table = _from_sklearn_classes()
    cls = table.get(type(estimator))
    if cls is None:
        if hasattr(estimator, "_oxlearn_kind"):
            return estimator
        names = sorted(f"{c.__module__.split('.')[0]}.{c.__name__}" for c in table)
        raise TypeError(
            f"cannot convert {type(estimator).__module__}.{type(estimator).__name__}; "
            f"supported: {names}"
        )
    check_is_fitted(estimator)
    model = cls(**estimator.get_params(deep=False))
    _copy_fitted(estimator, model)
    return model


def _copy_fitted(src, dst):
    # scikit-learn's convention: fitted attributes end in "_" and are public;
    # a class lists the private ones its predictions need (kNN: _fit_X, _y).
    private = getattr(src, "_oxlearn_private_fitted", ()) or getattr(
        dst, "_oxlearn_private_fitted", ())
    for name, value in vars(src).items():
        if (name.endswith("_") and not name.startswith("_")) or name in private:
            setattr(dst, name, value)
    if hasattr(dst, "_oxlearn_after_convert"):
        dst._oxlearn_after_convert()
    elif hasattr(src, "_oxlearn_to_stock"):
        src._oxlearn_to_stock(dst)


def to_sklearn(model):
    """Return the stock scikit-learn equivalent of a fitted oxlearn model.

    Parameters
    ----------
    model : oxlearn estimator
        A fitted oxlearn model.

    Returns
    -------
    estimator : scikit-learn estimator
        An instance of the scikit-learn class (for incremental models, the
        one-shot counterpart) with the same parameters and fitted attributes;
        it pickles and predicts without oxlearn installed.
    """
    check_is_fitted(model)
    model._verify_pending()
    stock = model._sklearn_counterpart()
    valid = stock().get_params(deep=False)
    params = {k: v for k, v in model.get_params(deep=False).items() if k in valid}
    est = stock(**params)
    _copy_fitted(model, est)
    for name in ("n_samples_seen_", "batch_size_"):
        est.__dict__.pop(name, None)
    return est


def save(model, path):
    """Save a fitted (or unfitted) model to ``path`` as an oxlearn model file.

    The file is deterministic (the same model saves to identical bytes),
    checksummed, and loads without executing code, from Python
    (:func:`load`) or from the ``oxlearn`` binary. It holds the parameters
    and the fitted model; attributes set on the estimator otherwise are not
    saved (a ``UserWarning`` names public ones; pickle keeps them).

    Parameters
    ----------
    model : oxlearn estimator, supported scikit-learn estimator, or pipeline
        Stock scikit-learn estimators are converted with :func:`from_sklearn`.
        A scikit-learn ``Pipeline`` or ``ColumnTransformer`` of supported
        transformers (``StandardScaler``, ``MinMaxScaler``, ``RobustScaler``,
        ``MaxAbsScaler``, ``Normalizer``, ``OneHotEncoder``,
        ``OrdinalEncoder``, ``SimpleImputer``, ``PolynomialFeatures``,
        ``VarianceThreshold``, ``SelectKBest``, PCA), ending in any estimator
        this function accepts, is saved whole, as are those transformers
        (and ``LabelEncoder``) on their own; see
        ``docs/saving-and-serving.md``, "Pipelines".
    path : str or os.PathLike
        Destination. Written atomically: the bytes go to a new temporary
        file ``<name>.<random>.oxl-partial`` in the same directory, which is
        synced and renamed over ``path``; readers see the old file or the
        complete new one. A crash mid-save may leave that temporary file
        behind (delete it); it never leaves a broken file at ``path``.

    Raises
    ------
    TypeError
        A parameter the file cannot represent (a callable, an estimator, a
        ``RandomState``), or a pipeline step it cannot hold; the message
        names it and its path (``pipeline.steps[1].transformers[0]``).
    ValueError
        The model is not savable as it is (a parameter out of range, an
        incompletely fitted model).
    OSError
        The file cannot be written (its ``errno`` says why, e.g. ``ENOSPC``).
    """
    if _composite.handles(model):
        # A stock Pipeline, ColumnTransformer or preprocessing transformer.
        header, arrays = _composite.seal(model)
        _core.write_model_file(os.fspath(path), header, arrays)
        return
    export = getattr(model, "_oxlearn_export", None)
    if export is not None:
        model = export()  # an oxlearn.spmd model saves as its ordinary class
    if not hasattr(model, "_oxlearn_kind"):
        model = from_sklearn(model)
    _persistence.validate_params(model)
    header, arrays, extras = _persistence.seal(model, file_layout=True, strict=True)
    public = sorted(k for k in extras.get("attrs", {})
                    if not k.startswith("_")
                    and k not in _persistence._init_attributes(type(model)))
    if public:
        warnings.warn(
            f"{type(model).__name__}: attributes {public} are not part of the model and are "
            "not saved in the model file; pickle or joblib keep them",
            UserWarning, stacklevel=2,
        )
    _core.write_model_file(os.fspath(path), header, arrays)


def load(path, *, mmap=False, device=None):
    """Load a model saved by :func:`save`.

    Every load verifies the header checksum, the compatibility rules (see the
    docs) and the structure against the kind's schema, and builds only
    oxlearn's own estimator classes.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    mmap : bool or "copy-on-verify", default=False
        ``True`` maps the arrays read-only instead of reading them: loading
        then costs the same whatever the model's size, and the data is read
        only when used. The arrays' checksums and element-wise structure are
        verified once, before the model's first use of any fitted attribute
        (computation, attribute access, refit or pickling); a failure is
        raised at that use and every later one. The model keeps using the
        mapped file: do not truncate or rewrite it in place while the model
        is in use (the process may get SIGBUS, or see the new bytes); replace
        it by renaming a new file over it, as :func:`save` does.
        ``"copy-on-verify"`` loads as lazily but, at that first use, copies
        the arrays into memory and verifies the copies: the model no longer
        depends on the file. An array API model that goes to a device is
        verified and copied there at load.
    device : str or None, default=None
        For a model saved with array API attributes (fitted under
        ``array_api_dispatch=True``): ``None`` puts them back in the
        namespace and on the device they were saved from (both are in the
        header); ``"cpu"`` gives a host model with numpy attributes, which
        needs neither; another name (``"cuda:1"``) picks that device of the
        same namespace. Host models ignore it.

    Returns
    -------
    model : oxlearn estimator, or scikit-learn pipeline or transformer
        Pipelines and transformers come back as the stock scikit-learn
        objects that were saved (their estimators as oxlearn's). A
        composite model's arrays are verified at load even with ``mmap``.

    Raises
    ------
    oxlearn.exceptions.ModelFileCorruptError
        The file is damaged, truncated or was tampered with.
    oxlearn.exceptions.IncompatibleModelError
        The file is intact but this oxlearn cannot load it.
    ImportError, RuntimeError
        An array API model whose namespace cannot be imported, or whose
        device this machine lacks; the message names ``device="cpu"``.
    """
    if not (device is None or isinstance(device, str)):
        raise ValueError(f"device={device!r} is not valid; use None, 'cpu' or a device name")
    if not (isinstance(mmap, (bool, np.bool_)) or mmap == "copy-on-verify"):
        raise ValueError(f"mmap={mmap!r} is not valid; use False, True or 'copy-on-verify'")
    path = os.fspath(path)
    if os.path.getsize(path) == 0:
        raise ModelFileCorruptError(
            f"{path} is empty (0 bytes); it is not an oxlearn model file, or it was truncated"
        )
    lazy = mmap == "copy-on-verify" or bool(mmap)
    buf = np.memmap(path, dtype=np.uint8, mode="r") if lazy else np.fromfile(path, np.uint8)
    header_json, spans, found = _core.open_model_file(
        buf, _persistence.runtime_versions(), lazy
    )
    header = json.loads(header_json)
    arrays = {}
    for entry, (name, start, end) in zip(header["arrays"], spans, strict=True):
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        arrays[name] = buf[start:end].view(dtype).reshape(entry["shape"])
    if _composite.handles_kind(header["kind"]):
        if lazy:
            # A composite's parts cannot each verify a share of one
            # checksum later: verify now (the arrays stay mapped).
            _core.verify_array_digests(header_json, arrays)
        if mmap == "copy-on-verify":
            arrays = {k: np.array(v) for k, v in arrays.items()}
        cls = _composite.stock_classes().get(header["kind"], object)
        _persistence._report(cls.__new__(cls), header, found)
        try:
            return _composite.build(header, header, arrays)
        except ModelFileCorruptError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            # The schemas accepted the file, yet scikit-learn refuses the
            # values: a forged file (or a bug), never a model to serve.
            raise ModelFileCorruptError(
                f"{path}: the {header['kind']} cannot be rebuilt from its file ({e}); the "
                "model data is corrupt"
            ) from e
    cls = _registry()[header["kind"]]  # Rust refused unknown kinds already
    model = cls.__new__(cls)
    _persistence._report(model, header, found)
    _persistence.apply(model, header, arrays,
                       lazy=(header_json, mmap == "copy-on-verify") if lazy else None,
                       device=device)
    return model
