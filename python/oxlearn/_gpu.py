"""GPU offload policy: which device a call runs on under ``target_offload``.

``target_offload`` is ``"gpu"``, ``"gpu:N"``, ``"cuda"`` or ``"cuda:N"`` to ask
for GPU ``N`` (0 by default). Estimators with a GPU path (their
``_oxlearn_gpu_methods``) run those methods on the GPU, with the heavy
products and reductions in ``oxlearn-core``'s ``gpu`` module and the small
solves on the CPU; fitted attributes are numpy arrays, so a GPU-fitted model
is an ordinary host model. Their other methods (``predict``, ``transform``)
run on the CPU. Without a usable GPU, or for a parameter without a GPU path,
a :class:`~oxlearn.exceptions.GpuUnavailableError` says why, unless
``allow_fallback_to_host=True``: then the CPU runs and the reason is logged.
Methods of estimators with no GPU path at all raise ``NotImplementedError``
(or run on the host with ``allow_fallback_to_host=True``).
"""

import re

from oxlearn import _core
from oxlearn._config import oxlearn_config
from oxlearn._logging import logger

_GPU = re.compile(r"^(?:gpu|cuda)(?::(\d+))?$")


def requested():
    """Return the GPU ordinal ``target_offload`` asks for, or None for the host."""
    offload = oxlearn_config()["target_offload"]
    m = _GPU.match(offload)
    if m is None:
        return None
    return int(m.group(1) or 0)


def gpu_info(device=0):
    """Describe GPU ``device`` (opened once per process).

    Parameters
    ----------
    device : int, default=0
        CUDA device ordinal.

    Returns
    -------
    info : dict
        ``name``, ``total_memory``, ``free_memory`` (bytes),
        ``compute_capability``, ``driver_cuda_version`` (e.g. 13000),
        ``bindings_cuda_version`` and ``device_count``.

    Raises
    ------
    GpuUnavailableError
        When the CUDA driver, cuBLAS or NVRTC cannot be loaded or there is no
        such device; the message says which.
    """
    return _core.gpu_info(device)


def _refuse(what, reason):
    """Raise, or log and return None (the host) under ``allow_fallback_to_host``."""
    from oxlearn.exceptions import GpuUnavailableError

    offload = oxlearn_config()["target_offload"]
    if not oxlearn_config()["allow_fallback_to_host"]:
        raise GpuUnavailableError(
            f"{what}: target_offload={offload!r}: {reason}; use target_offload='cpu' or "
            "set allow_fallback_to_host=True to run on the CPU"
        )
    logger.info("%s: running on host (allow_fallback_to_host): %s", what, reason)


def resolve(what, gpu_path, host_ok):
    """Apply ``target_offload`` to the call named ``what``.

    Parameters
    ----------
    what : str
        ``"Estimator.method"``, for messages.
    gpu_path : bool
        Whether this call has a GPU implementation.
    host_ok : bool
        Whether this call runs on the host by design when a GPU is asked for
        (``predict`` of an estimator whose ``fit`` has a GPU path).

    Returns
    -------
    device : int or None
        The GPU ordinal to run on, or None for the CPU.
    """
    device = requested()
    if device is None:
        return None
    if not gpu_path:
        if host_ok:
            logger.debug("%s: runs on the CPU (the GPU path is fit's)", what)
            return None
        offload = oxlearn_config()["target_offload"]
        if not oxlearn_config()["allow_fallback_to_host"]:
            raise NotImplementedError(
                f"{what}: GPU offload (target_offload={offload!r}) is not implemented for "
                "it; use target_offload='cpu' or set allow_fallback_to_host=True to run it on "
                "the CPU"
            )
        logger.info("%s: no GPU implementation, running on host (allow_fallback_to_host)", what)
        return None
    from oxlearn.exceptions import GpuUnavailableError

    try:
        _core.gpu_info(device)
    except GpuUnavailableError as e:
        return _refuse(what, str(e))
    return device


def no_gpu_path(what, reason):
    """A GPU was asked for but these parameters/data have none: raise, or log.

    Called where an estimator with a GPU path falls back to scikit-learn or
    to its CPU code for ``reason``.
    """
    if requested() is not None:
        _refuse(what, f"no GPU path for {reason}")
