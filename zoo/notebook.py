"""Helpers for the tutorial notebooks' parameters cell.

``import zoo.notebook`` in the first cell also installs the zoo's quiet TensorFlow import
(`zoo._quiet`), so the notebook shows its own output, not TensorFlow's start-up logs.
"""

from __future__ import annotations

import os


def smoke_mode() -> tuple[bool, str]:
    """Which mode a notebook runs in, and why: ``(smoke, reason)``.

    ``ZOO_NOTEBOOK_SMOKE=1`` / ``0`` decides when set. Otherwise: full mode (real training)
    when TensorFlow sees a GPU, smoke mode (small data, one or two epochs) on a CPU.
    """
    value = os.environ.get("ZOO_NOTEBOOK_SMOKE", "").strip()
    if value in ("0", "1"):
        return value == "1", f"ZOO_NOTEBOOK_SMOKE={value} is set"
    if value:
        raise ValueError(
            "Received an invalid value for the environment variable ZOO_NOTEBOOK_SMOKE, "
            f"expected '0' (full mode), '1' (smoke mode) or unset, got {value!r}."
        )
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return False, "a GPU is visible (set ZOO_NOTEBOOK_SMOKE=1 for a quick smoke run)"
    return True, "no GPU is visible (set ZOO_NOTEBOOK_SMOKE=0 for real training on the CPU)"


def describe(smoke: bool, reason: str) -> str:
    """One line for the parameters cell: the mode and why."""
    return f"{'smoke' if smoke else 'full'} mode: {reason}"
