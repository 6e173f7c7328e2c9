"""Held-out accuracy (R² for regressors) of oxlearn's forests against scikit-learn's.

Five shuffled 75/25 splits per dataset, 100 trees, the same seeds for both;
prints mean ± standard deviation. Run with ``python bench/forest_accuracy.py``.
"""

import numpy as np
from sklearn import datasets
from sklearn import ensemble as ske
from sklearn.model_selection import train_test_split

from oxlearn import ensemble as oxe

CLASSIFICATION = {
    "breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
    "digits": lambda: datasets.load_digits(return_X_y=True),
    "wine": lambda: datasets.load_wine(return_X_y=True),
    "make_classification 5000x20": lambda: datasets.make_classification(
        5000, 20, random_state=0),
}
REGRESSION = {
    "diabetes": lambda: datasets.load_diabetes(return_X_y=True),
    "make_regression 5000x20": lambda: datasets.make_regression(
        5000, 20, noise=10.0, random_state=0),
}


def scores(name, load, kind):
    X, y = load()
    out = {}
    for family in (("RandomForest", "ExtraTrees")):
        cls = family + kind
        for lib, module in (("oxlearn", oxe), ("sklearn", ske)):
            s = []
            for seed in range(5):
                Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=seed)
                model = getattr(module, cls)(100, n_jobs=2, random_state=seed).fit(Xa, ya)
                s.append(model.score(Xb, yb))
            out[(cls, lib)] = (np.mean(s), np.std(s))
    for family in ("RandomForest", "ExtraTrees"):
        cls = family + kind
        (om, osd), (sm, ssd) = out[(cls, "oxlearn")], out[(cls, "sklearn")]
        print(f"| {name} | {cls} | {om:.3f} ± {osd:.3f} | {sm:.3f} ± {ssd:.3f} |")


def main():
    print("| data | estimator | oxlearn | scikit-learn |")
    print("|---|---|---|---|")
    for name, load in CLASSIFICATION.items():
        scores(name, load, "Classifier")
    for name, load in REGRESSION.items():
        scores(name, load, "Regressor")


if __name__ == "__main__":
    main()
