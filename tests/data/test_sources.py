"""The data-source mechanism: mirror, cache, hash checks, offline errors, atomic writes."""

from __future__ import annotations

import hashlib

import pytest

from zoo.data import sources
from zoo.data.sources import Artifact, ChecksumError, SourceUnavailableError, fetch


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty cache and mirror directories, network sources disabled."""
    mirror, home = tmp_path / "mirror", tmp_path / "home"
    mirror.mkdir()
    monkeypatch.setenv("ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    return mirror, home


def _artifact(payload: bytes, name: str = "thing.bin", **kw) -> Artifact:
    return Artifact(filename=name, sha256=hashlib.sha256(payload).hexdigest(), **kw)


def test_mirror_file_with_matching_hash_is_returned(isolated):
    mirror, _ = isolated
    (mirror / "thing.bin").write_bytes(b"hello")
    assert fetch(_artifact(b"hello")) == mirror / "thing.bin"


def test_corrupted_mirror_file_names_file_and_both_hashes(isolated):
    mirror, _ = isolated
    (mirror / "thing.bin").write_bytes(b"hellO")
    art = _artifact(b"hello")
    with pytest.raises(ChecksumError) as e:
        fetch(art)
    msg = str(e.value)
    assert "thing.bin" in msg
    assert art.sha256 in msg
    assert hashlib.sha256(b"hellO").hexdigest() in msg


def test_missing_artifact_offline_says_what_to_fetch_and_where(isolated):
    art = _artifact(b"x", name="pkg-1.0.tar.gz", pypi="pkg==1.0", url="https://example.org/pkg")
    with pytest.raises(SourceUnavailableError) as e:
        fetch(art)
    msg = str(e.value)
    assert "pkg-1.0.tar.gz" in msg
    assert "pip download --no-deps" in msg and "pkg==1.0" in msg
    assert "ZOO_MIRROR" in msg and str(sources.cache_dir()) in msg


def test_corrupted_cache_copy_is_discarded_not_returned(isolated, capsys):
    _, home = isolated
    cached = home / "downloads" / "thing.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncat")
    with pytest.raises(SourceUnavailableError):
        fetch(_artifact(b"truncated"))
    assert not cached.exists()
    assert "sha256 mismatch" in capsys.readouterr().err


def test_url_source_goes_through_get_file_with_hash_and_lands_in_cache(
    isolated, tmp_path, monkeypatch
):
    payload = b"url payload"
    origin = tmp_path / "served.bin"
    origin.write_bytes(payload)
    monkeypatch.delenv("ZOO_OFFLINE")
    art = _artifact(payload, url=origin.as_uri())
    path = fetch(art)
    assert path == sources.cache_dir() / "thing.bin"
    assert path.read_bytes() == payload
    # The cache now serves it even offline.
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fetch(art) == path


def test_url_with_wrong_hash_leaves_no_file_in_cache(isolated, tmp_path, monkeypatch):
    origin = tmp_path / "served.bin"
    origin.write_bytes(b"something else")
    monkeypatch.delenv("ZOO_OFFLINE")
    art = _artifact(b"expected", url=origin.as_uri())
    with pytest.raises((ChecksumError, SourceUnavailableError)):
        fetch(art)
    assert not (sources.cache_dir() / "thing.bin").exists()
    leftovers = list(sources.cache_dir().glob("*")) if sources.cache_dir().exists() else []
    assert [p for p in leftovers if p.is_file()] == []


def test_pip_source_downloads_without_installing(isolated, monkeypatch):
    """A real registry fetch of a tiny pinned sdist (six 1.16.0)."""
    monkeypatch.delenv("ZOO_OFFLINE")
    art = Artifact(
        filename="six-1.16.0.tar.gz",
        sha256="1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926",
        pypi="six==1.16.0",
        pip_args=("--no-binary=:all:",),
    )
    try:
        path = fetch(art)
    except SourceUnavailableError as e:  # no registry reachable on this machine
        pytest.skip(f"PyPI not reachable: {e}")
    assert path.parent == sources.cache_dir()
    assert sources.sha256_file(path) == art.sha256
