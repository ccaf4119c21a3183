"""The documentation works: its snippets run, the site builds, the README stays short.

Snippet convention, for README.md and every page under docs/: a block fenced as
```python (exactly that, nothing after the word) is run by this file; the blocks of one
page run in order in one namespace, so a later block may use what an earlier one made.
Anything else is shown but not run: ```py for code that cannot run here (a GPU, a
second machine, a server, a placeholder such as `my_data`), ```pycon for interpreter
sessions, ```bash / ```text / ```json for the rest. A ```python fence with attributes
(```python title="x.py") is not run either: mktestdocs matches the word alone.

Each page's blocks run in a fresh temporary working directory, so the files they write
(models, exports, runs/) land there, with $VAEZOO_DATA_DIR set by conftest.py.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# GitHub shows the README before anything else: the details belong in docs/.
README_LIMIT_BYTES = 10 * 1024
# The fence mktestdocs runs (its rule: the word after the backticks is exactly `python`).
RUN_FENCE = re.compile(r"^[ \t]*```python$", re.MULTILINE)


def _pages_with_snippets():
    """README.md and the docs/ pages with at least one block to run, as test ids."""
    pages = [README, *sorted((REPO / "docs").rglob("*.md"))]
    return [page.relative_to(REPO).as_posix() for page in pages
            if RUN_FENCE.search(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", _pages_with_snippets())
def test_python_snippets_run(page, data_dir, tmp_path, monkeypatch):
    mktestdocs = pytest.importorskip("mktestdocs")
    monkeypatch.chdir(tmp_path)
    mktestdocs.check_md_file(REPO / page, memory=True)


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # The generated sections are there: an API page, a benchmark result, the changelog.
    for page in ("reference/zoo.model/index.html", "benchmarks/results/index.html",
                 "changelog/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_readme_is_short():
    size = README.stat().st_size
    assert size <= README_LIMIT_BYTES, (
        f"README.md is {size:,} bytes, over {README_LIMIT_BYTES:,}: move details into docs/")
