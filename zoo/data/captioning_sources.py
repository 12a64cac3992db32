"""The raw files of the emoji captioning set: pinned .deb packages, emoji, pictures.

**What the set is.** Every fully-qualified emoji (Unicode status ``fully_qualified`` in
the `emoji` package) that has a picture in at least one of two real artwork sets:

* **Noto Color Emoji** 2.042 (Debian ``fonts-noto-color-emoji=2.042-0+deb12u1``, SIL OFL
  1.1): each emoji is drawn with Pillow, ``ImageFont.truetype(ttf, 109)`` and
  ``draw.text(..., embedded_color=True)`` (109 is the only size the bitmap font has),
  on a transparent 136x128 canvas. Only emoji the font draws as ONE glyph are kept
  (advance width of one glyph and every code point except U+FE0F in the font's cmap):
  this drops sequences newer than the font (Unicode 16+), which would render as
  several glyphs or tofu.
* **EmojiOne 2** artwork (Debian ``ruby-gemojione=3.3.0-1``, assets CC-BY-SA 4.0):
  ``gems/gemojione-3.3.0/assets/png/<CODEPOINTS>.png`` (64x64), matched to the emoji
  package by code points with U+FE0F and U+200D ignored (EmojiOne writes
  ``1F468-1F468-1F466`` for the ZWJ family); the five bare skin-tone modifiers are
  components, not fully-qualified emoji, and are skipped.

`emoji_records` lists every (emoji, source) picture with its caption and split; the
TFDS builder of `zoo.data.captioning_tfds` stores them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zoo._io import atomic_dir
from zoo.data.sources import Artifact, fetch, zoo_home

NOTO_DEB = Artifact(
    filename="fonts-noto-color-emoji_2.042-0+deb12u1_all.deb",
    sha256="a5ab0f69c7938423862320d9aca5dd187b3fd879d6a9a57dd52e17c3fa8d2751",
    deb="fonts-noto-color-emoji=2.042-0+deb12u1",
    size=9_893_872,
    license="Noto Color Emoji font: SIL Open Font License 1.1 (Google Inc.)",
)
GEMOJIONE_DEB = Artifact(
    filename="ruby-gemojione_3.3.0-1_all.deb",
    sha256="9981df47963de53e10ce097857825c72f2f11dbe2d4cd4887698a99a751bb6bb",
    deb="ruby-gemojione=3.3.0-1",
    size=4_580_192,
    license="EmojiOne 2 artwork: CC-BY-SA 4.0 (Ranks.com Inc.); gem code: MIT",
)
NOTO_TTF = "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
GEMOJIONE_DIR = "usr/share/rubygems-integration/all/gems/gemojione-3.3.0"
#: Pillow font size of the Noto bitmap strikes (the only size the font supports).
NOTO_FONT_SIZE = 109
NOTO_CANVAS = (136, 128)
SOURCES = ("noto", "emojione")
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
SPLITS = tuple(SPLIT_FRACTIONS)

_ZWJ, _VS16 = "\u200d", "\ufe0f"


def unpack_deb(artifact: Artifact) -> Path:
    """Fetch a pinned ``.deb`` and unpack its data into ``zoo_home()/unpacked/<name>``.

    Returns:
        The directory holding the package's file tree (``usr/share/...``).
    """
    dest = zoo_home() / "unpacked" / artifact.filename.removesuffix(".deb")
    marker = dest / ".zoo-sha256"
    if marker.is_file() and marker.read_text().strip() == artifact.sha256:
        return dest
    deb = fetch(artifact)
    with atomic_dir(dest, overwrite=True) as tmp:
        if shutil.which("dpkg-deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True, capture_output=True)
        else:  # not Debian: the .deb is an `ar` archive holding data.tar.{xz,gz,zst}
            _extract_deb_in_python(deb, tmp)
        (tmp / ".zoo-sha256").write_text(artifact.sha256)
    return dest


def _extract_deb_in_python(deb: Path, dest: Path) -> None:
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a Debian package (no ar archive header).")
    pos = 8
    while pos + 60 <= len(data):
        name = data[pos : pos + 16].decode().strip().rstrip("/")
        size = int(data[pos + 48 : pos + 58].decode().strip())
        body = data[pos + 60 : pos + 60 + size]
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                raise RuntimeError(f"{deb}: {name} needs dpkg-deb (zstd) to unpack.")
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                tar.extractall(dest, filter="data")
            return
        pos += 60 + size + (size % 2)
    raise ValueError(f"{deb} has no data.tar member.")


def fully_qualified_emoji() -> list[str]:
    """All ``fully_qualified`` emoji of the installed `emoji` package, sorted."""
    import emoji

    return sorted(
        e for e, v in emoji.EMOJI_DATA.items() if v["status"] == emoji.STATUS["fully_qualified"]
    )


def caption_of(e: str) -> str:
    """The CLDR name of emoji `e` from the `emoji` package, as words.

    >>> caption_of("\\U0001f46e")
    'police officer'
    """
    import emoji

    return emoji.EMOJI_DATA[e]["en"].strip(":").replace("_", " ")


def aliases_of(e: str) -> list[str]:
    """The `emoji` package's aliases of `e` as words (``":cop:"`` -> ``"cop"``)."""
    import emoji

    return [a.strip(":").replace("_", " ") for a in emoji.EMOJI_DATA[e].get("alias", [])]


def split_of(e: str, seed: int = 0) -> str:
    """Which split emoji `e` belongs to: a salted sha256 of the emoji read as a fraction
    (80% train, 10% validation, 10% test)."""
    digest = hashlib.sha256(f"{seed}:{e}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for split, frac in SPLIT_FRACTIONS.items():
        acc += frac
        if u < acc:
            return split
    return SPLITS[-1]


def noto_supported(font_path: str | os.PathLike, candidates: Iterable[str]) -> list[str]:
    """The emoji of `candidates` that Noto draws as one glyph (see the module doc)."""
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    font = ImageFont.truetype(str(font_path), NOTO_FONT_SIZE)
    cmap = TTFont(str(font_path))["cmap"].getBestCmap()
    one = font.getlength("\U0001f600")
    return [
        e
        for e in candidates
        if abs(font.getlength(e) - one) < 1e-3 and all(ord(c) in cmap for c in e if c != _VS16)
    ]


def render_noto(font_path: str | os.PathLike, e: str) -> bytes:
    """PNG bytes (RGBA, 136x128, transparent background) of emoji `e` drawn with Noto."""
    from PIL import Image, ImageDraw

    font = _noto_font(str(font_path))
    image = Image.new("RGBA", NOTO_CANVAS, (255, 255, 255, 0))
    ImageDraw.Draw(image).text((0, 0), e, font=font, embedded_color=True)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


_FONTS: dict[str, Any] = {}


def _noto_font(path: str):
    from PIL import ImageFont

    if path not in _FONTS:
        _FONTS[path] = ImageFont.truetype(path, NOTO_FONT_SIZE)
    return _FONTS[path]


def emojione_files(gem_dir: str | os.PathLike) -> dict[str, Path]:
    """Fully-qualified emoji -> EmojiOne PNG path, via ``config/index.json``."""
    gem_dir = Path(gem_dir)
    index = json.loads((gem_dir / "config" / "index.json").read_text(encoding="utf-8"))

    def key(s: str) -> str:
        return s.replace(_VS16, "").replace(_ZWJ, "")

    by_key = {key(e): e for e in fully_qualified_emoji()}
    out: dict[str, Path] = {}
    for entry in index.values():
        png = gem_dir / "assets" / "png" / f"{entry['unicode'].upper()}.png"
        chars = "".join(chr(int(cp, 16)) for cp in entry["unicode"].split("-"))
        e = by_key.get(key(chars))
        if e is not None and png.is_file():
            out[e] = png
    return out


def _rgba_png(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


def emoji_records(noto_root: Path, gem_root: Path) -> list[dict]:
    """Every (emoji, source) picture with its caption and split, sorted.

    Returns:
        dicts with ``emoji``, ``source`` ("noto"/"emojione"), ``caption``, ``aliases``,
        ``split`` and ``load`` (a zero-argument callable giving RGBA PNG bytes).
    """
    font = noto_root / NOTO_TTF
    records = []
    for e in noto_supported(font, fully_qualified_emoji()):
        records.append({"emoji": e, "source": "noto", "load": lambda e=e: render_noto(font, e)})
    for e, png in emojione_files(gem_root / GEMOJIONE_DIR).items():
        records.append({"emoji": e, "source": "emojione", "load": lambda p=png: _rgba_png(p)})
    for r in records:
        r.update(
            caption=caption_of(r["emoji"]),
            aliases=aliases_of(r["emoji"]),
            split=split_of(r["emoji"]),
        )
    records.sort(key=lambda r: (r["emoji"], r["source"]))
    return records
