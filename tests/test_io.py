"""Atomic writes: a failure leaves the old file or directory intact."""

from __future__ import annotations

import pytest

from zoo._io import atomic_dir, atomic_file


def test_atomic_file_failure_keeps_old_content(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_dir_refuses_existing_target_without_overwrite(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "keep").write_text("1")
    with pytest.raises(FileExistsError, match="overwrite"):
        with atomic_dir(target):
            pass
    assert (target / "keep").read_text() == "1"


def test_atomic_dir_failure_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "d"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("1")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_overwrite_replaces_only_when_complete(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "old").write_text("1")
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new").write_text("2")
        assert (target / "old").exists()  # old one still there during the write
    assert sorted(p.name for p in target.iterdir()) == ["new"]
