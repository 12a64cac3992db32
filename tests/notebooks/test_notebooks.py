"""Every tutorial notebook runs top to bottom in smoke mode and passes its own checks.

The notebooks are committed as jupytext pairs: a percent script ``notebooks/NN_topic.py``
(readable diffs, what these tests execute) and ``notebooks/NN_topic.ipynb`` without outputs
(what users open). The tests check that each pair has the same cells, then convert each
script to a notebook and execute it with nbclient on the ``python3``
kernel in a temporary directory (``ZOO_NOTEBOOK_SMOKE=1``, the normal ``ZOO_HOME``
cache), and fails on any error, including the notebook's closing assertions.
"""

from __future__ import annotations

import html
import os
import re
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 900  # per cell; generous because the machine may be shared


def test_all_eleven_notebooks_exist():
    assert len(NOTEBOOKS) == 11, NOTEBOOKS


def test_notebooks_are_committed_without_outputs():
    ipynbs = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    assert ipynbs
    for ipynb in ipynbs:
        nb = nbformat.read(ipynb, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, ipynb


def _cells(nb):
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_script_and_its_paired_ipynb_have_identical_cells(name):
    """The .ipynb users open and the .py the tests run cannot drift apart.

    After editing either file, run ``jupytext --sync notebooks/NN_topic.py`` (or .ipynb)."""
    script = NOTEBOOKS_DIR / name
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: jupytext --sync {script}"
    from_script = jupytext.read(script)
    from_ipynb = nbformat.read(ipynb, as_version=4)
    assert _cells(from_ipynb) == _cells(from_script), f"{name} and {ipynb.name} differ"
    assert from_ipynb.metadata["kernelspec"]["name"] == "python3"
    assert from_ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"


def test_every_ipynb_has_its_script():
    for ipynb in NOTEBOOKS_DIR.glob("*.ipynb"):
        assert ipynb.with_suffix(".py").exists(), ipynb


def test_readme_lists_every_notebook():
    readme = (NOTEBOOKS_DIR / "README.md").read_text()
    for name in NOTEBOOKS:
        assert Path(name).with_suffix(".ipynb").name in readme, name


def test_each_notebook_has_a_parameters_cell_and_ends_with_assertions():
    for name in NOTEBOOKS:
        nb = jupytext.read(NOTEBOOKS_DIR / name)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), name
        assert "ZOO_NOTEBOOK_SMOKE" in code[0].source, name
        assert "assert " in code[-1].source, name


#: Run by default (a minute together): the first concept notebooks and the one that loads,
#: predicts with and exports the presets. The training notebooks (several minutes of smoke
#: training together) run with `make test-slow`; their full-mode renders are committed.
DEFAULT_NOTEBOOKS = {
    "01_recurrence_by_hand.py",
    "02_backprop_through_time.py",
    "04_inside_lstm_gru.py",
    "10_pretrained_and_deployment.py",
}


@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[] if n in DEFAULT_NOTEBOOKS else [pytest.mark.slow])
        for n in NOTEBOOKS
    ],
)
def test_notebook_runs_in_smoke_mode(name, notebook_workdir, monkeypatch):
    monkeypatch.setenv("ZOO_NOTEBOOK_SMOKE", "1")
    nb = jupytext.read(NOTEBOOKS_DIR / name)
    # IPC sockets in the scratch directory, not TCP ports: a kernel that picks a random
    # free port can lose it to another test process before binding it (seen in CI:
    # "ZMQError: Address already in use", "Kernel died before replying to kernel_info").
    kernel_manager = KernelManager(kernel_name="python3", transport="ipc", ip="kernel")
    client = NotebookClient(
        nb,
        km=kernel_manager,
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


RENDERED_DIR = NOTEBOOKS_DIR / "rendered"
# An input cell in nbconvert's HTML (lab template): the highlighted source in one <pre>.
_HTML_CODE_CELL = re.compile(r'<div class="highlight hl-ipython3"><pre>(.*?)</pre>', re.S)


def _rendered_code_cells(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        html.unescape(re.sub(r"<[^>]+>", "", block)).strip()
        for block in _HTML_CODE_CELL.findall(text)
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_rendered_copy_shows_the_current_code(name):
    """A rendered copy whose code differs from the notebook is stale: re-render it with
    ``ZOO_NOTEBOOK_SMOKE=0 python notebooks/render.py NN_topic``."""
    rendered = RENDERED_DIR / Path(name).with_suffix(".html").name
    if not rendered.exists():
        pytest.skip(f"no rendered copy of {name}")
    nb = jupytext.read(NOTEBOOKS_DIR / name)
    code = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    shown = _rendered_code_cells(rendered)
    stale = [i for i, (a, b) in enumerate(zip(shown, code)) if a != b]
    assert len(shown) == len(code) and not stale, (
        f"{rendered.name} is stale (code cells {stale or 'count'} differ from {name}): "
        f"ZOO_NOTEBOOK_SMOKE=0 python notebooks/render.py {Path(name).stem}"
    )


def test_fake_gpu_cell_makes_the_notebooks_take_their_gpu_branch():
    """`render.py --fake-gpu` prepends a cell after which the notebooks' own check,
    ``tf.config.list_physical_devices("GPU")``, sees one GPU (other queries unchanged)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import render, tensorflow as tf\n"
        "cpus = tf.config.list_physical_devices('CPU')\n"
        "before = tf.config.list_physical_devices('GPU')\n"
        "exec(render.FAKE_GPU_CELL, {})\n"
        "gpus = tf.config.list_physical_devices('GPU')\n"
        "print(len(before), len(gpus), gpus[0].device_type, "
        "tf.config.list_physical_devices('CPU') == cpus)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(NOTEBOOKS_DIR)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-4:] == ["0", "1", "GPU", "True"], done.stdout
