"""Calibrated confidence for captions, and the "no confident caption" answer.

**What "right" means.** A caption is *right* when its token F1 with the emoji's CLDR
name, or with one of its aliases, is at least `RIGHT_F1` (0.75): a wrong shade of
skin tone in a six-word name is right, a wrong gender in a three-word name is not
(tokens as the task tokenizes captions, `zoo.data.captioning.tokenize`).

**Features per image** (`FEATURES`), from the beam caption the runtime returns:

* ``mean_log_prob``: the caption's mean token log-probability, ``<end>`` included
  (the model re-scores its own caption with teacher forcing; the sum equals the beam
  score);
* ``min_log_prob``: the log-probability of its least likely token;
* ``ood``: how far the image's pooled encoder features are from the training images'
  features, a Mahalanobis distance under probabilistic PCA (`OOD_COMPONENTS` principal
  directions plus an isotropic rest: 70 kB of JSON for 256 features, where the full
  covariance would take 600 kB).

**Calibration.** A logistic regression (Platt scaling) of "right" on the standardised
features, fitted on the validation split; a feature whose fitted weight has the wrong
sign (confidence must rise with log-probability and fall with ``ood``) is dropped and
the fit repeated, so the map is monotone in every feature. An image whose ``ood`` is
beyond every validation image's (``ood_limit``) gets confidence 0: the fit has seen
nothing like it, and the in-distribution link between ``ood`` and rightness is too
weak to carry it there (caption_lstm_noto_only's fit drops ``ood``, and noise then gets
confidence 0.33 from a fluent nonsense caption). ``no_caption_below`` is the
confidence that 95% of the right validation captions reach (`KEEP_RIGHT`); below it the
runtime answers `NO_CAPTION`.

The statistics live in the preset as ``assets/calibration.json`` (sha256-verified like
every preset file), written by ``python -m zoo calibrate NAME --write``
(`zoo.tasks.captioning.calibrate`).

**Measured** (``python -m zoo calibrate caption_lstm_emoji``; test split, 599 images):
ECE 0.033 (10 bins), AUROC of confidence for right vs wrong 0.917, 24.7% of captions
right and mean confidence 25.7%; "no confident caption" on 59.9% of the test images,
55.8% right where it answers (24.7% overall); 100% of 64 noise images and of 60 drawings
get "no confident caption" (OOD AUROC of ``ood`` 1.000 for noise, 0.696 for drawings).
Held-out style, `configs/experiments/caption_lstm_noto_only_40ep.yaml` (trained on Noto
only): Noto test BLEU-4 35.6, ECE 0.052, AUROC 0.899, no caption 43.3%; EmojiOne
pictures of the same test emoji BLEU-4 5.7, 0.5% right but mean confidence 7.9%, ECE
0.074, AUROC 0.754, no caption 68.1% (1.5% right where it answers); ``ood`` tells the
two styles apart with AUROC 0.63 only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import tensorflow as tf

from zoo.data import captioning as cdata

NO_CAPTION = "no confident caption"
FEATURES = ("mean_log_prob", "min_log_prob", "ood")
#: The sign a feature's weight must have: confidence rises or falls with it.
FEATURE_SIGNS = {"mean_log_prob": 1.0, "min_log_prob": 1.0, "ood": -1.0}
RIGHT_F1 = 0.75
KEEP_RIGHT = 0.95
OOD_COMPONENTS = 32
ECE_BINS = 10


# -- features -----------------------------------------------------------------------------
def caption_log_probs(model, images: tf.Tensor, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The model's log-probabilities of its own captions (teacher forcing, one pass).

    Args:
        model: a `CaptioningModel`.
        images: float32 ``[B, S, S, 3]`` in [0, 1].
        ids: int ``[B, L]`` generated tokens (``<end>`` then padding 0, as the decoders
            return them; a caption without ``<end>`` uses all L tokens).

    Returns:
        mean and min token log-probability float32 ``[B]`` over the caption's tokens,
        ``<end>`` included.
    """
    ids = tf.cast(ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    caption_in = tf.concat([tf.fill([batch, 1], cdata.START_ID), ids[:, :-1]], axis=1)
    log_probs = tf.nn.log_softmax(model((images, caption_in), training=False), axis=-1)
    token = tf.gather(log_probs, ids, batch_dims=2)
    is_end = tf.equal(ids, cdata.END_ID)
    first_end = tf.argmax(tf.cast(is_end, tf.int32), axis=1, output_type=tf.int32) + 1
    n = tf.where(tf.reduce_any(is_end, axis=1), first_end, length)
    mask = tf.sequence_mask(n, length)
    mean = tf.reduce_sum(tf.where(mask, token, 0.0), 1) / tf.cast(n, tf.float32)
    low = tf.reduce_min(tf.where(mask, token, 0.0), 1)
    return mean, low


def pooled_features(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """float32 ``[N, S, S, 3]`` -> the encoder's pooled features float32 ``[N, F]``."""
    out = [np.zeros((0, model.feature_dim), np.float32)]
    for i in range(0, len(images), batch):
        _, pooled, _ = model.encode(tf.constant(images[i : i + batch], tf.float32))
        out.append(np.asarray(pooled, np.float32))
    return np.concatenate(out)


def fit_ood(features: np.ndarray, components: int = OOD_COMPONENTS) -> dict:
    """Probabilistic-PCA statistics of training features ``[N, F]``: ``mean [F]``,
    ``components [k, F]`` (principal directions), ``variances [k]`` and the variance
    ``rest`` of each remaining direction (their mean), as JSON-ready lists."""
    x = np.asarray(features, np.float64)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / max(1, len(x) - 1)
    k = min(components, len(var) - 1)
    rest = float(max(var[k:].mean(), 1e-8 * var[0]))
    # 4 significant digits keep the file small; scores are computed from these numbers.
    return {
        "mean": _rounded(mean),
        "components": _rounded(vt[:k]),
        "variances": _rounded(var[:k]),
        "rest": _rounded(rest),
    }


def _rounded(x):
    if np.ndim(x) == 0:
        return float(f"{float(x):.4g}")
    return [_rounded(v) for v in x]


def ood_score(stats: dict, features: np.ndarray) -> np.ndarray:
    """Mahalanobis distance float ``[N]`` of features ``[N, F]`` under `fit_ood`'s model."""
    z = np.asarray(features, np.float64) - np.asarray(stats["mean"])
    comps = np.asarray(stats["components"])
    proj = z @ comps.T
    residual = (z * z).sum(1) - (proj * proj).sum(1)
    inside = (proj * proj / np.asarray(stats["variances"])).sum(1)
    return np.sqrt(inside + np.maximum(residual, 0.0) / stats["rest"])


# -- rightness ------------------------------------------------------------------------------
def _tokens(texts: list[str]) -> list[list[str]]:
    if not texts:
        return []
    out = cdata.standardize(tf.constant(list(texts))).numpy()
    return [t.decode("utf-8").split() for t in out]


def token_f1(hypothesis: list[str], reference: list[str]) -> float:
    """F1 of the bag of tokens of a hypothesis against one reference."""
    common = sum((Counter(hypothesis) & Counter(reference)).values())
    if common == 0:
        return 0.0
    p, r = common / len(hypothesis), common / len(reference)
    return 2 * p * r / (p + r)


def is_right(captions: list[str], names: list[list[str]], threshold: float = RIGHT_F1):
    """bool ``[N]``: caption i is right when its token F1 with one of ``names[i]`` (the
    CLDR name and aliases) is at least `threshold`."""
    hyp = _tokens(captions)
    out = []
    for h, refs in zip(hyp, names):
        out.append(max((token_f1(h, r) for r in _tokens(refs)), default=0.0) >= threshold)
    return np.asarray(out, bool)


def names_of(emoji: list[str], captions: list[str]) -> list[list[str]]:
    """The accepted names per image: its caption (the CLDR name) and its emoji's aliases."""
    from zoo.data.captioning_sources import aliases_of

    out = []
    for e, c in zip(emoji, captions):
        try:
            aliases = aliases_of(e)
        except KeyError:  # not an emoji (e.g. a Flickr8k image id)
            aliases = []
        out.append([c, *aliases])
    return out


# -- calibration -----------------------------------------------------------------------------
def feature_matrix(values: dict, features=FEATURES) -> np.ndarray:
    """``{feature: [N]}`` -> float64 ``[N, len(features)]``."""
    return np.stack([np.asarray(values[f], np.float64) for f in features], axis=1)


def fit_platt(values: dict, right: np.ndarray) -> dict:
    """Monotone Platt scaling: ``{"features", "mean", "scale", "weights", "bias"}``.

    Args:
        values: ``{feature name: float [N]}`` for the names in `FEATURES`.
        right: bool ``[N]``.
    """
    from sklearn.linear_model import LogisticRegression

    right = np.asarray(right, bool)
    if right.all() or not right.any():
        raise ValueError(
            f"Received {int(right.sum())} right captions of {len(right)}; calibration "
            "needs both right and wrong ones."
        )
    features = list(FEATURES)
    while True:
        x = feature_matrix(values, features)
        mean, scale = x.mean(0), x.std(0) + 1e-12
        fit = LogisticRegression(C=1.0).fit((x - mean) / scale, right)
        weights = fit.coef_[0]
        wrong = [f for f, w in zip(features, weights) if w * FEATURE_SIGNS[f] <= 0]
        if not wrong:
            break
        features = [f for f in features if f not in wrong]
    return {
        "features": features,
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "weights": weights.tolist(),
        "bias": float(fit.intercept_[0]),
    }


def apply_platt(platt: dict, values: dict) -> np.ndarray:
    """Confidence float ``[N]`` in [0, 1] from `fit_platt`'s map and the features."""
    if not platt["features"]:
        n = len(next(iter(values.values())))
        return np.full(n, 1.0 / (1.0 + np.exp(-platt["bias"])))
    x = (feature_matrix(values, platt["features"]) - platt["mean"]) / platt["scale"]
    logit = np.clip(x @ np.asarray(platt["weights"]) + platt["bias"], -60.0, 60.0)
    return 1.0 / (1.0 + np.exp(-logit))


def keep_threshold(confidence: np.ndarray, right: np.ndarray, keep: float = KEEP_RIGHT) -> float:
    """The confidence that a fraction `keep` of the right captions reach (their lower
    quantile): below it the answer is `NO_CAPTION`."""
    conf = np.asarray(confidence)[np.asarray(right, bool)]
    if conf.size == 0:
        return 0.5
    return float(np.quantile(conf, 1.0 - keep, method="lower"))


def expected_calibration_error(confidence, right, bins: int = ECE_BINS) -> float:
    """ECE: the mean over equal-width confidence bins of |accuracy - mean confidence|,
    weighted by the bin's share of examples (a confidence of 1.0 falls in the last bin)."""
    conf, right = np.asarray(confidence, np.float64), np.asarray(right, np.float64)
    if conf.size == 0:
        return 0.0
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(right[sel].mean() - conf[sel].mean())
    return float(total)


def auroc(scores, labels) -> float | None:
    """Area under the ROC curve of `scores` for bool `labels` (None if one class only)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, np.asarray(scores, np.float64)))


def confidence_of(calibration: dict, values: dict) -> np.ndarray:
    """Confidence float ``[N]`` from a calibration (``assets["calibration"]``) and the
    caption features ``{"mean_log_prob", "min_log_prob": [N], "pooled": [N, F]}`` (or
    ``ood`` [N] instead of ``pooled``); 0 beyond ``ood_limit``."""
    full = dict(values)
    if "ood" not in full:
        full["ood"] = ood_score(calibration["ood"], values["pooled"])
    confidence = apply_platt(calibration["platt"], full)
    return np.where(np.asarray(full["ood"]) > calibration["ood_limit"], 0.0, confidence)


def answers(captions: list[str], confidence, confident) -> list[dict]:
    """The per-image answer of ``predict(..., with_confidence=True)`` (every runtime and
    export format): ``{"caption": the caption, or `NO_CAPTION` where not `confident`,
    "confidence": float, "guess": the caption}`` from `captions` ``[N]``, `confidence`
    float ``[N]`` and `confident` bool ``[N]`` (confidence at least ``no_caption_below``)."""
    return [
        {"caption": c if ok else NO_CAPTION, "confidence": float(p), "guess": c}
        for c, p, ok in zip(captions, confidence, confident)
    ]


def confidence_graph(calibration: dict, mean_log_prob, min_log_prob, pooled) -> tf.Tensor:
    """`confidence_of` in TensorFlow ops (for the SavedModel's serving signature): float32
    ``[B]`` from the features ``[B]``, ``[B]`` and ``[B, F]``; the statistics are constants."""
    ood = calibration["ood"]
    z = tf.cast(pooled, tf.float64) - tf.constant(ood["mean"], tf.float64)
    proj = tf.matmul(z, tf.constant(ood["components"], tf.float64), transpose_b=True)
    residual = tf.reduce_sum(z * z, 1) - tf.reduce_sum(proj * proj, 1)
    inside = tf.reduce_sum(proj * proj / tf.constant(ood["variances"], tf.float64), 1)
    values = {
        "mean_log_prob": tf.cast(mean_log_prob, tf.float64),
        "min_log_prob": tf.cast(min_log_prob, tf.float64),
        "ood": tf.sqrt(inside + tf.maximum(residual, 0.0) / ood["rest"]),
    }
    platt = calibration["platt"]
    logit = tf.fill(tf.shape(values["ood"]), tf.constant(platt["bias"], tf.float64))
    for name, m, s, w in zip(platt["features"], platt["mean"], platt["scale"], platt["weights"]):
        logit += w * (values[name] - m) / s
    confidence = tf.sigmoid(tf.clip_by_value(logit, -60.0, 60.0))
    far = values["ood"] > calibration["ood_limit"]
    return tf.cast(tf.where(far, tf.zeros_like(confidence), confidence), tf.float32)
