"""scikit-learn's conformance suite over oxlearn's LogisticRegression."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from oxlearn.linear_model import LogisticRegression

ESTIMATORS = [
    LogisticRegression(),
    LogisticRegression(solver="newton-cg"),
    LogisticRegression(C=np.inf),
    LogisticRegression(class_weight="balanced"),
    LogisticRegression(solver="newton-cg", fit_intercept=False, C=0.1, warm_start=True),
]


def expected_failed_checks(estimator):
    """Checks expected to fail, with the reason."""
    if not estimator.fit_intercept:
        # The check fits heavily class-weighted blobs centred away from the
        # origin; without an intercept the boundary must pass through the
        # origin. scikit-learn's own LogisticRegression(fit_intercept=False)
        # predicts exactly the same labels and fails it the same way (52% and
        # 64% of class 0 where the check asks for 87%).
        return {"check_class_weight_classifiers": "no intercept: boundary through the origin"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
