"""Unaligned numpy arrays never reach Rust.

An array that views a buffer at an odd offset (``np.frombuffer(b, offset=1)``)
is not aligned for its dtype, and a Rust slice or view of it is undefined
behaviour. :func:`install` wraps every function of ``oxlearn._core`` (and
every method of the objects they return, e.g. a kNN index) so that such
arguments, also inside dicts, lists and tuples, are replaced by aligned
copies first. Aligned arrays pass through untouched: no copy, no extra pass
over the data (numpy's ``ALIGNED`` flag is read, nothing else). The bindings
refuse an unaligned ``X`` as a backstop.
"""

import functools

import numpy as np


class _Aligning:
    """A Rust object whose methods get aligned arguments."""

    __slots__ = ("_target",)

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        value = getattr(self._target, name)
        return _wrap(value) if callable(value) else value


def _aligned(value):
    """``value`` with every unaligned array in it copied (same object if none)."""
    if isinstance(value, np.ndarray):
        return value if value.flags.aligned else np.array(value, order="K", copy=True)
    if isinstance(value, _Aligning):
        return value._target
    if isinstance(value, dict):
        new = {k: _aligned(v) for k, v in value.items()}
        return value if all(new[k] is v for k, v in value.items()) else new
    if isinstance(value, (list, tuple)):
        new = [_aligned(v) for v in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        return type(value)(new)
    return value


def _result(value):
    # Objects defined by the extension (indexes) get aligning methods; the
    # arrays, numbers and containers it returns are left as they are.
    if type(value).__module__ == "oxlearn._core" and not isinstance(value, type):
        return _Aligning(value)
    return value


def _wrap(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        args = [_aligned(a) for a in args]
        kwargs = {k: _aligned(v) for k, v in kwargs.items()}
        return _result(fn(*args, **kwargs))

    call._oxlearn_aligned = True
    return call


def install(module):
    """Wrap the functions of the extension module ``module`` in place (once)."""
    for name, value in list(vars(module).items()):
        if (
            callable(value)
            and not isinstance(value, type)
            and not name.startswith("__")
            and not getattr(value, "_oxlearn_aligned", False)
        ):
            setattr(module, name, _wrap(value))


from oxlearn import _core  # noqa: E402  (the module this one guards)

install(_core)
