"""A cased/caseless pair of taggers in one model, chosen per sentence by its casing.

A tagger trained on edited newswire reads capital letters as the best clue to a name and
finds nothing in ``angela merkel visited paris``; trained on re-cased text as well
(``data.case_augmentation``) it reads lower case, but loses ~0.4 F1 on text written with
capitals (RESULTS.md). A pair loses nothing: the published cased tagger answers
sentences with normal casing, unchanged, and a second tagger, fine-tuned from it on
re-cased sentences, answers sentences with no capitals or no lower case
(`zoo.tasks.ner.model.casing_regime`, `CaseRouter` there). Both share the word
embedding (the word vocabulary is lower-cased, so its rows mean the same in either
casing) and the CRF.

Config: ``model.cased_tagger: ner_bilstm_conll2003`` (a published preset; its model
section must equal this one's; its data section, apart from the casing keys, gives the
same vocabularies).
Training (`warm_start`) copies that preset's weights into both taggers, freezes the
cased one, the embedding and the CRF, and trains the ``caseless_`` layers; the data
section re-cases every train sentence (``case_augmentation`` summing to 1) and the
validation split early stopping watches (``validation_case: lower``).
"""

from __future__ import annotations

import keras
import numpy as np

from zoo import config
from zoo.tasks.ner.model import CASELESS_PREFIX, check_model_config

__all__ = ["CASELESS_PREFIX", "remap_rows", "warm_start"]


def warm_start(model: keras.Model, cfg: dict, assets: dict) -> None:
    """Copy the ``cfg["cased_tagger"]`` preset (loaded by name, sha256-verified) into
    both taggers of `model` and freeze all but the caseless tagger's layers.

    Raises:
        zoo.config.ConfigError: the preset is not a plain NER tagger with the same model
            section (apart from ``cased_tagger``). Vocabularies may differ (a smoke run's
            are smaller): embedding rows are copied by word and character
            (`remap_rows`).
    """
    from zoo import registry

    name = cfg["cased_tagger"]
    try:
        cased = registry.load(name)
    except (registry.UnknownModelError, registry.PresetError) as error:
        raise config.ConfigError(
            f"invalid value for 'model.cased_tagger': {name!r} does not load: {error}"
        ) from None
    theirs = check_model_config(cased.config["model"]) if cased.config["task"] == "ner" else {}
    if not theirs or theirs["cased_tagger"]:
        raise config.ConfigError(
            f"invalid value for 'model.cased_tagger': {name!r} is a {cased.config['task']!r} "
            "model or itself a pair; expected a plain NER tagger."
        )
    ours = {**cfg, "cased_tagger": None}
    differ = sorted(k for k in ours if ours[k] != theirs.get(k))
    if differ:
        raise config.ConfigError(
            f"invalid value for 'model.cased_tagger': {name!r} has a different model section "
            f"({', '.join(f'{k}: {theirs.get(k)!r} there, {ours[k]!r} here' for k in differ)})."
        )
    rows = {  # layer name -> (their vocabulary, ours): embedding rows are copied by entry
        "word_embedding": (cased.assets["words"], assets["words"]),
        "char_cnn": (cased.assets["chars"], assets["chars"]),
    }
    names = {layer.name for layer in model.layers}
    for layer in cased.model.layers:
        if not layer.weights:
            continue
        weights = layer.get_weights()
        if layer.name in rows:  # the first weight is the embedding table
            weights[0] = remap_rows(weights[0], *rows[layer.name])
        for target in (layer.name, CASELESS_PREFIX + layer.name):
            if target in names:
                model.get_layer(target).set_weights(weights)
        model.get_layer(layer.name).trainable = False


def remap_rows(table: np.ndarray, theirs, ours) -> np.ndarray:
    """An embedding `table` over ``["", "[UNK]", *theirs]`` re-indexed for ``["",
    "[UNK]", *ours]``: an entry of both keeps its row, one only in `ours` gets the
    ``[UNK]`` row (the row the other vocabulary gave it). Equal vocabularies give
    `table` unchanged."""
    if list(theirs) == list(ours):
        return table
    index = {entry: i + 2 for i, entry in enumerate(theirs)}
    order = [0, 1, *(index.get(entry, 1) for entry in ours)]
    return table[np.asarray(order)]
