"""Exceptions and warnings raised by oxlearn.

``ModelFileCorruptError`` and ``IncompatibleModelError`` are raised from Rust
(``oxlearn-format``) and re-exported here; both are ``ValueError`` subclasses.
``GpuUnavailableError`` (a ``RuntimeError``) says why ``target_offload="gpu"``
cannot run on a GPU.
"""

from oxlearn._core import GpuUnavailableError, IncompatibleModelError, ModelFileCorruptError

__all__ = [
    "EnvironmentMismatchWarning",
    "GpuUnavailableError",
    "IncompatibleModelError",
    "ModelFileCorruptError",
    "OxlearnVersionWarning",
]


class OxlearnVersionWarning(UserWarning):
    """A model saved by another oxlearn version was loaded.

    The message names both versions and what to do. With
    ``oxlearn.set_config(strict_persistence=True)`` this becomes an
    :class:`IncompatibleModelError`.
    """


class EnvironmentMismatchWarning(UserWarning):
    """A model was loaded under a Python or numpy version that differs from the writer's.

    Raised for a newer writer Python minor version and for another numpy major
    version (see the compatibility table in the docs).
    """
