"""Flickr8k (Hodosh, Young & Hockenmaier 2013): 8,092 photos, 5 captions each, for users
with internet access (no copy is reachable from the zoo's offline machines).

Canonical files (the layout every Flickr8k loader expects):

* ``Flickr8k_Dataset.zip`` -> ``Flicker8k_Dataset/<image id>.jpg`` (sic: "Flicker"),
  plus macOS ``__MACOSX/`` metadata entries, which are ignored;
* ``Flickr8k_text.zip`` -> ``Flickr8k.token.txt`` (``<image id>#<0-4><TAB><caption>``),
  ``Flickr_8k.trainImages.txt`` / ``Flickr_8k.devImages.txt`` /
  ``Flickr_8k.testImages.txt`` (one image id per line: the standard 6,000 / 1,000 /
  1,000 split), and other annotation files that are not used.

Both come from ``https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/``
(or the original Illinois page). **Their sha256 is not pinned here**: nobody on the
zoo's machines could download them to compute it. Give the hashes of the copies you
trust through ``ZOO_FLICKR8K_DATASET_SHA256`` and ``ZOO_FLICKR8K_TEXT_SHA256`` (or
pass `flickr8k_artifacts(...)` to the builder); public loaders publish their MD5s
(`PUBLISHED_MD5`) to check a download against. With the files in a ``$ZOO_MIRROR``
directory no network is needed.

The TFDS builder ``zoo_flickr8k`` stores one example per image: ``image`` (JPEG),
``image_id`` and ``captions`` (the 5 captions, in ``#0..#4`` order). Malformed lines
of the token or split files raise ValueError naming the file and line number.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import tensorflow_datasets as tfds

from zoo.data.sources import Artifact, fetch

BASE_URL = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"
DATASET_ZIP = "Flickr8k_Dataset.zip"
TEXT_ZIP = "Flickr8k_text.zip"
IMAGE_DIR = "Flicker8k_Dataset"
TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "validation": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
#: MD5s published by public Flickr8k loaders, for checking a download by hand.
PUBLISHED_MD5 = {
    DATASET_ZIP: "f18a1e2920de5bd84dae7cf08ec78978",
    TEXT_ZIP: "bf6c1abcb8e4a833b7f922104de18627",
}
CAPTIONS_PER_IMAGE = 5


def flickr8k_artifacts(
    dataset_sha256: str | None = None, text_sha256: str | None = None
) -> tuple[Artifact, Artifact]:
    """The two Flickr8k zip files as `Artifact`s, with the sha256 given here or in
    ``$ZOO_FLICKR8K_DATASET_SHA256`` / ``$ZOO_FLICKR8K_TEXT_SHA256``.

    Raises:
        ValueError: a hash is missing or is not 64 hex digits.
    """
    hashes = {
        DATASET_ZIP: dataset_sha256 or os.environ.get("ZOO_FLICKR8K_DATASET_SHA256"),
        TEXT_ZIP: text_sha256 or os.environ.get("ZOO_FLICKR8K_TEXT_SHA256"),
    }
    for filename, value in hashes.items():
        env = (
            "ZOO_FLICKR8K_DATASET_SHA256" if filename == DATASET_ZIP else "ZOO_FLICKR8K_TEXT_SHA256"
        )
        if not value:
            raise ValueError(
                f"No sha256 for {filename}: the zoo does not pin Flickr8k. Download it from "
                f"{BASE_URL}{filename}, check its MD5 ({PUBLISHED_MD5[filename]}), then set "
                f"${env} to its sha256 (`sha256sum {filename}`) and put the file in a "
                "$ZOO_MIRROR directory or let the zoo download it."
            )
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
            raise ValueError(
                f"Received an invalid sha256 for {filename}: expected 64 hex digits, got {value!r}."
            )
    return (
        Artifact(
            DATASET_ZIP,
            hashes[DATASET_ZIP].lower(),
            url=BASE_URL + DATASET_ZIP,
            size=1_115_419_746,
            license="Flickr8k: research use (see the Illinois page)",
        ),
        Artifact(
            TEXT_ZIP,
            hashes[TEXT_ZIP].lower(),
            url=BASE_URL + TEXT_ZIP,
            license="Flickr8k: research use (see the Illinois page)",
        ),
    )


def _member(zf: zipfile.ZipFile, name: str, zip_path: Path) -> str:
    """The member whose base name is `name` (the text zip sometimes nests a folder)."""
    for info in zf.infolist():
        if info.filename.startswith("__MACOSX/"):
            continue
        if info.filename == name or info.filename.endswith("/" + name):
            return info.filename
    raise ValueError(f"{zip_path} has no '{name}': not the canonical {TEXT_ZIP} layout.")


def read_captions(text_zip: Path) -> dict[str, list[str]]:
    """``Flickr8k.token.txt`` -> image id -> its captions in ``#0..#4`` order."""
    captions: dict[str, dict[int, str]] = {}
    with zipfile.ZipFile(text_zip) as zf:
        member = _member(zf, TOKEN_FILE, text_zip)
        lines = zf.read(member).decode("utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, caption = line.partition("\t")
        image_id, hash_, number = key.rpartition("#")[0], "#" in key, key.rpartition("#")[2]
        if not sep or not hash_ or not number.isdigit() or not caption.strip():
            raise ValueError(
                f"{text_zip}:{member}:{lineno}: malformed caption line {line[:80]!r}; expected "
                "'<image id>#<n><TAB><caption>'."
            )
        captions.setdefault(image_id, {})[int(number)] = caption.strip()
    return {k: [v[i] for i in sorted(v)] for k, v in captions.items()}


def read_split(text_zip: Path, split: str) -> list[str]:
    """Image ids of a standard split (``train`` 6,000, ``validation`` 1,000, ``test`` 1,000)."""
    if split not in SPLIT_FILES:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of "
            f"{list(SPLIT_FILES)}, got {split!r}."
        )
    with zipfile.ZipFile(text_zip) as zf:
        member = _member(zf, SPLIT_FILES[split], text_zip)
        lines = zf.read(member).decode("utf-8").splitlines()
    ids = []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.endswith(".jpg") or any(c.isspace() for c in line):
            raise ValueError(
                f"{text_zip}:{member}:{lineno}: malformed image id {line[:80]!r}; expected "
                "'<name>.jpg'."
            )
        ids.append(line)
    return ids


class ZooFlickr8k(tfds.core.GeneratorBasedBuilder):
    """Flickr8k with its standard 6,000 / 1,000 / 1,000 split, 5 captions per image."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Canonical Flickr8k_Dataset.zip + Flickr8k_text.zip."}
    url_infos = None  # bytes are verified by zoo.data.sources

    def __init__(self, *, artifacts: tuple[Artifact, Artifact] | None = None, **kwargs):
        self._artifacts = artifacts
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Flickr8k: 8k photos with 5 human captions each.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "image_id": tfds.features.Text(),
                    "captions": tfds.features.Sequence(tfds.features.Text()),
                }
            ),
            homepage="https://hockenmaier.cs.illinois.edu/8k-pictures.html",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # bytes come from zoo.data.sources
        dataset_art, text_art = self._artifacts or flickr8k_artifacts()
        images_zip, text_zip = fetch(dataset_art), fetch(text_art)
        captions = read_captions(text_zip)
        return {
            split: self._generate_examples(images_zip, read_split(text_zip, split), captions)
            for split in SPLIT_FILES
        }

    def _generate_examples(self, images_zip: Path, ids: list[str], captions: dict):
        with zipfile.ZipFile(images_zip) as zf:
            names = {
                Path(n).name: n
                for n in zf.namelist()
                if n.startswith(IMAGE_DIR + "/") and n.endswith(".jpg")
            }
            for image_id in ids:
                if image_id not in names:
                    raise ValueError(
                        f"{images_zip}: no image '{IMAGE_DIR}/{image_id}' for an id "
                        "of the split files."
                    )
                if image_id not in captions:
                    raise ValueError(f"No captions for '{image_id}' in {TOKEN_FILE}.")
                yield (
                    image_id,
                    {
                        "image": zf.read(names[image_id]),
                        "image_id": image_id,
                        "captions": captions[image_id],
                    },
                )


__all__ = ["PUBLISHED_MD5", "ZooFlickr8k", "flickr8k_artifacts", "read_captions", "read_split"]
