"""Keep TensorFlow's C++ start-up logs out of the user's terminal and notebooks.

TensorFlow's native code writes its start-up lines (``cudart_stub``, ``cpu_feature_guard``,
``failed call to cuInit``) straight to file descriptor 2 while it is imported and while it
first looks for GPUs, before ``TF_CPP_MIN_LOG_LEVEL`` is read by absl. A newcomer reads
``E0000 ... failed call to cuInit`` as a failure, so `install()` wraps the first import of
``tensorflow`` (whoever triggers it, after ``import zoo``) in a redirect of descriptor 2 to
``/dev/null`` and looks for GPUs inside that window. Python exceptions still propagate.

``ZOO_VERBOSE=1`` (or ``zoo --verbose``) keeps TensorFlow's logs.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys


def verbose() -> bool:
    """True when the user asked for TensorFlow's own logs (``ZOO_VERBOSE=1``)."""
    return os.environ.get("ZOO_VERBOSE", "0") not in ("", "0", "false", "False")


@contextlib.contextmanager
def stderr_silenced():
    """Redirect file descriptor 2 (native code's stderr) to /dev/null for the block."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with stderr_silenced():
            self._loader.exec_module(module)
            # The first GPU lookup prints the cuInit line: do it inside the window.
            module.config.list_physical_devices("GPU")


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: find the real spec, then wrap its loader
        spec = importlib.util.find_spec("tensorflow")
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Make the next ``import tensorflow`` quiet (no-op if it is already imported)."""
    # 3, not 2: oneDNN prints an error-level line ("oneDNN supports DT_BOOL only on
    # platforms with AVX-512") for a recurrent layer's mask on many CPUs; real C++ errors
    # reach Python as exceptions with the same message.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if verbose() or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
