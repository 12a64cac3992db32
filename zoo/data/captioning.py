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

`info(name)` and `bench(...)` back ``python -m zoo data info`` / ``bench data``.
The Flickr8k loader for users with internet is in `zoo.data.flickr8k`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo._io import atomic_dir
from zoo.data import flickr8k  # noqa: F401 - registers the zoo_flickr8k TFDS builder
from zoo.data.sources import Artifact, fetch, zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE

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

PAD, UNK, START, END = "", "[UNK]", "<start>", "<end>"
SPECIAL_TOKENS = (PAD, UNK, START, END)
START_ID, END_ID = 2, 3
DEFAULT_IMAGE_SIZE = 64
#: Longest caption in tokens (the emoji names have at most 11) + room; decoding limit.
MAX_CAPTION_TOKENS = 16

_ZWJ, _VS16 = "\u200d", "\ufe0f"


# --------------------------------------------------------------------------------------
# raw sources


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


# --------------------------------------------------------------------------------------
# TFDS builder


class ZooEmojiCaptions(tfds.core.GeneratorBasedBuilder):
    """Emoji captioning: Noto Color Emoji + EmojiOne 2 pictures, CLDR names as captions."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Noto 2.042 + EmojiOne 2 (gemojione 3.3.0), split by emoji 80/10/10."}
    # No TFDS download checksums file: bytes are verified by zoo.data.sources. (Also
    # avoids TFDS 4.9's lookup of its code path, which needs `importlib_resources`.)
    url_infos = None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__.split("\n\n")[1],
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


# --------------------------------------------------------------------------------------
# images


def preprocess_image(encoded: tf.Tensor, image_size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """Encoded image bytes -> the model's input.

    Args:
        encoded: scalar tf.string, PNG/JPEG/GIF (first frame)/BMP bytes; any size,
            1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels.
        image_size: side of the square output.

    Returns:
        float32 ``[image_size, image_size, 3]`` in [0, 1]: alpha composited on white,
        padded to a square with white, area-resized.

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not an image (message says so).
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    magic = tf.strings.substr(encoded, 0, 4)
    known = tf.reduce_any(
        [
            tf.strings.substr(encoded, 0, 8) == b"\x89PNG\r\n\x1a\n",
            tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff",
            magic == b"GIF8",
            tf.strings.substr(encoded, 0, 2) == b"BM",
        ]
    )
    with tf.control_dependencies(
        [
            tf.debugging.Assert(
                known,
                [
                    "captioning: the input bytes are not a PNG, JPEG, GIF or BMP image; "
                    "first bytes:",
                    tf.strings.substr(encoded, 0, 8),
                ],
            )
        ]
    ):
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
    return _to_model_input(image, image_size)


def preprocess_array(image: tf.Tensor, image_size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """A decoded image ``[H, W]`` or ``[H, W, C]`` (C in 1..4; uint8 0..255 or float 0..1)
    -> float32 ``[image_size, image_size, 3]`` in [0, 1], like `preprocess_image`."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., None]
    if image.dtype != tf.uint8:
        image = tf.cast(
            tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0) * 255.0 + 0.5, tf.uint8
        )
    return _to_model_input(image, image_size)


def _to_model_input(image: tf.Tensor, image_size: int) -> tf.Tensor:
    image = tf.cast(image, tf.float32) / 255.0
    channels = tf.shape(image)[-1]
    tf.debugging.assert_less_equal(channels, 4, message="captioning: an image has > 4 channels")
    # Gray -> RGB, and an alpha channel (if any) composited on white.
    color = tf.cond(
        channels <= 2, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3]
    )
    alpha = tf.cond(
        tf.equal(channels % 2, 0), lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1])
    )
    rgb = color * alpha + (1.0 - alpha)
    # Pad to a square with white (pad the complement with zeros), then resize.
    h, w = tf.shape(rgb)[0], tf.shape(rgb)[1]
    side = tf.maximum(h, w)
    inv = tf.image.pad_to_bounding_box(1.0 - rgb, (side - h) // 2, (side - w) // 2, side, side)
    square = 1.0 - inv
    out = tf.image.resize(square[None], [image_size, image_size], method="area")[0]
    out = tf.clip_by_value(out, 0.0, 1.0)
    out.set_shape([image_size, image_size, 3])
    return out


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


def load_split_arrays(
    split: str,
    *,
    image_size: int = DEFAULT_IMAGE_SIZE,
    limit: int | None = None,
    dataset: str = "zoo_emoji_captions",
) -> dict[str, Any]:
    """A whole split in memory, in the stored order (for evaluation and the baseline).

    Returns:
        ``{"images": float32 [N, S, S, 3], "captions": list[str], "emoji": list[str],
        "source": list[str]}``.
    """
    raw = load_raw(split, dataset=dataset)
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
    images, captions, emojis, sources = [], [], [], []
    for img, cap, emo, src in ds.as_numpy_iterator():
        images.append(img)
        captions += [c.decode("utf-8") for c in cap]
        emojis += [c.decode("utf-8") for c in emo]
        sources += [SOURCES[int(s)] for s in src]
    empty = np.zeros((0, image_size, image_size, 3), np.float32)
    return {
        "images": np.concatenate(images) if images else empty,
        "captions": captions,
        "emoji": emojis,
        "source": sources,
    }


def train_captions(dataset: str = "zoo_emoji_captions") -> list[str]:
    """The captions of the train split (one per image), for fitting the vocabulary."""
    raw = load_raw("train", dataset=dataset).map(lambda ex: ex["caption"])
    return [c.decode("utf-8") for c in raw.as_numpy_iterator()]


def load_datasets(
    data_cfg: dict, *, batch_size: int, seed: int = 0, smoke: bool = False
) -> dict[str, Any]:
    """Train/validation/test pipelines and the vocabulary asset for a ``data`` config.

    ``data_cfg`` keys: ``dataset`` ("zoo_emoji_captions"), ``image_size`` (64),
    ``augment`` (False), ``max_vocab`` (None), ``min_count`` (1).

    Returns:
        ``{"train", "validation", "test": tf.data.Dataset, "assets": {"vocabulary":
        list[str]}, "info": {...}}``.
    """
    dataset = data_cfg.get("dataset", "zoo_emoji_captions")
    image_size = int(data_cfg.get("image_size", DEFAULT_IMAGE_SIZE))
    vocabulary = fit_vocabulary(
        train_captions(dataset),
        max_tokens=data_cfg.get("max_vocab"),
        min_count=int(data_cfg.get("min_count", 1)),
    )
    out: dict[str, Any] = {"assets": {"vocabulary": vocabulary}}
    sizes = {}
    for split in SPLITS:
        raw = load_raw(split, dataset=dataset)
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
    "fetch_all",
    "GEMOJIONE_DEB",
    "NOTO_DEB",
    "SPECIAL_TOKENS",
    "SPLITS",
    "ZooEmojiCaptions",
    "bench",
    "caption_of",
    "detokenize",
    "fit_vocabulary",
    "info",
    "load_datasets",
    "load_raw",
    "load_split_arrays",
    "make_lookup",
    "make_pipeline",
    "preprocess_array",
    "preprocess_image",
    "sample_images",
    "split_of",
    "standardize",
    "tokenize",
    "unpack_deb",
]
