"""What every SPMD estimator shares: the ``comm`` parameter and persistence.

An SPMD estimator subclasses the ordinary oxlearn estimator of the same
name and adds one parameter, ``comm``. Once fitted, its model is the same
on every rank and *is* the ordinary model: pickling it (or
``oxlearn.save``) writes the ordinary class, which loads and predicts in a
plain process without mpi4py, and is served by the ``oxlearn`` binary.
"""

import copyreg
import inspect

from oxlearn.spmd._comm import Shards, get_comm

# Numpydoc entries the collective methods share (see ``collective_doc``).
X_ROWS = """X : array-like of shape (n_local_samples, n_features)
    This rank's rows (possibly none)."""
Y_IGNORED = """y : Ignored
    Not used."""
Y_TARGETS = """y : array-like of shape (n_local_samples,) or (n_local_samples, n_targets)
    Their targets."""
SAMPLE_WEIGHT = """sample_weight : array-like of shape (n_local_samples,), default=None
    Their weights."""
QUERIES = """X : array-like of shape (n_local_queries, n_features)
    This rank's queries (possibly none)."""
FITTED = """self : object
    The fitted estimator, identical on every rank."""


def collective_doc(summary, *params, returns=FITTED):
    """Method decorator: a numpydoc docstring of ``summary``, ``params`` and ``returns``.

    Each entry of ``params`` and ``returns`` is a numpydoc item (a name line
    and its indented description), such as :data:`X_ROWS`.
    """
    doc = "\n".join([summary, "", "Parameters", "----------", *params,
                      "", "Returns", "-------", returns, ""])

    def decorate(method):
        method.__doc__ = doc
        return method

    return decorate


def with_comm(base):
    """Class decorator: ``__init__`` takes ``base``'s parameters and ``comm=None``.

    ``get_params`` (scikit-learn reads the signature) then lists ``comm`` too.
    """

    def decorate(cls):
        base_init = base.__init__
        sig = inspect.signature(base_init)

        def __init__(self, *args, comm=None, **kwargs):
            base_init(self, *args, **kwargs)
            self.comm = comm

        params = list(sig.parameters.values())
        params.append(inspect.Parameter("comm", inspect.Parameter.KEYWORD_ONLY, default=None))
        __init__.__signature__ = sig.replace(parameters=params)
        __init__.__doc__ = base_init.__doc__
        cls.__init__ = __init__
        cls._spmd_local_class = base
        return cls

    return decorate


class SPMDMixin:
    """Persistence of an SPMD model as the ordinary oxlearn class.

    Comes first in the bases. ``to_local()`` returns the ordinary estimator
    with the same parameters (``comm`` aside) and fitted attributes;
    pickling and ``oxlearn.save`` write that estimator.
    """

    _spmd_local_class = None
    # Distributed fits run on the CPU of each rank (no GPU path yet).
    _oxlearn_gpu_methods = ()

    def _comm(self):
        return get_comm(self.comm)

    def _shards(self, X, y=None, sample_weight=None, **kwargs):
        """Validate this rank's rows and agree on the shards (collective)."""
        return Shards(self._comm(), self, X, y, sample_weight, **kwargs)

    def to_local(self):
        """Return this fitted model as the ordinary (non-SPMD) oxlearn estimator.

        The model is the same on every rank, so no communication happens:
        any rank may call this (and save or pickle the result) alone.

        Returns
        -------
        estimator : ordinary oxlearn estimator
            The class of the same name in ``oxlearn`` (e.g.
            ``oxlearn.linear_model.LinearRegression``).
        """
        cls = self._spmd_local_class
        est = cls.__new__(cls)
        state = {k: v for k, v in self.__dict__.items()
                 if k != "comm" and not k.startswith("_spmd")}
        est.__dict__.update(state)
        return est

    def _oxlearn_export(self):
        # oxlearn.save writes the ordinary model (see oxlearn._io.save).
        return self.to_local()

    def __reduce_ex__(self, protocol):
        # Pickles as the ordinary class, rebuilt by the standard library's
        # reconstructor: loads without mpi4py or oxlearn.spmd.
        local = self.to_local()
        return copyreg._reconstructor, (type(local), object, None), local.__getstate__()
