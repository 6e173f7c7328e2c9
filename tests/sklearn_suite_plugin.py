"""pytest plugin for scripts/sklearn_suite.sh: scikit-learn's tests, patched.

Loaded with ``-p sklearn_suite_plugin``. ``SKLEARN_SUITE_PATCH`` says which
patch to apply before the test files are imported: ``oxlearn`` (default),
``sklearnex`` (scikit-learn-intelex, for comparison) or ``none``. Under
``oxlearn`` the tests listed in ``tests/sklearn_deselected.toml`` run as
strict xfails: one that passes, or an entry that matches no test, fails the
run (``SKLEARN_SUITE_DESELECTED`` names another list, for testing this
plugin). A per-file table of outcomes is printed at the end.
"""

import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import tomllib

_HERE = Path(__file__).resolve().parent
_CATEGORIES = ("deliberate", "internals")
_PATCH = os.environ.get("SKLEARN_SUITE_PATCH", "oxlearn")


def _load_deselected():
    path = os.environ.get("SKLEARN_SUITE_DESELECTED", _HERE / "sklearn_deselected.toml")
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("deselect", [])
    for e in entries:
        missing = {"test", "reason", "category"} - set(e)
        if missing or e["category"] not in _CATEGORIES or not e["reason"].strip():
            raise pytest.UsageError(
                f"sklearn_deselected.toml: bad entry {e!r} (needs test, a reason and a "
                f"category in {_CATEGORIES})"
            )
    return entries


def pytest_configure(config):
    # Before collection, so the test modules import the patched classes.
    if _PATCH == "oxlearn":
        import oxlearn

        oxlearn.patch_sklearn()
    elif _PATCH == "sklearnex":
        import sklearnex

        sklearnex.patch_sklearn()
    elif _PATCH != "none":
        raise pytest.UsageError(f"SKLEARN_SUITE_PATCH={_PATCH!r}: oxlearn, sklearnex or none")
    config._sklearn_suite = {"outcomes": defaultdict(Counter), "category": {}}


def _matcher(pattern):
    # '*' is the only wildcard: node ids hold '[...]' parametrisations.
    return re.compile(".*".join(map(re.escape, pattern.split("*"))))


def pytest_collection_modifyitems(session, config, items):
    if _PATCH != "oxlearn":
        return
    entries = _load_deselected()
    matchers = [_matcher(e["test"]) for e in entries]
    used = Counter()
    for item in items:
        for e, m in zip(entries, matchers, strict=True):
            if m.fullmatch(item.nodeid):
                used[e["test"]] += 1
                config._sklearn_suite["category"][item.nodeid] = e["category"]
                item.add_marker(pytest.mark.xfail(
                    strict=True, reason=f"{e['category']}: {e['reason']}"
                ))
                break
    # Only entries for the files collected in this run can be checked.
    files = {item.nodeid.split("::")[0] for item in items}
    stale = [e["test"] for e in entries
             if e["test"].split("::")[0] in files and not used[e["test"]]]
    if stale:
        raise pytest.UsageError(
            f"sklearn_deselected.toml: entries that match no test (remove them): {stale}"
        )


def pytest_runtest_logreport(report):
    suite = getattr(pytest_runtest_logreport, "suite", None)
    if suite is None:
        return
    if report.when == "call" or report.outcome != "passed":
        file = report.nodeid.split("::")[0]
        if hasattr(report, "wasxfail"):
            outcome = "deselected:" + suite["category"].get(report.nodeid, "xfail")
        elif report.when != "call" and report.outcome == "failed":
            outcome = "error"
        else:
            outcome = report.outcome
        suite["outcomes"][file][outcome] += 1


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    pytest_runtest_logreport.suite = session.config._sklearn_suite


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    outcomes = config._sklearn_suite["outcomes"]
    cols = ["passed", "failed", "error", "skipped", "deselected:xfail",
            *(f"deselected:{c}" for c in _CATEGORIES)]
    tr = terminalreporter
    tr.section(f"scikit-learn suite under patch={_PATCH}")
    tr.write_line(f"{'file':45s}" + "".join(f"{c.split(':')[-1]:>12s}" for c in cols))
    total = Counter()
    for file in sorted(outcomes):
        total.update(outcomes[file])
        tr.write_line(f"{file:45s}" + "".join(f"{outcomes[file][c]:12d}" for c in cols))
    tr.write_line(f"{'total':45s}" + "".join(f"{total[c]:12d}" for c in cols))
