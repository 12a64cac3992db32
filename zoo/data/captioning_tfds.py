"""The captioning datasets as TFDS splits: the emoji builder and `load_raw`.

The emoji set (pictures, captions, split by emoji) is described in
`zoo.data.captioning`; its raw files are read by `zoo.data.captioning_sources`.
`load_raw` reads a split of ``zoo_emoji_captions`` (or ``zoo_flickr8k``, registered by
`zoo.data.flickr8k`) with the images left encoded.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import flickr8k  # noqa: F401 - registers the zoo_flickr8k TFDS builder
from zoo.data.captioning_sources import (
    GEMOJIONE_DEB,
    NOTO_DEB,
    SOURCES,
    SPLITS,
    emoji_records,
    unpack_deb,
)
from zoo.data.sources import zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE


class ZooEmojiCaptions(tfds.core.GeneratorBasedBuilder):
    """Emoji captioning: Noto Color Emoji + EmojiOne 2 pictures, CLDR names as captions."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Noto 2.042 + EmojiOne 2 (gemojione 3.3.0), split by emoji 80/10/10."}
    # No TFDS download checksums file: bytes are verified by zoo.data.sources. (Also
    # avoids TFDS 4.9's lookup of its code path, which needs `importlib_resources`.)
    url_infos = None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 4), encoding_format="png"),
                    "caption": tfds.features.Text(),
                    "aliases": tfds.features.Sequence(tfds.features.Text()),
                    "emoji": tfds.features.Text(),
                    "source": tfds.features.ClassLabel(names=list(SOURCES)),
                }
            ),
            supervised_keys=("image", "caption"),
            homepage="https://github.com/googlefonts/noto-emoji",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # bytes come from zoo.data.sources (pinned .deb files)
        records = emoji_records(unpack_deb(NOTO_DEB), unpack_deb(GEMOJIONE_DEB))
        return {s: self._generate_examples([r for r in records if r["split"] == s]) for s in SPLITS}

    def _generate_examples(self, records):
        for r in records:
            key = f"{r['source']}:{'-'.join(f'{ord(c):x}' for c in r['emoji'])}"
            yield (
                key,
                {
                    "image": r["load"](),
                    "caption": r["caption"],
                    "aliases": r["aliases"],
                    "emoji": r["emoji"],
                    "source": r["source"],
                },
            )


def data_dir() -> Path:
    """Where the zoo's TFDS datasets are prepared: ``zoo_home()/tensorflow_datasets``."""
    return zoo_home() / "tensorflow_datasets"


def load_raw(
    split: str, *, dataset: str = "zoo_emoji_captions", data_dir_: str | os.PathLike | None = None
) -> tf.data.Dataset:
    """The TFDS split with images left ENCODED (``image`` is PNG/JPEG bytes, tf.string).

    Prepares the dataset on first use (offline from the pinned artifacts).
    """
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument 'split', expected one of {SPLITS}, "
            f"got {split!r}."
        )
    builder = tfds.builder(dataset, data_dir=str(data_dir_ or data_dir()))
    builder.download_and_prepare()
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
        read_config=NO_AUTOCACHE,
    )
    if dataset == "zoo_flickr8k":  # one row per (image, caption): 5 per image

        def rows(ex):
            return tf.data.Dataset.from_tensor_slices(ex["captions"]).map(
                lambda c: {
                    "image": ex["image"],
                    "caption": c,
                    "emoji": ex["image_id"],
                    "source": tf.constant(0, tf.int64),
                }
            )

        ds = ds.flat_map(rows)
    return ds
