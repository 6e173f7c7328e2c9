"""Swapping oxlearn's estimators into ``sklearn.*`` (as ``sklearnex.patch_sklearn`` does)."""

import importlib
import logging
import sys

from oxlearn._logging import logger, set_verbose


def _estimators():
    """``{name: (oxlearn module, sklearn modules)}`` of the patchable estimators.

    Every oxlearn kind of the Rust registry whose class stands in for a
    scikit-learn class of the same name (``_sklearn_twin``): kind
    ``<module>.<class>`` is patched into ``sklearn.<module>`` and the private
    module defining the stock class (``sklearn.linear_model._base``).
    """
    from oxlearn._io import _registry

    table = {}
    for kind, cls in _registry().items():
        stock = cls._sklearn_twin()
        if stock is not None:
            module = kind.rsplit(".", 1)[0]
            table[cls.__name__] = (f"oxlearn.{module}", (f"sklearn.{module}", stock.__module__))
    return table


# name -> (oxlearn module, sklearn modules that expose the class). The class
# is replaced there and in every other loaded ``sklearn.*`` module that
# imported it, so scikit-learn's own internal uses (e.g. RANSACRegressor's
# default estimator) are accelerated too. Functions are not model kinds:
# they are listed by hand.
_PATCHABLE = {
    **_estimators(),
    "pairwise_distances": ("oxlearn.metrics", ("sklearn.metrics", "sklearn.metrics.pairwise")),
    "roc_auc_score": ("oxlearn.metrics", ("sklearn.metrics", "sklearn.metrics._ranking")),
    "train_test_split": ("oxlearn.model_selection", ("sklearn.model_selection",
                                                     "sklearn.model_selection._split")),
}

_originals = {}  # (sklearn module, name) -> original class


def get_patch_names():
    """Return the names of the scikit-learn estimators oxlearn can patch.

    Returns
    -------
    names : list of str
    """
    return sorted(_PATCHABLE)


def _names(name):
    if name is None:
        return get_patch_names()
    names = [name] if isinstance(name, str) else list(name)
    unknown = sorted(set(names) - set(_PATCHABLE))
    if unknown:
        raise ValueError(f"cannot patch {unknown}; patchable names: {get_patch_names()}")
    return names


def patch_sklearn(name=None, verbose=False):
    """Replace scikit-learn estimators with oxlearn's accelerated ones.

    Parameters
    ----------
    name : str or list of str, default=None
        Estimators to patch (see :func:`get_patch_names`); ``None`` patches all.
    verbose : bool, default=False
        Log each accelerated call and each fallback (like ``OXLEARN_VERBOSE=INFO``).
    """
    if verbose:
        set_verbose(logging.INFO)
    for n in _names(name):
        ox_module, sk_modules = _PATCHABLE[n]
        cls = getattr(importlib.import_module(ox_module), n)
        for sk_module in sk_modules:
            importlib.import_module(sk_module)
        original = _originals.get((sk_modules[0], n), getattr(sys.modules[sk_modules[0]], n))
        for mod_name, mod in list(sys.modules.items()):
            if (mod_name == "sklearn" or mod_name.startswith("sklearn.")) and (
                getattr(mod, n, None) is original
            ):
                _originals[(mod_name, n)] = original
                setattr(mod, n, cls)
    logger.info("scikit-learn patched with oxlearn: %s", ", ".join(_names(name)))


def unpatch_sklearn(name=None):
    """Restore scikit-learn's original estimators.

    Parameters
    ----------
    name : str or list of str, default=None
        Estimators to restore; ``None`` restores all.
    """
    for n in _names(name):
        for key in [k for k in _originals if k[1] == n]:
            setattr(sys.modules[key[0]], n, _originals.pop(key))


def sklearn_is_patched(name=None, return_map=False):
    """Tell whether scikit-learn is patched.

    Parameters
    ----------
    name : str or list of str, default=None
        Estimators to ask about; ``None`` asks about all (all must be patched).
    return_map : bool, default=False
        Return ``{name: bool}`` instead of one bool.

    Returns
    -------
    patched : bool or dict
    """
    status = {
        n: all((m, n) in _originals for m in _PATCHABLE[n][1]) for n in _names(name)
    }
    return status if return_map else all(status.values())
