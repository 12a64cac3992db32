"""The four task architectures; each takes any of our recurrent cells.

`get_task(name)` returns the `Task` object for a config's ``task:`` value.
"""

from __future__ import annotations

import importlib

from zoo.config import TASKS
from zoo.tasks.base import Task, TaskData


def get_task(name: str) -> Task:
    """Return the task object for `name` (one of `TASKS`)."""
    if name not in TASKS:
        raise ValueError(
            f"Received an invalid value for argument 'task', expected one of {sorted(TASKS)}, "
            f"got {name!r}."
        )
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["TASKS", "Task", "TaskData", "get_task"]
