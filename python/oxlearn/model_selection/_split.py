"""``train_test_split`` with the rows copied in parallel, in Rust.

The split itself is scikit-learn's: the same ``ShuffleSplit`` /
``StratifiedShuffleSplit`` draws from the same ``random_state``, so the
rows of each part are exactly those scikit-learn picks, in its order. What
changes is the copy: each C-contiguous numpy array (any dtype that holds no
Python objects) is gathered row by row on several threads instead of one.
Everything else (pandas objects, sparse matrices, lists, object arrays,
array API arrays) goes through scikit-learn's ``_safe_indexing``, so pandas
inputs stay pandas.
"""

import numbers
from itertools import chain

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import indexable

from oxlearn import _core
from oxlearn._logging import logger
from oxlearn._sklearn_private import (
    Interval,
    RealNotInt,
    _num_samples,
    _safe_indexing,
    _validate_shuffle_split,
    get_namespace_and_device,
    move_to,
    validate_params,
)
from oxlearn.base import n_threads


def _take(a, index):
    """``_safe_indexing(a, index)``; numpy rows gathered in Rust."""
    if not (type(a) is np.ndarray and a.ndim >= 1 and a.flags.c_contiguous
            and not a.dtype.hasobject and a.dtype.itemsize > 0 and a.size > 0):
        return _safe_indexing(a, index)
    out = np.empty((len(index),) + a.shape[1:], dtype=a.dtype)
    if out.size:
        rows = a.reshape(a.shape[0], -1).view(np.uint8)
        _core.take_rows(rows, np.ascontiguousarray(index, dtype=np.int64),
                        out.reshape(len(index), -1).view(np.uint8), n_threads(None))
    return out


@validate_params(
    {
        "test_size": [
            Interval(RealNotInt, 0, 1, closed="neither"),
            Interval(numbers.Integral, 1, None, closed="left"),
            None,
        ],
        "train_size": [
            Interval(RealNotInt, 0, 1, closed="neither"),
            Interval(numbers.Integral, 1, None, closed="left"),
            None,
        ],
        "random_state": ["random_state"],
        "shuffle": ["boolean"],
        "stratify": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def train_test_split(*arrays, test_size=None, train_size=None, random_state=None, shuffle=True,
                     stratify=None):
    """Split arrays or matrices into random train and test subsets.

    Same API and the same split as :func:`sklearn.model_selection.train_test_split`
    for the same ``random_state`` (its random draws, consumed in its order),
    with ``stratify`` and ``shuffle=False``. C-contiguous numpy arrays are
    copied in parallel in Rust; other inputs (pandas, sparse, lists) are
    indexed by scikit-learn and keep their type.

    Parameters
    ----------
    *arrays : sequence of indexables with same length / shape[0]
        Lists, numpy arrays, scipy-sparse matrices or pandas dataframes.
    test_size : float or int, default=None
        Proportion (float) or number (int) of test samples; ``None`` is the
        complement of ``train_size``, or 0.25.
    train_size : float or int, default=None
        Proportion or number of train samples; ``None`` is the complement
        of ``test_size``.
    random_state : int, RandomState instance or None, default=None
        Controls the shuffling, as in scikit-learn.
    shuffle : bool, default=True
        Whether to shuffle before splitting.
    stratify : array-like, default=None
        Class labels to split in a stratified fashion.

    Returns
    -------
    splitting : list, length=2 * len(arrays)
        Train and test part of each input, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from oxlearn.model_selection import train_test_split
    >>> X, y = np.arange(10).reshape((5, 2)), np.arange(5)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4,
    ...                                                     random_state=42)
    >>> y_train, y_test
    (array([2, 0, 3]), array([1, 4]))
    """
    if len(arrays) == 0:
        raise ValueError("At least one array required as input")
    arrays = indexable(*arrays)
    n_samples = _num_samples(arrays[0])
    n_train, n_test = _validate_shuffle_split(n_samples, test_size, train_size,
                                              default_test_size=0.25)
    if shuffle is False:
        if stratify is not None:
            raise ValueError("Stratified train/test split is not implemented for shuffle=False")
        train = np.arange(n_train)
        test = np.arange(n_train, n_train + n_test)
    else:
        cv_class = StratifiedShuffleSplit if stratify is not None else ShuffleSplit
        cv = cv_class(test_size=n_test, train_size=n_train, random_state=random_state)
        train, test = next(cv.split(X=arrays[0], y=stratify))
    if any(type(a) is not np.ndarray for a in arrays):
        # Array API arrays keep their namespace: scikit-learn's indexing.
        xp, _, device = get_namespace_and_device(arrays[0])
        if xp.__name__ not in ("numpy", "sklearn.externals.array_api_compat.numpy"):
            logger.info("train_test_split: fallback to scikit-learn (array API input)")
            train, test = move_to(train, test, xp=xp, device=device)
            return list(chain.from_iterable(
                (_safe_indexing(a, train), _safe_indexing(a, test)) for a in arrays))
    logger.info("train_test_split: running accelerated version on CPU")
    return list(chain.from_iterable((_take(a, train), _take(a, test)) for a in arrays))
