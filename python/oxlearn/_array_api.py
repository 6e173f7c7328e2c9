"""Array API dispatch: inputs of any array API namespace, computed in Rust on host copies.

With ``array_api_dispatch=True`` (scikit-learn's configuration), an oxlearn
estimator accepts arrays of any array API namespace (torch, CuPy,
array-api-strict, ...) on any device. Its methods copy them to host numpy
arrays (DLPack, or the library's own conversion), run oxlearn's Rust code,
and return outputs, and set fitted array attributes, in the namespace and
on the device of ``X`` ("everything follows X", scikit-learn's rule:
``y`` and ``sample_weight`` may come from another namespace). A model whose
attributes live in a namespace predicts only on inputs of that namespace
and device, as scikit-learn's array API estimators do. Without dispatch
nothing here runs beyond one configuration lookup.

Persistence keeps the namespace and device: the canonical form holds host
copies of the arrays, and the header names the namespace and device that
:func:`restore` moves them back to (or not: ``device="cpu"``).
"""

import contextlib
import functools
import importlib
import inspect

import numpy as np

from oxlearn._sklearn_private import (
    _AvailableIfDescriptor,
    _get_threadlocal_config,
    _max_precision_float_dtype,
    array_api_compat,
    move_to,
)

# Public methods that take or return arrays. Those starting with "fit" and
# partial_fit change the model: its attributes follow X's namespace after.
METHODS = (
    "fit", "partial_fit", "fit_transform", "fit_predict", "predict", "predict_proba",
    "predict_log_proba", "decision_function", "transform", "inverse_transform",
    "score_samples", "score", "kneighbors", "radius_neighbors", "kneighbors_graph",
    "radius_neighbors_graph", "mahalanobis", "error_norm", "get_precision",
)



@contextlib.contextmanager
def _host_call():
    """Dispatch off while a dispatched call runs on its host copies.

    Everything inside sees numpy arrays: scikit-learn's code then takes its
    plain numpy paths, and the methods it calls in turn (``fit_transform``
    calling ``fit`` and ``transform``) pass through. The thread's
    configuration is changed in place: ``config_context`` costs more than a
    10-row predict.
    """
    config = _get_threadlocal_config()
    config["array_api_dispatch"] = False
    try:
        yield
    finally:
        config["array_api_dispatch"] = True

# Prefixes of array_api_compat's wrapper namespaces: a model records the
# library ("torch"), not the wrapper module that scikit-learn vendors.
_COMPAT_PREFIXES = ("sklearn.externals.array_api_compat.", "array_api_compat.")


def dispatch_enabled():
    """Whether ``array_api_dispatch`` is on (scikit-learn's configuration).

    Read without the copy ``sklearn.get_config()`` makes: every call of
    every estimator method asks.
    """
    return _get_threadlocal_config()["array_api_dispatch"]


# type -> whether its instances are foreign arrays: array_api_compat's test
# tries a dozen libraries, and predict asks it of every attribute.
_FOREIGN_TYPES = {}


def is_foreign(value):
    """Whether ``value`` is an array of a namespace other than numpy."""
    t = type(value)
    known = _FOREIGN_TYPES.get(t)
    if known is None:
        known = _FOREIGN_TYPES[t] = (
            not issubclass(t, (np.ndarray, np.generic))
            and array_api_compat.is_array_api_obj(value)
        )
    return known


def namespace_name(xp):
    """The importable name of namespace ``xp``'s library (``torch``, ``array_api_strict``)."""
    name = xp.__name__
    for prefix in _COMPAT_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


# type -> its array namespace: array_api_compat's lookup costs ~10 µs a
# call, and a 10-row predict asks for the input's and the model's.
_NAMESPACES = {}


def placement(value):
    """``(xp, device)`` of a foreign array."""
    t = type(value)
    xp = _NAMESPACES.get(t)
    if xp is None:
        xp = _NAMESPACES[t] = array_api_compat.array_namespace(value)
    return xp, array_api_compat.device(value)


def model_placement(est):
    """``(xp, device)`` of a model's array attributes, or ``None`` for a host model.

    Read from the attributes themselves (not a marker that could go stale
    when attributes are replaced, e.g. by ``move_estimator_to``).
    """
    cls = type(est)
    for name, value in vars(est).items():
        if is_foreign(value) and _persisted(cls, name):
            return placement(value)
    return None


@functools.cache
def _param_names(cls):
    return frozenset(cls._get_param_names())


def _persisted(cls, name):
    """Whether attribute ``name`` is fitted state that follows the namespace.

    Parameters stay as the user set them; ``_oxl_*`` caches are host objects.
    """
    return not (name.startswith("_oxl_") or name in _param_names(cls))


def to_host(value):
    """A foreign array as a numpy array on the host; anything else unchanged.

    Arrays in host memory (torch CPU, array-api-strict) are viewed through
    DLPack without a copy; others (CUDA) are copied by scikit-learn's
    ``move_to``.
    """
    if not is_foreign(value):
        return value
    try:
        return np.from_dlpack(value)
    except (AttributeError, BufferError, RuntimeError, TypeError, ValueError):
        return move_to(value, xp=np, device="cpu")


def _float64_ok(xp, device):
    key = (xp, device)
    try:
        return _FLOAT64[key]
    except KeyError:
        ok = _FLOAT64[key] = _max_precision_float_dtype(xp, device) == xp.float64
        return ok
    except TypeError:  # an unhashable device object
        return _max_precision_float_dtype(xp, device) == xp.float64


_FLOAT64 = {}


def to_namespace(value, xp, device):
    """A numeric numpy array moved to ``xp`` on ``device``; anything else unchanged.

    String and object arrays (class labels) stay numpy arrays, as scikit-learn
    allows for ``classes_``. float64 becomes float32 on devices without
    float64 (as scikit-learn's ``move_to`` does).
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        if value.dtype == np.float64 and not _float64_ok(xp, device):
            value = value.astype(np.float32)
        return xp.asarray(value, device=device)
    return value


def attributes_to_host(est):
    """Move ``est``'s fitted array attributes to the host, in place."""
    d = est.__dict__
    for name, value in list(d.items()):
        if _persisted(type(est), name) and is_foreign(value):
            d[name] = to_host(value)


def attributes_to_namespace(est, xp, device):
    """Move ``est``'s fitted numeric array attributes to ``xp`` on ``device``, in place."""
    d = est.__dict__
    for name, value in list(d.items()):
        if _persisted(type(est), name):
            d[name] = to_namespace(value, xp, device)


_HOST_CACHE = "_oxl_host_cache"


def _attribute_to_host(est, name, value):
    """``to_host`` of a model attribute, cached while a torch tensor is unchanged.

    Copying a CUDA model's attributes to the host at every predict costs a
    synchronised transfer each. A torch tensor counts its in-place changes
    (``_version``), so a cached copy is reused only while the attribute is
    the same tensor at the same version; other libraries' arrays are copied
    each time (host-memory arrays are views, which cost nothing).
    """
    version = getattr(value, "_version", None)
    if not isinstance(version, int):
        return to_host(value)
    cache = est.__dict__.get(_HOST_CACHE)
    if cache is None:
        cache = est.__dict__[_HOST_CACHE] = {}
    hit = cache.get(name)
    if hit is not None and hit[0] is value and hit[1] == version:
        return hit[2]
    host = to_host(value)
    cache[name] = (value, version, host)
    return host


def _host_view(est):
    """``(attributes with host arrays, the model's placement or None)``, in one pass."""
    cls = type(est)
    view, model = {}, None
    for k, v in list(vars(est).items()):
        if is_foreign(v) and _persisted(cls, k):
            if model is None:
                model = placement(v)
            v = _attribute_to_host(est, k, v)
        view[k] = v
    return view, model


def _twin(est, view):
    cls = type(est)
    twin = cls.__new__(cls)
    twin.__dict__.update(view)
    return twin


def host_twin(est):
    """A shallow copy of a model whose array attributes are host arrays.

    Predictions run on it; the model itself is not touched, so concurrent
    calls and the user's attributes are safe.
    """
    return _twin(est, _host_view(est)[0])


def _mismatch(est, method, model, X):
    fitted = "numpy" if model is None else f"{namespace_name(model[0])} on {model[1]}"
    given = "numpy" if X is None else f"{namespace_name(X[0])} on {X[1]}"
    return ValueError(
        f"Inputs passed to {type(est).__name__}.{method}() must use the same namespace and "
        f"the same device as those passed to fit(): the model's arrays are {fitted}, the "
        f"input is {given}. Convert the input, or move the model with "
        "sklearn.utils._array_api.move_estimator_to(model, xp, device) "
        "(or model.to_numpy() for a host model)."
    )


def _same(a, b):
    return a[0] is b[0] and a[1] == b[1]


class _Plan:
    """One dispatched call: host arguments, the object that runs, and the way back."""

    __slots__ = ("est", "subject", "args", "kwargs", "target", "before")

    def __init__(self, est, name, args, kwargs):
        X = args[0] if args else kwargs.get("X")
        fit_like = name.startswith("fit") or name == "partial_fit"
        view, model = (None, model_placement(est)) if fit_like else _host_view(est)
        if is_foreign(X):
            target = placement(X)
        elif X is None and not fit_like:
            target = model  # kneighbors(X=None), get_precision(): the model's own
        else:
            target = None  # numpy, lists, sparse, data frames: numpy
        if not fit_like and (
            (model is None) != (target is None)
            or (model is not None and target is not None and not _same(model, target))
        ):
            raise _mismatch(est, name, model, target)
        self.est, self.target, self.before = est, target, None
        self.args = [to_host(v) for v in args]
        self.kwargs = {k: to_host(v) for k, v in kwargs.items()}
        if fit_like:
            est.__dict__.pop(_HOST_CACHE, None)
            self.before = dict(est.__dict__)
            attributes_to_host(est)  # partial_fit, warm_start: resume from host copies
            self.subject = est
        else:
            self.subject = _twin(est, view)

    def undo(self):
        """A failed fit leaves the model as it was."""
        if self.before is not None:
            self.est.__dict__.clear()
            self.est.__dict__.update(self.before)

    def finish(self, out):
        """The result in X's namespace; a fitted model's attributes there too."""
        if self.before is not None and self.target is not None:
            attributes_to_namespace(self.est, *self.target)
        if self.before is None:
            # Caches the call built on the host copy (a kNN index, ...) are
            # the model's: built from the same values, kept for its next call.
            d = self.est.__dict__
            for k, v in self.subject.__dict__.items():
                if k.startswith("_oxl_") and k != _HOST_CACHE and d.get(k) is not v:
                    d[k] = v
        if out is self.subject:
            return self.est
        if self.target is None:
            return out
        if isinstance(out, tuple):
            return tuple(to_namespace(v, *self.target) for v in out)
        return to_namespace(out, *self.target)


def _needs_dispatch(est, args, kwargs):
    if not dispatch_enabled():
        return False
    est._verify_pending()
    return (any(is_foreign(v) for v in (*args, *kwargs.values()))
            or model_placement(est) is not None)


def dispatching(method, name):
    """Wrap estimator method ``method`` (named ``name``) for array API dispatch.

    The wrapper calls ``method`` itself, one frame above the caller, so that
    warnings keep pointing at the caller's line with or without dispatch.
    """
    if getattr(method, "_oxl_array_api", False):
        return method

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not _needs_dispatch(self, args, kwargs):
            return method(self, *args, **kwargs)
        plan = _Plan(self, name, args, kwargs)
        try:
            with _host_call():
                out = method(plan.subject, *plan.args, **plan.kwargs)
        except BaseException:
            plan.undo()
            raise
        return plan.finish(out)

    wrapper._oxl_array_api = True
    return wrapper


def install(cls):
    """Wrap the array methods ``cls`` has (its own or inherited) for dispatch.

    Methods that scikit-learn makes conditional (``available_if``: e.g.
    ``predict`` of a ``LocalOutlierFactor`` only with ``novelty=True``) stay
    conditional.
    """
    for name in METHODS:
        try:
            raw = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if isinstance(raw, _AvailableIfDescriptor):
            if not getattr(raw.fn, "_oxl_array_api", False):
                setattr(cls, name, _AvailableIfDescriptor(
                    dispatching(raw.fn, name), raw.check, raw.attribute_name))
        elif inspect.isfunction(raw):
            setattr(cls, name, dispatching(raw, name))


def dispatch_function(func):
    """Wrap a function of arrays (``pairwise_distances``) for dispatch, like methods."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not dispatch_enabled():
            return func(*args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        if not any(is_foreign(v) for v in (*args, *kwargs.values())):
            return func(*args, **kwargs)
        target = placement(X) if is_foreign(X) else None
        with _host_call():
            out = func(*[to_host(v) for v in args], **{k: to_host(v) for k, v in kwargs.items()})
        return out if target is None else to_namespace(out, *target)

    return wrapper


# --- persistence ------------------------------------------------------------

def saved_placement(est):
    """``(namespace name, device name)`` to record for ``est``; ``(None, "cpu")`` for host."""
    model = model_placement(est)
    if model is None:
        return None, "cpu"
    return namespace_name(model[0]), str(model[1])


def _resolve(namespace, device_name):
    """The namespace and device a model file names, or an error saying what is missing."""
    way_out = (
        "load it as a host (numpy) model with oxlearn.load(path, device='cpu') or, for a "
        "pickle, inside oxlearn.config_context(load_device='cpu'); then model.to_numpy() "
        "is not needed"
    )
    try:
        module = importlib.import_module(namespace)
        xp = array_api_compat.array_namespace(module.asarray(0.0))
    except Exception as e:  # noqa: BLE001 - any failure means the same to the user
        raise ImportError(
            f"this model's arrays live in the array namespace {namespace!r}, which cannot be "
            f"imported here ({type(e).__name__}: {e}); install it, or {way_out}"
        ) from e
    if device_name is None:
        return xp, None
    devices = xp.__array_namespace_info__().devices()
    for d in devices:
        if str(d) == device_name:
            return xp, d
    raise RuntimeError(
        f"this model's arrays live on {namespace} device {device_name!r}, which this machine "
        f"does not have (it has {[str(d) for d in devices]}); load it on another device with "
        f"oxlearn.load(path, device=...) (a name from that list), or {way_out}"
    )


def restore(est, namespace, device_name, override=None):
    """Move a loaded model's host arrays to where they were saved from.

    Parameters
    ----------
    est : oxlearn estimator
        Just loaded, with host arrays.
    namespace : str or None
        The header's ``array_namespace``; ``None`` for a host model.
    device_name : str
        The header's ``device``.
    override : str or None
        ``"cpu"`` keeps a host (numpy) model; another device name moves the
        arrays to that device of ``namespace``; ``None`` restores the
        recorded device.
    """
    if namespace is None or override == "cpu":
        return
    xp, device = _resolve(namespace, override if override is not None else device_name)
    attributes_to_namespace(est, xp, device)
