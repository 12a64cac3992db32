"""Fixtures for the notebook tests: a scratch working directory per notebook."""

from __future__ import annotations

import pytest


@pytest.fixture
def notebook_workdir(tmp_path, monkeypatch):
    """A temporary working directory; downloads still go to the normal ZOO_HOME cache."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
