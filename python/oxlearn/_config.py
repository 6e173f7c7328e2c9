"""Configuration: scikit-learn's options plus oxlearn's, thread-local.

Configuration is a property of the running process, never of a model: it is
never saved with one.
"""

import re
import threading
from contextlib import contextmanager

import sklearn

_DEFAULTS = {
    # Where computations run: "auto", "cpu", "gpu", "gpu:<n>", "cuda" or "cuda:<n>".
    "target_offload": "auto",
    # Whether a computation asked to run on a device may run on the host instead.
    "allow_fallback_to_host": False,
    # Whether persistence warnings (version mismatches on load) become errors.
    "strict_persistence": False,
    # Where unpickled array API models put their arrays: None where they were
    # saved from, "cpu" on the host (numpy), else that device's name.
    "load_device": None,
}
_global_config = dict(_DEFAULTS)
_threadlocal = threading.local()
_OFFLOAD = re.compile(r"^(auto|cpu|(gpu|cuda)(:\d+)?)$")


def _local():
    if not hasattr(_threadlocal, "config"):
        _threadlocal.config = dict(_global_config)
    return _threadlocal.config


def oxlearn_config():
    """Return oxlearn's own options only (cheap: no copy of scikit-learn's)."""
    return _local()


def get_config():
    """Return the current configuration: scikit-learn's options and oxlearn's.

    Returns
    -------
    config : dict
        Keys of :func:`sklearn.get_config` plus ``target_offload``,
        ``allow_fallback_to_host``, ``strict_persistence`` and
        ``load_device``.
    """
    return {**sklearn.get_config(), **_local()}


_UNSET = object()


def set_config(
    target_offload=None, allow_fallback_to_host=None, strict_persistence=None,
    load_device=_UNSET, **sklearn_configs
):
    """Set oxlearn and scikit-learn configuration for the current thread.

    Parameters
    ----------
    target_offload : str, default=None
        ``"auto"``, ``"cpu"``, ``"gpu"``, ``"gpu:<n>"``, ``"cuda"`` or
        ``"cuda:<n>"``. With a GPU, estimators that have a GPU path fit there
        (see ``docs/gpu.md``); without one, or for an estimator without a GPU
        path, they raise unless ``allow_fallback_to_host=True``.
    allow_fallback_to_host : bool, default=None
        Let a computation that was asked to run on a device run on the CPU.
    strict_persistence : bool, default=None
        Turn every version-mismatch warning raised when loading a model into
        an :class:`~oxlearn.exceptions.IncompatibleModelError`.
    load_device : str or None
        Where unpickled array API models put their arrays: ``None`` (the
        default) on the namespace and device they were saved from, ``"cpu"``
        as a host (numpy) model, or another device of their namespace by
        name (``"cuda:1"``). :func:`oxlearn.load` takes the same as
        ``device=``.
    **sklearn_configs
        Passed to :func:`sklearn.set_config` (``assume_finite``,
        ``transform_output``, ...).
    """
    updates = {}
    if target_offload is not None:
        if not (isinstance(target_offload, str) and _OFFLOAD.match(target_offload)):
            raise ValueError(
                f"target_offload={target_offload!r} is not valid; use 'auto', 'cpu', 'gpu', "
                "'gpu:<n>', 'cuda' or 'cuda:<n>'"
            )
        updates["target_offload"] = target_offload
    for name, value in (
        ("allow_fallback_to_host", allow_fallback_to_host),
        ("strict_persistence", strict_persistence),
    ):
        if value is not None:
            if not isinstance(value, bool):
                raise ValueError(f"{name}={value!r} is not valid; use True or False")
            updates[name] = value
    if load_device is not _UNSET:
        if not (load_device is None or isinstance(load_device, str)):
            raise ValueError(
                f"load_device={load_device!r} is not valid; use None, 'cpu' or a device name"
            )
        updates["load_device"] = load_device
    sklearn.set_config(**sklearn_configs)
    _local().update(updates)


@contextmanager
def config_context(**new_config):
    """Temporarily change the configuration (oxlearn's and scikit-learn's).

    Parameters
    ----------
    **new_config
        Any keyword accepted by :func:`set_config`.

    Examples
    --------
    >>> import oxlearn
    >>> with oxlearn.config_context(strict_persistence=True):
    ...     oxlearn.get_config()["strict_persistence"]
    True
    """
    old = get_config()
    set_config(**new_config)
    try:
        yield
    finally:
        set_config(**old)
