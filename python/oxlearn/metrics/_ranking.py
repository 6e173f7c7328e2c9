"""``roc_auc_score`` with the area of each binary problem computed in Rust.

scikit-learn's checks, its multiclass (one-vs-rest, one-vs-one) and
multilabel averaging, and its messages and warnings are kept: only the
binary area (``_binary_roc_auc_score``: a sort, tie grouping and the
trapezoidal sum) runs in Rust, with a parallel sort and a compensated sum.
The result is within 1e-12 of scikit-learn's (both are within a few ulps
of the exact area; the summation orders differ).
"""

import functools
import warnings
from numbers import Real

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.preprocessing import label_binarize
from sklearn.utils import assert_all_finite, check_array, check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target

from oxlearn import _array_api, _core
from oxlearn._logging import logger
from oxlearn._sklearn_private import (
    Interval,
    StrOptions,
    _average_binary_score,
    _average_multiclass_ovo_score,
    _check_sample_weight,
    _encode,
    _unique,
    attach_unique,
    cached_unique,
    validate_params,
)
from oxlearn._sklearn_private import _binary_roc_auc_score as _sk_binary_roc_auc_score
from oxlearn.base import n_threads


def _binary_roc_auc_score(y_true, y_score, sample_weight=None, max_fpr=None):
    """Binary ROC AUC: scikit-learn's ``_binary_roc_auc_score``, the area in Rust."""
    y_true = column_or_1d(y_true)
    y_score = column_or_1d(y_score)
    check_consistent_length(y_true, y_score, sample_weight)
    assert_all_finite(y_true)
    assert_all_finite(y_score)
    positive = y_true == 1
    n_positive = int(np.count_nonzero(positive))
    n_zero = int(np.count_nonzero(y_true == 0))
    if n_positive + n_zero != y_true.shape[0]:
        # Labels other than 0/1 (scikit-learn's pos_label rules): its code.
        logger.info("roc_auc_score: fallback to scikit-learn (labels other than 0 and 1)")
        return _sk_binary_roc_auc_score(y_true, y_score, sample_weight, max_fpr)
    if n_positive == 0 or n_zero == 0:
        warnings.warn(
            "Only one class is present in y_true. ROC AUC score is not defined in that case.",
            UndefinedMetricWarning, stacklevel=2,
        )
        return np.nan
    if sample_weight is not None:
        sample_weight = _check_sample_weight(column_or_1d(sample_weight), y_true,
                                             dtype=np.float64)
    partial = max_fpr is not None and max_fpr != 1
    if partial and (max_fpr <= 0 or max_fpr > 1):
        raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    area, positives, negatives = _core.roc_auc(
        np.ascontiguousarray(positive),
        np.ascontiguousarray(y_score, dtype=np.float64),
        None if sample_weight is None else np.ascontiguousarray(sample_weight),
        float(max_fpr) if partial else None,
        n_threads(None),
    )
    if negatives <= 0:
        warnings.warn("No negative samples in y_true, false positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=2)
        return np.nan
    if positives <= 0:
        warnings.warn("No positive samples in y_true, true positive value should be "
                      "meaningless", UndefinedMetricWarning, stacklevel=2)
        return np.nan
    if not partial:
        return float(area)
    # McClish correction: 0.5 if non-discriminant, 1 if maximal.
    min_area = 0.5 * max_fpr**2
    max_area = max_fpr
    return float(0.5 * (1 + (area - min_area) / (max_area - min_area)))


def _multiclass_roc_auc_score(y_true, y_score, labels, multi_class, average, sample_weight):
    """scikit-learn's ``_multiclass_roc_auc_score``, with the binary area in Rust."""
    if not y_score.ndim == 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since "
            "`y_true` contains multiple classes. Got "
            f"`y_score.shape={y_score.shape}`."
        )
    if not np.allclose(1, y_score.sum(axis=1)):
        raise ValueError(
            "Target scores need to be probabilities for multiclass "
            "roc_auc, i.e. they should sum up to 1.0 over classes"
        )
    average_options = ("macro", "weighted", None)
    if multi_class == "ovr":
        average_options = ("micro",) + average_options
    if average not in average_options:
        raise ValueError(
            f"average must be one of {average_options} for multiclass problems"
        )
    multiclass_options = ("ovo", "ovr")
    if multi_class not in multiclass_options:
        raise ValueError(
            f"multi_class='{multi_class}' is not supported for multiclass ROC AUC, "
            f"multi_class must be in {multiclass_options}"
        )
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        labels = column_or_1d(labels)
        classes = _unique(labels)
        if len(classes) != len(labels):
            raise ValueError("Parameter 'labels' must be unique")
        if not np.array_equal(classes, labels):
            raise ValueError("Parameter 'labels' must be ordered")
        if len(classes) != y_score.shape[1]:
            raise ValueError(
                f"Number of given labels, {len(classes)}, not equal to the number "
                f"of columns in 'y_score', {y_score.shape[1]}"
            )
        if len(np.setdiff1d(y_true, classes)):
            raise ValueError("'y_true' contains labels not in parameter 'labels'")
    else:
        classes = _unique(y_true)
        if len(classes) != y_score.shape[1]:
            raise ValueError(
                "Number of classes in y_true not equal to the number of columns in 'y_score'"
            )
    if multi_class == "ovo":
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        y_true_encoded = _encode(y_true, uniques=classes)
        # Hand & Till (2001) implementation (ovo)
        return _average_multiclass_ovo_score(
            _binary_roc_auc_score, y_true_encoded, y_score, average=average
        )
    # ovr is the same as multi-label
    y_true_multilabel = label_binarize(y_true, classes=classes)
    return _average_binary_score(
        _binary_roc_auc_score, y_true_multilabel, y_score, average, sample_weight=sample_weight
    )


def _host_inputs(func):
    """Array API inputs (``array_api_dispatch=True``) are scored from host copies."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _array_api.dispatch_enabled() and any(
                _array_api.is_foreign(v) for v in (*args, *kwargs.values())):
            with _array_api._host_call():
                return func(*[_array_api.to_host(v) for v in args],
                            **{k: _array_api.to_host(v) for k, v in kwargs.items()})
        return func(*args, **kwargs)

    return wrapper


@_host_inputs
@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "average": [StrOptions({"micro", "macro", "samples", "weighted"}), None],
        "sample_weight": ["array-like", None],
        "max_fpr": [Interval(Real, 0.0, 1, closed="right"), None],
        "multi_class": [StrOptions({"raise", "ovr", "ovo"})],
        "labels": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None,
                  multi_class="raise", labels=None):
    """Compute the area under the ROC curve (ROC AUC) from prediction scores.

    Same API, checks, warnings and results (within 1e-12) as
    :func:`sklearn.metrics.roc_auc_score`: binary, multiclass (``"ovr"``,
    ``"ovo"``) and multilabel targets, ``sample_weight``, ``max_fpr``
    (McClish-corrected partial AUC). The area of each binary problem is
    computed in Rust: a parallel sort of the scores, then one pass over
    them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_classes)
        True labels or binary label indicators.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Target scores: probability estimates or decision values.
    average : {"micro", "macro", "samples", "weighted"} or None, default="macro"
        How scores of several binary problems are averaged (scikit-learn's
        meaning); ``None`` returns each.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    max_fpr : float in (0, 1], default=None
        Standardized partial AUC over [0, max_fpr] (binary only).
    multi_class : {"raise", "ovr", "ovo"}, default="raise"
        Multiclass scheme; required for multiclass targets.
    labels : array-like of shape (n_classes,), default=None
        Multiclass only: the labels indexing the columns of ``y_score``.

    Returns
    -------
    auc : float
        The area, or the per-problem areas when ``average=None``.

    Examples
    --------
    >>> from oxlearn.metrics import roc_auc_score
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    logger.info("roc_auc_score: running accelerated version on CPU")
    if isinstance(y_true, np.ndarray):
        # One pass for the unique labels, which every check below reuses.
        y_true = attach_unique(y_true)
    y_type = type_of_target(y_true, input_name="y_true")
    y_true = check_array(y_true, ensure_2d=False, dtype=None)
    y_score = check_array(y_score, ensure_2d=False)
    if sample_weight is not None:
        sample_weight = column_or_1d(sample_weight)
    if y_type == "multiclass" or (
        y_type == "binary" and y_score.ndim == 2 and y_score.shape[1] > 2
    ):
        # do not support partial ROC computation for multiclass
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' must "
                f"be set to `None`, received `max_fpr={max_fpr}` instead"
            )
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_roc_auc_score(y_true, y_score, labels, multi_class, average,
                                          sample_weight)
    if y_type == "binary":
        # label_binarize(y_true, classes=np.unique(y_true))[:, 0], without
        # its second and third pass over the labels: the larger label is
        # positive; a single label gives no positive.
        labels = cached_unique(y_true)
        if len(labels) == 2:
            y_true = y_true == labels[-1]
        else:
            y_true = np.zeros(y_true.shape, dtype=bool)
        # _average_binary_score's binary case, without its type_of_target
        # pass: y_true is binary by construction.
        return _binary_roc_auc_score(y_true, y_score, sample_weight=sample_weight,
                                     max_fpr=max_fpr)
    return _average_binary_score(
        functools.partial(_binary_roc_auc_score, max_fpr=max_fpr),
        y_true, y_score, average, sample_weight=sample_weight,
    )
