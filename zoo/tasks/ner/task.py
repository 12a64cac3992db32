"""`NERTask`: CoNLL-2003 data glue, compile, the ``val_f1`` callback, evaluation and the
scoring of raw predictions."""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.data import ner as ner_data
from zoo.data.ner import DATA_DEFAULTS, SMOKE_SIZES
from zoo.layers.crf import CRFLoss
from zoo.metrics import entity_f1
from zoo.tasks.base import Task, TaskData
from zoo.tasks.ner.model import build_model, check_model_config, crf_layer
from zoo.tasks.ner.runtime import NERRuntime

__all__ = ["DATA_DEFAULTS", "NERTask", "SMOKE_SIZES"]


class _ValF1(keras.callbacks.Callback):
    """Writes the validation entity F1 (%) into the epoch logs as ``val_f1``."""

    def __init__(self, runtime: NERRuntime, dataset: tf.data.Dataset):
        super().__init__()
        self.runtime, self.dataset = runtime, dataset

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        y_true, y_pred = self.runtime.collect(self.dataset)
        logs["val_f1"] = entity_f1(y_true, y_pred)["f1"]


class NERTask(Task):
    """CoNLL-2003 NER: word + character + casing features -> bidirectional RNN ->
    softmax or CRF. See `zoo.tasks.ner` for shapes and config keys."""

    name = "ner"
    primary_metric = "f1"
    monitor = "val_f1"
    monitor_mode = "max"
    eval_subset_size = 500

    # -- configs ------------------------------------------------------------------------
    model_config = staticmethod(check_model_config)

    data_config = staticmethod(ner_data.data_config)

    def check_config(self, cfg: dict) -> None:
        self.model_config(cfg["model"])
        self.data_config(cfg["data"])

    # -- data ---------------------------------------------------------------------------
    def load_data(self, data_cfg, *, batch_size, seed=0, smoke=False) -> TaskData:
        """`zoo.data.ner.load_data` as a `TaskData`: batches of ``({"words", "chars",
        "casing"}, tags int32 [batch, time])``."""
        out = ner_data.load_data(data_cfg, batch_size=batch_size, seed=seed, smoke=smoke)
        return TaskData(out["train"], out["validation"], out["test"], out["assets"], out["info"])

    # -- model --------------------------------------------------------------------------
    def build_model(self, model_cfg, assets, *, data_cfg=None, for_training=False):
        """`zoo.tasks.ner.model.build_model`; for training, a cased/caseless pair
        (``model.cased_tagger``) starts from that preset (`zoo.tasks.ner.routed`)."""
        model = build_model(model_cfg, assets, for_training=for_training)
        if for_training and model_cfg.get("cased_tagger"):
            from zoo.tasks.ner.routed import warm_start

            warm_start(model, check_model_config(model_cfg), assets)
        return model

    def compile_model(self, model, optimizer, train_cfg):
        crf = crf_layer(model)
        if crf is not None:
            loss = CRFLoss(crf)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
        model.compile(optimizer=optimizer, loss=loss)

    def callbacks(self, model, data, config):
        """`val_f1` (entity F1 on the validation split) in the epoch logs; the callback's
        runtime is built once here and reads the weights as they train."""
        return [_ValF1(self.runtime(model, data.assets, {}), data.validation)]

    # -- evaluation ---------------------------------------------------------------------
    def runtime(self, model, assets, config) -> NERRuntime:
        """A `NERRuntime` (vocabulary lookups, compiled decode / predict functions)."""
        return NERRuntime(model, assets, config)

    def evaluate(self, runtime, data_cfg, *, split="test", limit=None):
        """Entity precision/recall/F1 (%, seqeval, conlleval-compatible), per-type F1 and
        token accuracy on a split (first `limit` sentences), and ``f1_lowercased``: the
        entity F1 on the same sentences with every token lower-cased (what people type)."""
        cfg = self.data_config(data_cfg)
        sents = ner_data.select_sentences(split, cfg, limit=limit)
        ds = ner_data.ner_pipeline(sents, runtime.assets, batch_size=64, bucket=False, cache=False)
        y_true, y_pred = runtime.collect(ds)
        scores = entity_f1(y_true, y_pred)
        out = {k: scores[k] for k in ("f1", "precision", "recall")}
        for t in ("PER", "ORG", "LOC", "MISC"):
            out[f"f1_{t}"] = scores["per_type"].get(t, {}).get("f1", 0.0)
        correct = sum(a == b for t, p in zip(y_true, y_pred) for a, b in zip(t, p))
        out["token_accuracy"] = 100.0 * correct / max(1, sum(len(t) for t in y_true))
        lowered = ner_data.ner_pipeline(
            sents,
            runtime.assets,
            batch_size=64,
            bucket=False,
            cache=False,
            case_augmentation={"lower": 1.0},
        )
        out["f1_lowercased"] = entity_f1(*runtime.collect(lowered))["f1"]
        out["sentences"] = len(sents)
        return out

    # -- scoring raw predictions (`zoo.export` measures int8 against float) -----------
    def eval_examples(self, data_cfg, *, split="test", limit=None):
        """``(texts, gold)``: the first `limit` sentences of a split as raw text (tokens
        joined by spaces) and ``{"tokens", "tags"}`` gold references."""
        sents = ner_data.select_sentences(split, self.data_config(data_cfg), limit=limit)
        return [" ".join(s["tokens"]) for s in sents], [dict(s) for s in sents]

    def score(self, predictions, references):
        """Entity F1 (%, seqeval) of ``predict``'s answers on raw text against gold tags.
        The raw-text tokenizer splits some CoNLL tokens (``15,000`` -> ``15 , 000``); a
        gold token takes the tag of the predicted token where it starts (an ``I-`` tag
        inside a split token stays inside), so the F1 is close to, not equal to,
        `evaluate`'s on gold tokens; the same for every runtime, so comparable."""
        y_true, y_pred = [], []
        for pred, gold in zip(predictions, references):
            starts, pos = {}, 0
            for i, tok in enumerate(pred["tokens"]):
                for k in range(len(tok)):
                    starts[pos + k] = (i, k == 0)
                pos += len(tok)
            tags, pos = [], 0
            for tok in gold["tokens"]:
                i, first = starts.get(pos, (None, True))
                tag = "O" if i is None else pred["tags"][i]
                if not first and tag.startswith("B-"):
                    tag = "I-" + tag[2:]
                tags.append(tag)
                pos += len(tok)
            y_true.append(list(gold["tags"]))
            y_pred.append(tags)
        scores = entity_f1(y_true, y_pred)
        return {**{k: scores[k] for k in ("f1", "precision", "recall")}, "sentences": len(y_true)}

    def example_inputs(self):
        return [
            "Pankaj lives in Munich",
            "EU rejects German call to boycott British lamb.",
            "Angela Merkel met Emmanuel Macron in Paris on Tuesday, Reuters reported.",
        ]
