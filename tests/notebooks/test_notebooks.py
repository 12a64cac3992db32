"""Every tutorial notebook runs top to bottom in smoke mode and passes its own checks.

The notebooks are committed as jupytext percent scripts (``notebooks/NN_topic.py``);
each test converts one to a notebook, executes it with nbclient on the ``python3``
kernel in a temporary directory (``ZOO_NOTEBOOK_SMOKE=1``, the normal ``ZOO_HOME``
cache), and fails on any error, including the notebook's closing assertions.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 900  # per cell; generous because the machine may be shared


def test_all_eleven_notebooks_exist():
    assert len(NOTEBOOKS) == 11, NOTEBOOKS


def test_notebooks_are_committed_without_outputs():
    for ipynb in NOTEBOOKS_DIR.glob("*.ipynb"):
        nb = nbformat.read(ipynb, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), ipynb


def test_each_notebook_has_a_parameters_cell_and_ends_with_assertions():
    for name in NOTEBOOKS:
        nb = jupytext.read(NOTEBOOKS_DIR / name)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), name
        assert "ZOO_NOTEBOOK_SMOKE" in code[0].source, name
        assert "assert " in code[-1].source, name


@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_smoke_mode(name, notebook_workdir, monkeypatch):
    monkeypatch.setenv("ZOO_NOTEBOOK_SMOKE", "1")
    nb = jupytext.read(NOTEBOOKS_DIR / name)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(notebook_workdir)}},
    )
    start = time.perf_counter()
    try:
        client.execute(env=dict(os.environ))
    except CellExecutionError as error:
        pytest.fail(f"{name} failed:\n{error}")
    print(f"{name}: {time.perf_counter() - start:.1f}s")
