"""The default run's time budget: which registry-parametrised cases run by default.

Tests parametrised over every preset or config run, by default, for the best preset of
each task (what `zoo demo` shows and what users load first) and for the vanilla-RNN
sentiment preset (the one cell type the best presets do not use); every other preset's
case is marked `slow` and runs with `make test-slow`. This keeps `make test` within its
15-minute budget on 2 cores while each task, each cell type and the published defaults
stay covered.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

#: Run by default besides the best preset of each task.
ALSO_DEFAULT = frozenset({"sentiment_rnn_mr"})


@functools.cache
def default_names() -> frozenset[str]:
    from zoo.demo import best_models

    return frozenset(best_models().values()) | ALSO_DEFAULT


def default_or_slow(items, name=lambda item: Path(str(item)).stem) -> list:
    """`items` (preset names or config paths) as pytest params, `slow` unless the item's
    name is one of `default_names()`."""
    return [
        pytest.param(
            item,
            marks=[] if name(item) in default_names() else [pytest.mark.slow],
            id=name(item),
        )
        for item in items
    ]
