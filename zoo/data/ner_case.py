"""Casing augmentation for NER training: some train sentences re-cased as people type them.

CoNLL-2003 is edited newswire: names are capitalised, so a tagger learns "capital letter
= entity" and finds nothing in ``john smith lives in paris``. Re-casing a fraction of the
train sentences (Mayhew et al. 2019, "ner and pos when nothing is capitalized") teaches it
to read the words and their context as well. What the model sees of a re-cased sentence:

* words: unchanged ids (the word vocabulary is lower-cased, `zoo.data.ner`), so GloVe
  vectors and the learned embedding carry over as they are;
* chars: the re-cased characters (the character vocabulary is case-sensitive);
* casing: recomputed from the re-cased tokens (`zoo.data.ner.casing_ids` runs after this).

Tags are never touched. Only the train pipeline calls `augment_case`; validation and test
stay as written.

Config: ``data.case_augmentation: {lower: 0.3, upper: 0.05, title: 0.0}``, the probability
that a sentence is re-cased in that mode (mutually exclusive, summing to at most 1; the rest
stays as written). Modes: ``lower`` (``john smith``), ``upper`` (``JOHN SMITH``), ``title``
(``John Smith Lives In Paris``).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from zoo import config

__all__ = ["MODES", "augment_case", "check_case_augmentation", "recase"]

#: Re-casing modes, in the order their probabilities are stacked.
MODES = ("lower", "upper", "title")


def check_case_augmentation(value: Any, key: str = "case_augmentation", section: str = "data"):
    """``None`` (off) or ``{mode: probability}`` with every mode of `MODES` present;
    `zoo.config.ConfigError` naming the key, the value and what is allowed otherwise."""
    if value is None:
        return None
    return config.probabilities(value, MODES, key, section)


def recase(tokens: tf.Tensor, mode: str) -> tf.Tensor:
    """Re-case UTF-8 tokens in one mode.

    Args:
        tokens: tf.string, any shape.
        mode: one of `MODES`; ``title`` upper-cases a token's first character and
            lower-cases the rest.
    Returns:
        tf.string, same shape.
    """
    if mode == "lower":
        return tf.strings.lower(tokens, encoding="utf-8")
    if mode == "upper":
        return tf.strings.upper(tokens, encoding="utf-8")
    if mode == "title":
        first = tf.strings.substr(tokens, 0, 1, unit="UTF8_CHAR")
        length = tf.strings.length(tokens, unit="UTF8_CHAR")
        start = tf.minimum(length, 1)  # position 1 is out of range for ""
        rest = tf.strings.substr(tokens, start, length - start, unit="UTF8_CHAR")
        return tf.strings.upper(first, encoding="utf-8") + tf.strings.lower(rest, encoding="utf-8")
    raise ValueError(
        f"Received an invalid value for argument 'mode', expected one of {list(MODES)}, "
        f"got {mode!r}."
    )


def augment_case(dataset: tf.data.Dataset, rates: dict | None, seed: int) -> tf.data.Dataset:
    """Re-case whole sentences of `dataset` at random, per sentence.

    Deterministic given `seed`: the draws come from ``tf.data.Dataset.random(seed)`` zipped
    with the sentences, re-drawn (deterministically) on every pass of the dataset, so the
    same sentence is cased differently in different epochs and a rerun sees the same.

    Args:
        dataset: elements ``{"tokens": tf.string [T], "tags": ...}`` (one sentence each,
            other keys passed through).
        rates: ``{mode: probability}`` (see `check_case_augmentation`); None or all zero
            returns `dataset` unchanged.
        seed: the training seed.
    Returns:
        The same elements, ``tokens`` re-cased for the drawn sentences.
    """
    rates = check_case_augmentation(rates)
    if not rates or not any(rates.values()):
        return dataset
    bounds = tf.constant(
        [sum(rates[m] for m in MODES[: i + 1]) for i in range(len(MODES))], tf.float32
    )
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def apply(example, draw):
        u = tf.cast(draw % 1_000_000, tf.float32) / 1_000_000.0  # uniform in [0, 1)
        mode = tf.reduce_sum(tf.cast(u >= bounds, tf.int32))  # 0..2 = MODES[i]; 3 = as is
        tokens = example["tokens"]
        branches = [lambda m=m: recase(tokens, m) for m in MODES] + [lambda: tokens]
        return {**example, "tokens": tf.switch_case(mode, branches)}

    return tf.data.Dataset.zip((dataset, draws)).map(
        apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
