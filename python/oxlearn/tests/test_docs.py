"""The documentation says what the code does (issue 18, item 8)."""

import re
from pathlib import Path

import tomllib

from oxlearn import _core

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_format_kinds_table_lists_every_kind_in_one_table():
    section = _section((ROOT / "docs/format.md").read_text(), "## 6. Kinds")
    # One table: no blank line between its rows (a blank line ends a table).
    rows = [line for line in section.split("\n\n")[1].splitlines() if line.startswith("|")]
    listed = {k for row in rows for k in re.findall(r"`([a-z_]+\.[A-Za-z]+)`", row.split("|")[1])}
    assert listed == set(_core.known_kinds())


def test_serving_docs_name_every_served_classifier():
    text = (ROOT / "docs/saving-and-serving.md").read_text()
    paragraph = text[text.index("Classifiers ("):]
    paragraph = paragraph[:paragraph.index("\n\n")]
    classifiers = [k.split(".")[1] for k in _core.known_kinds()
                   if k.endswith("Classifier") or k.endswith("LogisticRegression")]
    for name in classifiers:
        assert f"`{name}`" in paragraph, name


def test_readme_lists_each_estimator_once_and_a_pip_route():
    text = (ROOT / "README.md").read_text()
    estimators = text[text.index("Estimators so far:"):]
    estimators = estimators[:estimators.index("\n\n")]
    assert estimators.count("`LogisticRegression`") == 1
    assert "pip install dist/oxlearn-" in text
    assert "glibc 2.28" in text


def test_docs_run_the_oxlearn_command_that_pip_installs():
    # `oxlearn ...` in the docs is the command the wheel puts on PATH (or the
    # built binary): pyproject declares it, and the serving page says so.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"oxlearn": "oxlearn_cli:main"}
    serving = (ROOT / "docs/saving-and-serving.md").read_text()
    assert "**`pip install oxlearn`** puts `oxlearn` on PATH" in serving
