"""oxlearn's thread pools: safe across fork, capped, reused, within joblib's limits.

Issues 17, 18 and 20: a forked child used to deadlock on rayon's global pool
after the parent had predicted, a large ``n_jobs`` built a pool of that many
threads on every call, and ``n_jobs=None`` ignored the thread limits joblib
gives its workers.
"""

import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from joblib import Parallel, delayed
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

import oxlearn
from oxlearn import _core
from oxlearn.base import n_threads
from oxlearn.cluster import DBSCAN
from oxlearn.ensemble import RandomForestClassifier
from oxlearn.linear_model import LinearRegression, LogisticRegression
from oxlearn.manifold import TSNE
from oxlearn.neighbors import KNeighborsClassifier
from oxlearn.tests._golden import output
from oxlearn.tests.test_hostile_files import MODELS, _fit

CORES = _core.available_cores()
# Enough rows that every kind's predict runs on a pool, not inline.
X_BIG = np.random.default_rng(0).normal(size=(6000, 6))


def _os_threads():
    """The live threads of oxlearn's pools (their names start with ``oxlearn-``)."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read())
        except FileNotFoundError:  # a thread (not ours) that just ended
            pass
    return sum(name.startswith("oxlearn-") for name in names)


def _use(model):
    """Compute with the model: its output on X_BIG, and a refit on part of it."""
    out = np.asarray(output(model, X_BIG), dtype=np.float64).ravel()
    refit = clone(model)
    if hasattr(refit, "n_jobs"):
        refit.n_jobs = -1
    y = (X_BIG[:1500, 0] > 0).astype(int)
    refit.fit(X_BIG[:1500], y)
    return out


def _in_forked_child(work, timeout=90):
    """``work()``'s result, computed in a child forked from this process."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child():
        try:
            send.send(("ok", work()))
        except BaseException as e:  # the parent reports it
            send.send(("error", repr(e)))

    proc = ctx.Process(target=child)
    proc.start()
    try:
        if not recv.poll(timeout):
            pytest.fail(f"the forked child did not finish in {timeout} s (deadlock)")
        status, value = recv.recv()
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    assert status == "ok", value
    return value


@pytest.mark.filterwarnings("ignore:'n_jobs' has no effect")
@pytest.mark.parametrize("source", ["fitted", "mmap"])
@pytest.mark.parametrize("est", MODELS, ids=lambda e: type(e).__name__)
def test_a_forked_child_computes_after_the_parent_did(est, source, tmp_path):
    model = _fit(est)[0]
    if source == "mmap":
        path = tmp_path / "m.oxl"
        oxlearn.save(model, path)
        model = oxlearn.load(path, mmap=True)
    expected = _use(model)  # the parent's pools now exist and are busy-waiting
    got = _in_forked_child(lambda: (_core.thread_pools(), _use(model)))
    pools_at_end, out = got
    assert_array_equal(out, expected)
    assert all(1 <= n <= CORES for n in pools_at_end)


def test_a_forked_child_starts_with_no_pools():
    LinearRegression(n_jobs=-1).fit(X_BIG, X_BIG[:, 0]).predict(X_BIG)
    if CORES > 1:
        assert CORES in _core.thread_pools()
    assert _in_forked_child(_core.thread_pools) == []


# n_jobs=10000 on 200x5 data ran for minutes: a 10000-thread pool per call.
HUGE = [LogisticRegression, LinearRegression, RandomForestClassifier,
        KNeighborsClassifier, DBSCAN, TSNE]


@pytest.mark.filterwarnings("ignore:'n_jobs' has no effect")
@pytest.mark.parametrize("cls", HUGE, ids=lambda c: c.__name__)
def test_a_huge_n_jobs_uses_at_most_the_cores(cls):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    before = _os_threads()
    model = cls(n_jobs=10000).fit(X, y)
    if hasattr(model, "predict"):
        model.predict(X)
    assert all(n <= CORES for n in _core.thread_pools())
    # At most one pool per count 1..CORES can have been added.
    assert _os_threads() - before <= CORES * (CORES + 1) // 2


def test_n_jobs_of_a_million_from_a_model_file_does_not_hang(tmp_path):
    path = tmp_path / "m.oxl"
    X = np.random.default_rng(2).normal(size=(200, 5))
    oxlearn.save(LinearRegression(n_jobs=10**6).fit(X, X[:, 0]), path)
    np.save(tmp_path / "x.npy", np.repeat(X, 200, axis=0))
    script = textwrap.dedent(
        """
        import sys, numpy as np, oxlearn
        from oxlearn import _core
        m = oxlearn.load(sys.argv[1])
        assert m.n_jobs == 10**6
        for _ in range(20):
            m.predict(np.load(sys.argv[2]))
        print(max(_core.thread_pools(), default=0), _core.available_cores())
        """)
    done = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    largest, cores = map(int, done.stdout.split())
    assert largest <= cores


def test_pools_are_reused_between_calls():
    model = LinearRegression(n_jobs=2).fit(X_BIG, X_BIG[:, 0])
    model.predict(X_BIG)
    pools, threads = _core.thread_pools(), _os_threads()
    for _ in range(30):
        model.predict(X_BIG)
    assert _core.thread_pools() == pools
    assert _os_threads() == threads


def test_n_jobs_follows_joblib_and_is_capped():
    assert n_threads(1) == 1
    assert n_threads(np.int64(1)) == 1
    assert n_threads(-1) == CORES
    assert n_threads(-2) == max(1, CORES - 1)
    assert n_threads(-(10**6)) == 1
    assert n_threads(10**6) == CORES
    assert n_threads(10**100) == CORES
    with pytest.raises(ValueError, match="n_jobs == 0"):
        n_threads(0)
    with pytest.raises(TypeError):
        n_threads(2.5)


def test_n_jobs_none_follows_scikit_learns_openmp_limits():
    assert n_threads(None) == max(1, min(_openmp_effective_n_threads(), CORES))
    with threadpool_limits(1):
        assert n_threads(None) == 1


def _in_worker():
    # loky reuses its workers across tests: only what this task starts counts.
    pools_before, threads_before = list(_core.thread_pools()), _os_threads()
    LinearRegression().fit(X_BIG, X_BIG[:, 0]).predict(X_BIG)
    LogisticRegression().fit(X_BIG, X_BIG[:, 0] > 0).predict_proba(X_BIG)
    new_pools = list(_core.thread_pools())
    for n in pools_before:
        new_pools.remove(n)
    return (n_threads(None), _openmp_effective_n_threads(), os.environ.get("OMP_NUM_THREADS"),
            new_pools, _os_threads() - threads_before)


def test_joblib_workers_get_their_share_of_the_cores():
    got = Parallel(n_jobs=2, backend="loky")(delayed(_in_worker)() for _ in range(2))
    for ours, openmp, env, pools, threads in got:
        # loky limits each worker (OMP_NUM_THREADS: its share of the cores);
        # oxlearn follows, as scikit-learn's OpenMP code does, and a fit or
        # predict in the worker starts no more threads than that share.
        assert env is not None
        assert ours == max(1, min(openmp, CORES)) <= int(env)
        assert all(n <= int(env) for n in pools)
        assert threads <= sum(pools)


def test_within_thread_limits_no_pool_is_started():
    def work():
        with threadpool_limits(1):
            LinearRegression().fit(X_BIG, X_BIG[:, 0]).predict(X_BIG)
            RandomForestClassifier(4, random_state=0).fit(
                X_BIG[:500], X_BIG[:500, 0] > 0).predict(X_BIG)
        return _core.thread_pools()

    # A forked child starts with no pools, so any pool it lists was started
    # under the limit.
    assert _in_forked_child(work) == []
