"""Execute tutorial notebooks and save rendered HTML copies (``notebooks/rendered/``).

    ZOO_NOTEBOOK_SMOKE=0 python notebooks/render.py 03_vanishing_exploding_gradients [...]
    python notebooks/render.py --strip notebooks/rendered/*.html   # clean existing copies
    python notebooks/render.py --fake-gpu 04_inside_lstm_gru [...]  # check the GPU branch

Each notebook (``notebooks/NN_topic.ipynb``) runs top to bottom with nbclient on the
``python3`` kernel, in the mode the environment selects (``ZOO_NOTEBOOK_SMOKE``,
``ZOO_NOTEBOOK_EPOCHS``); stderr streams (TensorFlow's C++ start-up logs, Keras
warnings) are dropped from the copy, everything the notebook prints or draws is kept.
Prints the wall-clock time of each run.

``--fake-gpu`` checks a notebook's GPU branch on a machine without one: a first cell
makes ``tf.config.list_physical_devices("GPU")`` (what the notebooks and `zoo.train`
ask) report one GPU, so the notebook takes its GPU path (mixed precision, larger
batches) on the CPU and must still pass its own assertions; no HTML is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

NOTEBOOKS_DIR = Path(__file__).resolve().parent
RENDERED_DIR = NOTEBOOKS_DIR / "rendered"

# One stderr output block as written by nbconvert's lab template.
_STDERR_BLOCK = re.compile(
    r'<div class="jp-OutputArea-child">\s*<div class="jp-OutputPrompt jp-OutputArea-prompt">'
    r'</div>\s*<div class="jp-RenderedText jp-OutputArea-output" '
    r'data-mime-type="application/vnd.jupyter.stderr"[^>]*>\s*<pre>.*?</pre>\s*</div>\s*</div>',
    re.S,
)


def drop_stderr(nb: nbformat.NotebookNode) -> int:
    """Remove stderr stream outputs in place; returns how many were removed."""
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        removed += len(cell.outputs) - len(kept)
        cell.outputs = kept
    return removed


def strip_html(path: Path) -> int:
    """Remove stderr output blocks from an HTML file written by ``jupyter nbconvert``."""
    text = path.read_text(encoding="utf-8")
    cleaned, n = _STDERR_BLOCK.subn("", text)
    path.write_text(cleaned, encoding="utf-8")
    return n


FAKE_GPU_CELL = """\
import tensorflow as tf

_list_physical_devices = tf.config.list_physical_devices


def _one_fake_gpu(device_type=None):
    if device_type == "GPU":
        return [tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")]
    return _list_physical_devices(device_type)


tf.config.list_physical_devices = _one_fake_gpu
"""


def render(name: str, timeout: int = 7200, fake_gpu: bool = False) -> tuple[Path | None, float]:
    """Execute ``notebooks/<name>.ipynb``; write ``rendered/<name>.html``.

    With ``fake_gpu`` the notebook runs its GPU branch on the CPU (see the module
    docstring) and nothing is written.

    Returns:
        (path of the HTML file or None, run time in seconds).
    """
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    if fake_gpu:
        nb.cells.insert(0, nbformat.v4.new_code_cell(FAKE_GPU_CELL))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    env = dict(os.environ)
    if fake_gpu:  # the GPU-branch check runs in smoke mode unless asked otherwise
        env.setdefault("ZOO_NOTEBOOK_SMOKE", "1")
    start = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - start
    if fake_gpu:
        return None, seconds
    drop_stderr(nb)
    body, _ = HTMLExporter().from_notebook_node(nb)
    RENDERED_DIR.mkdir(exist_ok=True)
    out = RENDERED_DIR / f"{name}.html"
    out.write_text(body, encoding="utf-8")
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="+", help="notebook names (NN_topic) or, with --strip, HTML files"
    )
    parser.add_argument("--strip", action="store_true", help="clean existing HTML files")
    parser.add_argument("--timeout", type=int, default=7200, help="per cell, seconds")
    parser.add_argument(
        "--fake-gpu", action="store_true", help="run the GPU branch on the CPU, write nothing"
    )
    args = parser.parse_args(argv)
    for name in args.names:
        if args.strip:
            print(f"{name}: removed {strip_html(Path(name))} stderr blocks")
            continue
        out, seconds = render(Path(name).stem, args.timeout, fake_gpu=args.fake_gpu)
        smoke = os.environ.get("ZOO_NOTEBOOK_SMOKE", "auto")
        what = "GPU branch on the CPU: passed" if out is None else out.name
        print(f"{Path(name).stem} {what}: {seconds:.0f}s (ZOO_NOTEBOOK_SMOKE={smoke})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
