"""Spanish -> English sentence pairs (Tatoeba via manythings.org/anki): TFDS builder + pipeline.

Source: ``spa-eng.zip`` (the file of the TensorFlow "NMT with attention" tutorial),
``spa-eng/spa.txt`` = 118,964 lines ``English<TAB>Spanish``. CC-BY 2.0 (tatoeba.org,
manythings.org/anki).

Splits (builder ``zoo_spa_eng``, fixed and documented, independent of any training seed)::

    perm = numpy.random.default_rng(0).permutation(118964)   # line indices, 0-based
    test       = perm[:2379]        # 2% (round(0.02 * 118964)), the held-out test split
    validation = perm[2379:4758]    # another 2%, carved from the remaining 98%
    train      = perm[4758:]        # 114,206 pairs

Each example: ``{"index": int32 line index, "es": Spanish text, "en": English text}``.

Tokenization (in-graph, `tf.strings` ops only, so it runs in a SavedModel):

* `standardize_source`: Unicode lower-case, accents KEPT ("está" != "esta"),
  ``¿ ¡ " ( ) « » — … % $ €`` split off as tokens, ``. , ! ? ; :`` split off when they
  end a word (so "2:30", "p.m.", "3.5" stay whole; "..." is one token), odd spaces
  (NBSP, zero-width) folded into blanks.
* `standardize_target`: the same but CASE KEPT (the model writes cased English); words
  with apostrophes ("don't", "Tom's") stay one token.
* `detokenize` (the inverse used on model output) re-attaches punctuation: no space
  before ``. , ! ? ; : % ) …``, none after ``( $``, and ``" a b "`` -> ``"a b"``.

Pipeline (`load_data`): vocabularies fitted with Keras `TextVectorization.adapt` on
the TRAIN split only (returned as assets ``source_vocabulary``/``target_vocabulary``,
index 0 = padding ``""``, 1 = ``[UNK]``; the target vocabulary also has ``[START]`` = 2
and ``[END]`` = 3), vectorization inside `tf.data`, ``source`` truncated to
``max_source_length`` tokens, ``target_in = [START] + target`` and
``target_out = target + [END]`` (truncated to ``max_target_length`` tokens), cached,
seeded shuffle, length-bucketed batches (`tf.data.Dataset.bucket_by_sequence_length`),
``prefetch(AUTOTUNE)``.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections import Counter
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import config
from zoo.data.sources import Artifact, fetch, zoo_home
from zoo.data.tfds_read import NO_AUTOCACHE
from zoo.data.translation_names import substitute_names

ARTIFACT = Artifact(
    filename="spa-eng.zip",
    sha256="f80e581ae291aa34dd3aba7bd98b5e9505234da4318e2f3295df70a1520c7f61",
    url="http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip",
    size=2_767_131,
    license="CC-BY 2.0 (attribution: tatoeba.org and manythings.org/anki)",
)
MEMBER = "spa-eng/spa.txt"
NUM_PAIRS = 118_964
SPLIT_SEED = 0
TEST_FRACTION = 0.02
VALIDATION_FRACTION = 0.02

PAD, UNK, START, END = "", "[UNK]", "[START]", "[END]"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3

#: Defaults of the ``data`` config section.
DEFAULTS: dict[str, Any] = {
    "dataset": "spa_eng",
    "source_vocab_size": 12000,  # including "" and [UNK]
    "target_vocab_size": 10000,  # including "", [UNK], [START], [END]
    "max_source_length": 64,  # tokens; longer inputs are truncated (train, eval, serving)
    "max_target_length": 64,  # tokens of target (without [START]/[END]) kept in training
    "bucket_boundaries": [6, 8, 10, 12, 15, 20, 30],
    # tokens with a digit stay out of both vocabularies: numbers are [UNK] in the source
    # and in the training targets, so the model learns where a number goes and the
    # unknown-word copy (`zoo.tasks.translation.copy`) writes the source's number there
    "copy_numbers": False,
    # the fraction of training pairs whose shared names ("Tom", "Boston") become made-up
    # names outside both vocabularies, so the model learns to write [UNK] where an unknown
    # name goes and the copy keeps it (`zoo.data.translation_names`); seeded by train.seed
    "name_substitution": 0.0,
}
DATA_KEYS = set(DEFAULTS)


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


#: always split off as tokens
_ALWAYS = r'([¿¡"()«»—…%$€])'
#: split off only before a blank or the end, so "2:30", "p.m.", "3.5", "1,000" stay whole
_FINAL = r"([.,!?;:])( |$)"
#: blanks: ASCII whitespace, Unicode separators (no-break space...), control characters
#: (NUL, tabs) and the zero-width space
_SPACES = r"[\s\p{Z}\p{Cc}\x{200b}]+"


# --------------------------------------------------------------------------------------
# tokenization (tf ops only)


def _split_punct(text: tf.Tensor) -> tf.Tensor:
    text = tf.strings.regex_replace(text, _SPACES, " ")
    text = tf.strings.regex_replace(text, _ALWAYS, r" \1 ")
    for _ in range(3):  # "Wait...?!" needs one pass per trailing mark
        text = tf.strings.regex_replace(text, _FINAL, r" \1 ")
    text = tf.strings.regex_replace(text, " +", " ")
    text = tf.strings.regex_replace(text, r"\. \. \.", "...")
    return tf.strings.strip(text)


def standardize_source(text: tf.Tensor) -> tf.Tensor:
    """Spanish text -> space-separated lower-cased tokens. ``string[...]`` -> ``string[...]``."""
    # Blanks first: `tf.strings.lower(..., encoding="utf-8")` cuts a string at a NUL.
    text = tf.strings.regex_replace(text, _SPACES, " ")
    return _split_punct(tf.strings.lower(text, encoding="utf-8"))


def standardize_target(text: tf.Tensor) -> tf.Tensor:
    """English text -> space-separated cased tokens. ``string[...]`` -> ``string[...]``."""
    return _split_punct(text)


def detokenize(joined: tf.Tensor) -> tf.Tensor:
    """Space-joined English tokens -> readable text. ``string[...]`` -> ``string[...]``."""
    text = tf.strings.regex_replace(joined, r" ([.,!?;:%)…])", r"\1")
    text = tf.strings.regex_replace(text, r"([($]) ", r"\1")
    text = tf.strings.regex_replace(text, r'" ([^"]*?) "', r'"\1"')
    return tf.strings.strip(text)


# --------------------------------------------------------------------------------------
# raw pairs and the TFDS builder


def read_pairs(path=None) -> list[tuple[str, str]]:
    """All ``(english, spanish)`` pairs of ``spa.txt`` in file order (118,964).

    Raises ValueError naming the file and the 1-based line number of a malformed line.
    """
    path = fetch(ARTIFACT) if path is None else path
    with zipfile.ZipFile(path) as zf:
        raw = zf.read(MEMBER)
    pairs = []
    for lineno, line in enumerate(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != 2 or not cols[0].strip() or not cols[1].strip():
            raise ValueError(
                f"{path}:{MEMBER}: line {lineno}: expected 'English<TAB>Spanish', got "
                f"{len(cols)} tab-separated field(s): {line[:80]!r}"
            )
        pairs.append((cols[0], cols[1]))
    return pairs


def split_indices(n: int = NUM_PAIRS, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Line indices of each split (see the module docstring), each sorted ascending."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    n_val = int(round(VALIDATION_FRACTION * n))
    return {
        "test": np.sort(perm[:n_test]),
        "validation": np.sort(perm[n_test : n_test + n_val]),
        "train": np.sort(perm[n_test + n_val :]),
    }


class ZooSpaEng(tfds.core.GeneratorBasedBuilder):
    """Tatoeba Spanish-English pairs with the zoo's fixed 2% test / 2% validation split."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "spa-eng.zip (2018-05-13 export), seed-0 split."}

    # TFDS looks for a checksums file beside the builder's code, which needs the optional
    # `importlib_resources` package; the zoo checks sha256 itself (zoo.data.sources).
    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        return None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "index": tfds.features.Scalar(dtype=np.int32),
                    "es": tfds.features.Text(),
                    "en": tfds.features.Text(),
                }
            ),
            supervised_keys=("es", "en"),
            homepage="https://www.manythings.org/anki/",
            license=ARTIFACT.license,
        )

    def _split_generators(self, dl_manager):
        pairs = read_pairs()
        if len(pairs) != NUM_PAIRS:
            raise ValueError(f"{ARTIFACT.filename}: expected {NUM_PAIRS} pairs, got {len(pairs)}")
        return {
            name: self._generate_examples(pairs, idx)
            for name, idx in split_indices(len(pairs)).items()
        }

    def _generate_examples(self, pairs, indices):
        for i in indices:
            en, es = pairs[int(i)]
            yield int(i), {"index": int(i), "es": es, "en": en}


def data_dir() -> str:
    """TFDS data directory of the zoo: ``zoo_home()/tensorflow_datasets``."""
    return str(zoo_home() / "tensorflow_datasets")


def load_split(split: str) -> tf.data.Dataset:
    """One split of ``zoo_spa_eng`` as a dataset of ``{"index", "es", "en"}`` (built on
    first use from the pinned artifact, offline)."""
    if split not in ("train", "validation", "test"):
        raise ValueError(
            "Received an invalid value for argument 'split', expected one of "
            f"['train', 'validation', 'test'], got {split!r}."
        )
    return tfds.load(
        "zoo_spa_eng",
        split=split,
        data_dir=data_dir(),
        shuffle_files=False,
        read_config=NO_AUTOCACHE,
    )


def split_texts(split: str, limit: int | None = None) -> tuple[list[str], list[str]]:
    """``(spanish, english)`` lists of Python strings of a split, in index order."""
    es, en = [], []
    for ex in load_split(split).as_numpy_iterator():
        es.append(ex["es"].decode("utf-8"))
        en.append(ex["en"].decode("utf-8"))
        if limit is not None and len(es) >= limit:
            break
    return es, en


# --------------------------------------------------------------------------------------
# vocabularies and vectorization


def data_config(data_cfg: dict | None) -> dict:
    """`DEFAULTS` updated with `data_cfg`; unknown keys and bad values raise ValueError."""
    cfg = dict(DEFAULTS)
    cfg.update(config.check_keys("data", dict(data_cfg or {}), DATA_KEYS))
    config.one_of(cfg["dataset"], ("spa_eng",), "dataset", "data")
    for key in ("source_vocab_size", "target_vocab_size", "max_source_length", "max_target_length"):
        v = cfg[key]
        if config.positive_int(v, key, "data") < 8:
            raise config.ConfigError(
                f"invalid value for 'data.{key}': {v!r}; expected an integer >= 8."
            )
    config.boolean(cfg["copy_numbers"], "copy_numbers", "data")
    config.rate(cfg["name_substitution"], "name_substitution", "data")
    return cfg


def fit_vocabularies(
    train_es, train_en, source_vocab_size: int, target_vocab_size: int, copy_numbers=False
) -> dict[str, list[str]]:
    """Fit both vocabularies with `TextVectorization.adapt` on TRAIN texts only.

    With `copy_numbers`, no token with a digit enters either vocabulary (the next most
    frequent words take their places; see ``DEFAULTS["copy_numbers"]``).

    Returns ``{"source_vocabulary": [...], "target_vocabulary": [...]}`` (lists of str,
    most frequent first; source ``["", "[UNK]", ...]``, target
    ``["", "[UNK]", "[START]", "[END]", ...]``).
    """
    import keras

    def fit(texts, standardize, size):
        layer = keras.layers.TextVectorization(
            max_tokens=None if copy_numbers else size, standardize=standardize, split="whitespace"
        )
        layer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024))
        vocabulary = [str(t) for t in layer.get_vocabulary()]
        if copy_numbers:
            vocabulary = vocabulary[:2] + [t for t in vocabulary[2:] if not _has_digit(t)]
        return vocabulary[:size]

    src = fit(train_es, standardize_source, source_vocab_size)
    tgt = fit(train_en, standardize_target, target_vocab_size - 2)
    tgt = [PAD, UNK, START, END] + [t for t in tgt[2:] if t not in (START, END)]
    return {"source_vocabulary": src, "target_vocabulary": tgt}


def make_vectorizers(assets: dict):
    """``(source, target)`` Keras `TextVectorization` layers from the vocabulary assets;
    each maps ``string[batch]`` -> ragged ``int64[batch, (tokens)]``."""
    import keras

    src = keras.layers.TextVectorization(
        vocabulary=assets["source_vocabulary"],
        standardize=standardize_source,
        split="whitespace",
        ragged=True,
        name="source_vectorizer",
    )
    tgt = keras.layers.TextVectorization(
        vocabulary=assets["target_vocabulary"],
        standardize=standardize_target,
        split="whitespace",
        ragged=True,
        name="target_vectorizer",
    )
    return src, tgt


def _vectorize_fn(assets: dict, cfg: dict):
    src_vec, tgt_vec = make_vectorizers(assets)
    max_src, max_tgt = cfg["max_source_length"], cfg["max_target_length"]

    def fn(batch):
        src = src_vec(batch["es"])[:, :max_src]
        tgt = tgt_vec(batch["en"])[:, :max_tgt]
        n = tgt.nrows()
        start = tf.RaggedTensor.from_tensor(tf.fill(tf.stack([n, 1]), tf.cast(START_ID, tgt.dtype)))
        end = tf.RaggedTensor.from_tensor(tf.fill(tf.stack([n, 1]), tf.cast(END_ID, tgt.dtype)))
        tgt_in = tf.concat([start, tgt], axis=1)
        tgt_out = tf.concat([tgt, end], axis=1)
        return src, tgt_in, tgt_out

    return fn


def _to_examples(ds: tf.data.Dataset, assets: dict, cfg: dict) -> tf.data.Dataset:
    """Raw ``{"es","en"}`` -> unbatched ``((source, target_in), target_out)`` int32 vectors."""
    fn = _vectorize_fn(assets, cfg)

    def vec(batch):
        src, tgt_in, tgt_out = fn(batch)
        return (tf.cast(src, tf.int32), tf.cast(tgt_in, tf.int32)), tf.cast(tgt_out, tf.int32)

    def dense(inputs, target):  # unbatched ragged rows are plain vectors
        return (tf.identity(inputs[0]), tf.identity(inputs[1])), tf.identity(target)

    return ds.batch(1024).map(vec, num_parallel_calls=tf.data.AUTOTUNE).unbatch().map(dense)


def _bucketed(ds, batch_size, boundaries):
    def length(inputs, target):
        return tf.maximum(tf.shape(inputs[0])[0], tf.shape(target)[0])

    return ds.bucket_by_sequence_length(
        element_length_func=length,
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=(([None], [None]), [None]),
        drop_remainder=False,
    )


def load_data(
    data_cfg: dict | None, *, batch_size: int, seed: int = 0, smoke: bool = False
) -> dict[str, Any]:
    """Train / validation / test pipelines and the vocabulary assets.

    Returns ``{"train", "validation", "test": tf.data.Dataset, "assets": dict, "info": dict}``;
    each dataset yields ``((source int32[batch, Ts], target_in int32[batch, Tt]),
    target_out int32[batch, Tt])``, zero-padded. Train: cached, shuffled with `seed`
    (deterministic), length-bucketed. Validation/test: in index order, length-bucketed
    (the order of batches is deterministic). `smoke=True`: 512 / 128 / 128 examples.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "Received an invalid value for argument 'batch_size', expected a positive "
            f"integer, got {batch_size!r}."
        )
    cfg = data_config(data_cfg)
    limits = {"train": 512, "validation": 128, "test": 128} if smoke else {}
    raw = {s: load_split(s) for s in ("train", "validation", "test")}
    raw = {s: (d.take(limits[s]) if s in limits else d) for s, d in raw.items()}
    train_es, train_en = [], []
    for batch in raw["train"].batch(4096).as_numpy_iterator():
        train_es.extend(t.decode("utf-8") for t in batch["es"])
        train_en.extend(t.decode("utf-8") for t in batch["en"])
    assets = fit_vocabularies(
        train_es,
        train_en,
        cfg["source_vocab_size"],
        cfg["target_vocab_size"],
        copy_numbers=cfg["copy_numbers"],
    )
    substitution = None
    if cfg["name_substitution"]:
        train_es, train_en, substitution = substitute_names(
            train_es,
            train_en,
            cfg["name_substitution"],
            seed=seed,
            tokenize=_cased_tokens,
            vocabularies=assets,
        )
        raw["train"] = tf.data.Dataset.from_tensor_slices({"es": train_es, "en": train_en})
    out: dict[str, Any] = {}
    for split, ds in raw.items():
        ds = _to_examples(ds, assets, cfg).cache()
        if split == "train":
            ds = ds.shuffle(min(len(train_es), 20000), seed=seed, reshuffle_each_iteration=True)
        ds = _bucketed(ds, batch_size, cfg["bucket_boundaries"])
        out[split] = ds.prefetch(tf.data.AUTOTUNE)
    out["assets"] = assets
    out["info"] = {
        "dataset": "zoo_spa_eng",
        "data_version": f"zoo_spa_eng:{ZooSpaEng.VERSION} ({ARTIFACT.filename} sha256 "
        f"{ARTIFACT.sha256[:12]})",
        "split": f"seed {SPLIT_SEED}: test {TEST_FRACTION:.0%}, validation "
        f"{VALIDATION_FRACTION:.0%}, train rest",
        "train_examples": len(train_es),
        "source_vocabulary_size": len(assets["source_vocabulary"]),
        "target_vocabulary_size": len(assets["target_vocabulary"]),
        "smoke": smoke,
    }
    if substitution:
        out["info"]["name_substitution"] = substitution
    return out


def _cased_tokens(texts: list[str]) -> list[list[str]]:
    lines = standardize_target(tf.constant(texts, tf.string)).numpy() if texts else []
    return [line.decode("utf-8").split() for line in lines]


# --------------------------------------------------------------------------------------
# info and bench


def info(name: str = "spa_eng") -> dict:
    """Sizes per split, token-length histograms (source and target) and the most
    frequent target tokens, for ``python -m zoo data info spa_eng``."""
    if name not in ("spa_eng", "zoo_spa_eng"):
        raise ValueError(
            f"Received an invalid value for argument 'name', expected 'spa_eng', got {name!r}."
        )
    result: dict[str, Any] = {
        "name": "zoo_spa_eng",
        "source": ARTIFACT.url,
        "sha256": ARTIFACT.sha256,
        "license": ARTIFACT.license,
        "splits": {},
    }
    edges = [0, 5, 10, 15, 20, 30, 40, 60, 1000]
    for split in ("train", "validation", "test"):
        es, en = split_texts(split)
        src_len = [len(t.split()) for t in standardize_source(tf.constant(es)).numpy()]
        tgt_len = [len(t.split()) for t in standardize_target(tf.constant(en)).numpy()]
        hist = {}
        for key, lens in (("source_tokens", src_len), ("target_tokens", tgt_len)):
            counts, _ = np.histogram(lens, bins=edges)
            hist[key] = {f"{lo}-{hi - 1}": int(c) for lo, hi, c in zip(edges, edges[1:], counts)}
        entry = {
            "examples": len(es),
            "length_histogram": hist,
            "mean_source_tokens": float(np.mean(src_len)),
            "mean_target_tokens": float(np.mean(tgt_len)),
        }
        if split == "train":
            counts = Counter(
                t
                for line in standardize_target(tf.constant(en)).numpy()
                for t in line.decode("utf-8").split()
            )
            entry["target_token_types"] = len(counts)
            entry["top_target_tokens"] = counts.most_common(20)
        result["splits"][split] = entry
    return result


def bench(batch_size: int = 64, batches: int = 200, seed: int = 0) -> dict:
    """Examples/second of the training pipeline (after the first, caching epoch)."""
    data = load_data({}, batch_size=batch_size, seed=seed)
    ds = data["train"]
    for _ in ds:  # first pass fills the cache
        pass
    n, t0 = 0, time.perf_counter()
    for i, ((src, _), _) in enumerate(ds):
        n += int(src.shape[0])
        if i + 1 >= batches:
            break
    seconds = time.perf_counter() - t0
    return {
        "dataset": "zoo_spa_eng",
        "batch_size": batch_size,
        "examples": n,
        "seconds": seconds,
        "examples_per_second": n / seconds,
    }


__all__ = [
    "ARTIFACT",
    "DEFAULTS",
    "END",
    "END_ID",
    "NUM_PAIRS",
    "PAD",
    "PAD_ID",
    "START",
    "START_ID",
    "UNK",
    "UNK_ID",
    "ZooSpaEng",
    "bench",
    "data_config",
    "detokenize",
    "fit_vocabularies",
    "info",
    "load_split",
    "load_data",
    "make_vectorizers",
    "read_pairs",
    "split_indices",
    "split_texts",
    "standardize_source",
    "standardize_target",
]
