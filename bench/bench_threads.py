"""GridSearchCV over oxlearn estimators with ``n_jobs=1`` against ``n_jobs=2``.

Inside joblib's workers oxlearn follows the thread limits joblib sets (as
scikit-learn's OpenMP code does), so two workers use the cores without
oversubscribing them. Whether ``n_jobs=2`` is faster depends on the machine:
with two busy or hyper-threaded cores it may not be, and the table says so
rather than hiding it. It also prints the thread count oxlearn gives a worker.
"""

import argparse
import os
import statistics
import time

from joblib import Parallel, delayed
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from oxlearn import _core
from oxlearn.base import n_threads
from oxlearn.ensemble import RandomForestClassifier
from oxlearn.linear_model import LogisticRegression
from oxlearn.neighbors import KNeighborsClassifier

SEARCHES = [
    ("LogisticRegression", LogisticRegression(max_iter=500), {"C": [0.01, 0.1, 1.0, 10.0]}),
    ("RandomForestClassifier", RandomForestClassifier(50, random_state=0),
     {"max_depth": [4, 8, None], "max_features": ["sqrt", 0.5]}),
    ("KNeighborsClassifier", KNeighborsClassifier(), {"n_neighbors": [3, 5, 9, 15]}),
]


def timed(fn, repeat):
    """Median wall time of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    X, y = make_classification(args.rows, 20, n_informative=10, random_state=0)
    worker = Parallel(n_jobs=2)(delayed(n_threads)(None) for _ in range(2))
    print(f"cores available: {_core.available_cores()} (os.cpu_count {os.cpu_count()}); "
          f"oxlearn threads: {n_threads(None)} in this process, {worker} in 2 joblib workers")
    print(f"{'search (5-fold)':24} {'n_jobs=1 s':>11} {'n_jobs=2 s':>11} {'speed-up':>9}")
    for name, est, grid in SEARCHES:
        t = {j: timed(lambda j=j, e=est, g=grid: GridSearchCV(e, g, cv=5, n_jobs=j).fit(X, y),
                      args.repeat) for j in (1, 2)}
        print(f"{name:24} {t[1]:11.2f} {t[2]:11.2f} {t[1] / t[2]:8.2f}x")


if __name__ == "__main__":
    main()
