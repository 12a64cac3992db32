"""Image captioning data: the emoji captioning set (real artwork, human-written names).

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

The ``.deb`` files are fetched with ``apt-get download`` through `zoo.data.sources`
(sha256-pinned; they equal the SHA256 of Debian bookworm's package index) and
unpacked into the cache (``dpkg-deb -x`` when available, otherwise the same extraction
in Python), never installed.

**Captions.** The CLDR short name from the `emoji` package:
``emoji.EMOJI_DATA[e]["en"]`` with the colons stripped and ``_`` read as a space
(``":police_officer_dark_skin_tone:"`` -> ``"police officer dark skin tone"``).
Aliases (``":cop:"``) are stored beside it as extra names but are not used by the
default evaluation (one reference: the CLDR name).

**Split by emoji, not by image.** Both pictures of one emoji are in the same split,
so test emoji are concepts never seen in training (compositional names make them
learnable: skin tones, genders, "X with Y"). The split is a salted hash of the emoji
string: ``sha256(f"{seed}:{emoji}")`` read as a number in [0, 1); < 0.8 train,
< 0.9 validation, else test (80/10/10, seed 0). A hash rather than a shuffled list
keeps every emoji's split fixed when a newer `emoji` package adds emoji.

**Images in the pipeline** (`preprocess_image`, shared by training, `Task.predict` and
the exported serving signature): decode PNG/JPEG/GIF/BMP bytes -> composite an alpha
channel on white (grayscale -> RGB) -> pad to a square with white -> area-resize to
``image_size`` (default 64x64) -> float32 RGB in [0, 1].

**Captions in the pipeline**: `standardize` (lower case; punctuation other than ``-``
and apostrophes split off as its own token) -> whitespace split -> `StringLookup`
(vocabulary fit on the train captions only; index 0 = padding, 1 = ``[UNK]``,
2 = ``<start>``, 3 = ``<end>``). A batch is
``((image [B,S,S,3] float32, caption_in [B,T] int64), caption_out [B,T] int64,
weights [B,T] float32)``: ``caption_in`` starts with ``<start>``, ``caption_out`` ends
with ``<end>``, ``weights`` is 1 on real tokens and 0 on padding.

The modules: `zoo.data.captioning_sources` (raw files, emoji, split),
`zoo.data.captioning_tfds` (TFDS builder, `load_raw`), `zoo.data.captioning_images`
(`preprocess_image`); this one holds the captions and the pipeline (`load_data`).
`info(name)` and `bench(...)` back ``python -m zoo data info`` / ``bench data``.
The Flickr8k loader for users with internet is in `zoo.data.flickr8k`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data.captioning_images import DEFAULT_IMAGE_SIZE, preprocess_array, preprocess_image
from zoo.data.captioning_sources import (
    GEMOJIONE_DEB,
    NOTO_DEB,
    SOURCES,
    SPLIT_FRACTIONS,
    SPLITS,
    caption_of,
    split_of,
    unpack_deb,
)
from zoo.data.captioning_tfds import ZooEmojiCaptions, load_raw

PAD, UNK, START, END = "", "[UNK]", "<start>", "<end>"
SPECIAL_TOKENS = (PAD, UNK, START, END)
START_ID, END_ID = 2, 3
#: Longest caption in tokens (the emoji names have at most 11) + room; decoding limit.
MAX_CAPTION_TOKENS = 16


# --------------------------------------------------------------------------------------
# captions


def standardize(text: tf.Tensor) -> tf.Tensor:
    """Lower-case and split punctuation (except ``-`` and apostrophes) off as tokens.

    tf.string in, tf.string out (same shape); split on whitespace afterwards.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.regex_replace(text, r"([^\pL\pN\s'’-])", r" \1 ")


def tokenize(text) -> list[str]:
    """Python-side tokenization identical to the pipeline's (`standardize` + split)."""
    return standardize(tf.constant(text)).numpy().decode("utf-8").split()


def fit_vocabulary(
    captions: Iterable[str], *, max_tokens: int | None = None, min_count: int = 1
) -> list[str]:
    """Vocabulary of the train captions: `SPECIAL_TOKENS` then words by frequency.

    Fit with Keras `StringLookup.adapt` on the standardized, split captions.
    """
    import keras

    tokens = tf.strings.split(standardize(tf.constant(list(captions))))
    lookup = keras.layers.StringLookup(mask_token=PAD, oov_token=UNK, max_tokens=None)
    lookup.adapt(tokens.flat_values)
    words = [w for w in lookup.get_vocabulary()[2:]]  # drop mask + OOV
    if min_count > 1:
        counts = Counter(tokens.flat_values.numpy().tolist())
        words = [w for w in words if counts[w.encode()] >= min_count]
    if max_tokens is not None:
        words = words[: max(0, max_tokens - len(SPECIAL_TOKENS))]
    return [*SPECIAL_TOKENS, *words]


def make_lookup(vocabulary: list[str], invert: bool = False):
    """`StringLookup` for a vocabulary from `fit_vocabulary` (ids as in the vocabulary)."""
    import keras

    if list(vocabulary[:4]) != list(SPECIAL_TOKENS):
        raise ValueError(
            f"Received an invalid value for argument 'vocabulary', expected it to start "
            f"with {list(SPECIAL_TOKENS)}, got {list(vocabulary[:4])}."
        )
    return keras.layers.StringLookup(
        vocabulary=list(vocabulary[2:]), mask_token=PAD, oov_token=UNK, invert=invert
    )


def detokenize(tokens: list[str]) -> str:
    """Tokens -> readable caption (no space before ``) . , ! :`` or after ``(``)."""
    import re

    text = " ".join(tokens)
    text = re.sub(r"\s+([).,!:])", r"\1", text)
    return re.sub(r"\(\s+", "(", text)


# --------------------------------------------------------------------------------------
# the pipeline


def _encode_caption(lookup, caption: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    ids = lookup(tf.strings.split(standardize(caption)))
    ids = tf.cast(ids, tf.int32)
    caption_in = tf.concat([[START_ID], ids], 0)
    caption_out = tf.concat([ids, [END_ID]], 0)
    return caption_in, caption_out


def _augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A random shift of up to 1/8 of the side (white fill) and a small brightness change."""
    size = image.shape[0]
    pad = max(1, size // 8)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = 1.0 - tf.pad(1.0 - image, [[pad, pad], [pad, pad], [0, 0]])
    image = tf.image.stateless_random_crop(padded, [size, size, 3], seed=seeds[0])
    image = tf.image.stateless_random_brightness(image, 0.1, seed=seeds[1])
    return tf.clip_by_value(image, 0.0, 1.0)


def make_pipeline(
    raw: tf.data.Dataset,
    vocabulary: list[str],
    *,
    batch_size: int,
    image_size: int = DEFAULT_IMAGE_SIZE,
    shuffle: bool = False,
    seed: int = 0,
    augment: bool = False,
    cache: bool = True,
) -> tf.data.Dataset:
    """Raw TFDS examples -> batches ``((image, caption_in), caption_out, weights)``.

    Args:
        raw: examples with ``image`` (encoded bytes, tf.string) and ``caption`` (tf.string).
        vocabulary: from `fit_vocabulary` (train captions only).
        batch_size: examples per batch (padded to the longest caption in the batch).
        shuffle: reshuffle each epoch with `seed` (deterministic).
        augment: random shifts/brightness (training only).

    Returns:
        image float32 ``[B, S, S, 3]``, caption_in int32 ``[B, T]``, caption_out
        int32 ``[B, T]``, weights float32 ``[B, T]``.
    """
    lookup = make_lookup(vocabulary)

    def prepare(ex):
        caption_in, caption_out = _encode_caption(lookup, ex["caption"])
        return preprocess_image(ex["image"], image_size), caption_in, caption_out

    ds = raw.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(8192, seed=seed, reshuffle_each_iteration=True)
    if augment:
        counter = tf.data.Dataset.counter()
        ds = tf.data.Dataset.zip((ds, counter)).map(
            lambda x, i: (_augment(x[0], tf.stack([tf.cast(seed, tf.int64), i])), x[1], x[2]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    ds = ds.padded_batch(batch_size, padded_shapes=([image_size, image_size, 3], [None], [None]))
    ds = ds.map(
        lambda img, cin, cout: ((img, cin), cout, tf.cast(cout > 0, tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def check_sources(sources: Iterable[str] | None) -> tuple[str, ...] | None:
    """A ``data.sources`` value -> a sorted tuple of artwork sets (None: all of them).

    Raises:
        ValueError: not a non-empty list of names from `SOURCES`.
    """
    if sources is None:
        return None
    if isinstance(sources, str) or not isinstance(sources, Iterable):
        sources = [sources]
    sources = tuple(sources)
    if not sources or any(s not in SOURCES for s in sources):
        raise ValueError(
            f"Received an invalid value for argument 'sources', expected a non-empty list "
            f"of {list(SOURCES)} (or null for all), got {list(sources)!r}."
        )
    return tuple(sorted(set(sources), key=SOURCES.index))


def select_sources(raw: tf.data.Dataset, sources: Iterable[str] | None) -> tf.data.Dataset:
    """Keep the examples drawn by one of `sources` (artwork sets; None keeps all), so a
    model can be trained on one style and tested on the other."""
    sources = check_sources(sources)
    if sources is None:
        return raw
    ids = tf.constant([SOURCES.index(s) for s in sources], tf.int64)
    return raw.filter(lambda ex: tf.reduce_any(tf.equal(tf.cast(ex["source"], tf.int64), ids)))


def load_split_arrays(
    split: str,
    *,
    image_size: int = DEFAULT_IMAGE_SIZE,
    limit: int | None = None,
    dataset: str = "zoo_emoji_captions",
    sources: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A whole split in memory, in the stored order (for evaluation and the baseline);
    `sources` keeps only those artwork sets (before `limit`).

    Returns:
        ``{"images": float32 [N, S, S, 3], "captions": list[str], "emoji": list[str],
        "source": list[str]}``.
    """
    raw = select_sources(load_raw(split, dataset=dataset), sources)
    if limit is not None:
        raw = raw.take(limit)
    ds = raw.map(
        lambda ex: (
            preprocess_image(ex["image"], image_size),
            ex["caption"],
            ex["emoji"],
            ex["source"],
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).batch(256)
    images, captions, emojis, drawn_by = [], [], [], []
    for img, cap, emo, src in ds.as_numpy_iterator():
        images.append(img)
        captions += [c.decode("utf-8") for c in cap]
        emojis += [c.decode("utf-8") for c in emo]
        drawn_by += [SOURCES[int(s)] for s in src]
    empty = np.zeros((0, image_size, image_size, 3), np.float32)
    return {
        "images": np.concatenate(images) if images else empty,
        "captions": captions,
        "emoji": emojis,
        "source": drawn_by,
    }


def train_captions(
    dataset: str = "zoo_emoji_captions", sources: Iterable[str] | None = None
) -> list[str]:
    """The captions of the train split (one per image, of `sources` only if given), for
    fitting the vocabulary."""
    raw = select_sources(load_raw("train", dataset=dataset), sources)
    raw = raw.map(lambda ex: ex["caption"])
    return [c.decode("utf-8") for c in raw.as_numpy_iterator()]


def load_data(
    data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
) -> dict[str, Any]:
    """Train/validation/test pipelines and the vocabulary asset for a ``data`` config.

    ``data_cfg`` keys: ``dataset`` ("zoo_emoji_captions"), ``image_size`` (64),
    ``augment`` (False), ``max_vocab`` (None), ``min_count`` (1), ``sources`` (null =
    both artwork sets; e.g. ``[noto]`` trains, validates and tests on Noto only).

    Returns:
        ``{"train", "validation", "test": tf.data.Dataset, "assets": {"vocabulary":
        list[str]}, "info": {...}}``.
    """
    dataset = data_cfg.get("dataset", "zoo_emoji_captions")
    image_size = int(data_cfg.get("image_size", DEFAULT_IMAGE_SIZE))
    sources = check_sources(data_cfg.get("sources"))
    vocabulary = fit_vocabulary(
        train_captions(dataset, sources),
        max_tokens=data_cfg.get("max_vocab"),
        min_count=int(data_cfg.get("min_count", 1)),
    )
    out: dict[str, Any] = {"assets": {"vocabulary": vocabulary}}
    sizes = {}
    for split in SPLITS:
        raw = select_sources(load_raw(split, dataset=dataset), sources)
        if smoke:
            raw = raw.take(256 if split == "train" else 64)
        sizes[split] = int(raw.reduce(0, lambda n, _: n + 1))
        out[split] = make_pipeline(
            raw,
            vocabulary,
            batch_size=batch_size,
            image_size=image_size,
            shuffle=split == "train",
            seed=seed,
            augment=bool(data_cfg.get("augment", False)) and split == "train",
        )
    out["info"] = {
        "data_version": f"{dataset}:{ZooEmojiCaptions.VERSION}",
        "split_sizes": sizes,
        "vocabulary_size": len(vocabulary),
        "image_size": image_size,
        "artifacts": {a.filename: a.sha256 for a in (NOTO_DEB, GEMOJIONE_DEB)},
    }
    return out


def sample_images(data_cfg: dict | None = None, n: int = 3, split: str = "test") -> list[bytes]:
    """The first `n` images of a split as PNG bytes (RGBA), for demos and smoke tests."""
    dataset = (data_cfg or {}).get("dataset", "zoo_emoji_captions")
    raw = load_raw(split, dataset=dataset).take(n).map(lambda ex: ex["image"])
    return [bytes(b) for b in raw.as_numpy_iterator()]


# --------------------------------------------------------------------------------------
# info and bench


#: Names accepted by `info` (``python -m zoo data info NAME``) -> TFDS builder.
DATASET_ALIASES = {
    "emoji": "zoo_emoji_captions",
    "captioning": "zoo_emoji_captions",
    "zoo_emoji_captions": "zoo_emoji_captions",
    "flickr8k": "zoo_flickr8k",
    "zoo_flickr8k": "zoo_flickr8k",
}


def fetch_all() -> dict[str, str]:
    """Fetch and unpack the two pinned .deb files (for ``python -m zoo data fetch``)."""
    return {a.filename: str(unpack_deb(a)) for a in (NOTO_DEB, GEMOJIONE_DEB)}


def info(name: str = "zoo_emoji_captions") -> dict[str, Any]:
    """Sizes per split (images, distinct emoji or photos, per source), caption-length
    histogram and train vocabulary size. For ``python -m zoo data info emoji``
    (``flickr8k`` needs its hashes, see `zoo.data.flickr8k`)."""
    if name not in DATASET_ALIASES:
        raise ValueError(
            f"Received an invalid value for argument 'name', expected one of "
            f"{sorted(DATASET_ALIASES)}, got {name!r}."
        )
    dataset = DATASET_ALIASES[name]
    out: dict[str, Any] = {"name": dataset, "splits": {}}
    if dataset == "zoo_emoji_captions":
        out.update(
            split_by="emoji",
            split_fractions=SPLIT_FRACTIONS,
            artifacts={
                a.filename: {"sha256": a.sha256, "license": a.license}
                for a in (NOTO_DEB, GEMOJIONE_DEB)
            },
        )
    for split in SPLITS:
        raw = load_raw(split, dataset=dataset)
        raw = raw.map(lambda ex: (ex["caption"], ex["emoji"], ex["source"]))
        rows = [(c.decode(), e.decode(), SOURCES[int(s)]) for c, e, s in raw.as_numpy_iterator()]
        lengths = Counter()
        if rows:
            tokens = tf.strings.split(standardize(tf.constant([c for c, _, _ in rows])))
            lengths = Counter(tokens.row_lengths().numpy().tolist())
        key = "emoji" if dataset == "zoo_emoji_captions" else "images"
        out["splits"][split] = {
            "examples": len(rows),
            key: len({e for _, e, _ in rows}),
            "caption_length_histogram": dict(sorted(lengths.items())),
        }
        if dataset == "zoo_emoji_captions":
            out["splits"][split]["per_source"] = dict(Counter(s for _, _, s in rows))
    out["vocabulary_size_train"] = len(fit_vocabulary(train_captions(dataset)))
    return out


def bench(
    *, batch_size: int = 64, batches: int = 50, image_size: int = DEFAULT_IMAGE_SIZE
) -> dict[str, float]:
    """Examples/second of the training pipeline (decode + resize + lookup), uncached
    first pass and cached second pass. For ``python -m zoo bench data``."""
    vocabulary = fit_vocabulary(train_captions())
    raw = load_raw("train")
    result = {}
    for label, cache in (("first_pass", False), ("cached", True)):
        ds = make_pipeline(
            raw, vocabulary, batch_size=batch_size, image_size=image_size, shuffle=True, cache=cache
        )
        if cache:
            for _ in ds:  # fill the cache
                pass
        n, start = 0, time.perf_counter()
        for (img, _), _, _ in ds.repeat().take(batches):
            n += int(img.shape[0])
        result[f"{label}_examples_per_second"] = n / (time.perf_counter() - start)
    result["batch_size"] = batch_size
    return result


__all__ = [
    "DATASET_ALIASES",
    "DEFAULT_IMAGE_SIZE",
    "END_ID",
    "MAX_CAPTION_TOKENS",
    "START_ID",
    "fetch_all",
    "GEMOJIONE_DEB",
    "NOTO_DEB",
    "SPECIAL_TOKENS",
    "SOURCES",
    "SPLIT_FRACTIONS",
    "SPLITS",
    "ZooEmojiCaptions",
    "bench",
    "caption_of",
    "check_sources",
    "detokenize",
    "fit_vocabulary",
    "info",
    "load_data",
    "load_raw",
    "load_split_arrays",
    "make_lookup",
    "make_pipeline",
    "preprocess_array",
    "preprocess_image",
    "sample_images",
    "select_sources",
    "split_of",
    "standardize",
    "tokenize",
    "unpack_deb",
]
