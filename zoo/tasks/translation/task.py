"""`TranslationTask`: data glue, compile, runtime and evaluation (sacrebleu BLEU/chrF)."""

from __future__ import annotations

import time

from zoo.data import translation as data_lib
from zoo.tasks.base import Task, TaskData
from zoo.tasks.translation.model import (
    MaskedSparseCrossentropy,
    Translator,
    masked_accuracy,
    model_config,
)
from zoo.tasks.translation.runtime import TranslatorRuntime


class TranslationTask(Task):
    """Spanish -> English translation on ``zoo_spa_eng``; see `zoo.tasks.translation`."""

    name = "translation"
    primary_metric = "bleu"
    monitor = "val_loss"
    monitor_mode = "min"
    eval_subset_size = 500

    # -- data -------------------------------------------------------------------------
    def load_data(self, data_cfg, *, batch_size, seed=0, smoke=False) -> TaskData:
        d = data_lib.load_data(data_cfg, batch_size=batch_size, seed=seed, smoke=smoke)
        return TaskData(
            train=d["train"],
            validation=d["validation"],
            test=d["test"],
            assets=d["assets"],
            info=d["info"],
        )

    def check_config(self, cfg: dict) -> None:
        model_config(cfg["model"])
        data_lib.data_config(cfg["data"])

    # -- model ------------------------------------------------------------------------
    def build_model(self, model_cfg, assets, *, data_cfg=None, for_training=False):
        cfg = model_config(model_cfg)
        for key in ("source_vocabulary", "target_vocabulary"):
            if key not in assets:
                raise ValueError(f"Missing asset {key!r}; got assets {sorted(assets)}.")
        model = Translator(
            len(assets["source_vocabulary"]),
            len(assets["target_vocabulary"]),
            cell=cfg["cell"],
            bidirectional=cfg["bidirectional"],
            embedding_dim=cfg["embedding_dim"],
            target_embedding_dim=cfg["target_embedding_dim"],
            encoder_units=cfg["encoder_units"],
            decoder_units=cfg["decoder_units"],
            attention=cfg["attention"],
            attention_units=cfg["attention_units"],
            dropout=cfg["dropout"],
            recurrent_dropout=cfg["recurrent_dropout"],
            weights_dtype=cfg["storage_dtype"],
            beam_size=cfg["beam_size"],
            length_penalty=cfg["length_penalty"],
            max_output_length=cfg["max_output_length"],
            max_source_length=data_lib.data_config(data_cfg)["max_source_length"],
            name="translator",
        )
        return model.build_for_inputs()

    def compile_model(self, model, optimizer, train_cfg):
        model.compile(
            optimizer=optimizer,
            loss=MaskedSparseCrossentropy(float(train_cfg.get("label_smoothing") or 0.0)),
            metrics=[masked_accuracy],
        )

    # -- inference and evaluation ----------------------------------------------------
    def runtime(self, model: Translator, assets: dict, config: dict) -> TranslatorRuntime:
        return TranslatorRuntime(model, assets, config)

    def translate(
        self,
        model: Translator,
        assets: dict,
        inputs,
        *,
        beam_size: int = 1,
        batch_size: int = 64,
        return_attention: bool = False,
    ):
        """Kept for the notebooks: `TranslatorRuntime.translate` on a runtime built from
        the model's own decoding settings (its config). Prefer ``zoo.load(...).runtime``."""
        config = {
            "model": {
                "beam_size": model.beam_size,
                "length_penalty": model.length_penalty,
                "max_output_length": model.max_output_length,
            },
            "data": {"max_source_length": model.max_source_length},
        }
        return self.runtime(model, assets, config).translate(
            inputs, beam_size=beam_size, batch_size=batch_size, return_attention=return_attention
        )

    def evaluate(self, runtime: TranslatorRuntime, data_cfg, *, split="test", limit=None):
        """sacrebleu corpus BLEU against the original cased references (``bleu``: beam
        search with the config's beam; ``bleu_greedy``: greedy), ``bleu_lowercase``, ``chrf``,
        and the number of examples / seconds. Measured on the weights as the preset stores
        them (float16-rounded, on a copy when that changes anything; the model is untouched)."""
        from zoo import metrics

        runtime = runtime.stored()
        es, en = data_lib.split_texts(split, limit=limit)
        t0 = time.time()
        greedy = runtime.translate(es, beam_size=1)
        t1 = time.time()
        beam = runtime.translate(es, beam_size=runtime.beam_size)
        t2 = time.time()
        return {
            "bleu": metrics.bleu(beam, en),
            "bleu_lowercase": metrics.bleu(beam, en, lowercase=True),
            "chrf": metrics.chrf(beam, en),
            "bleu_greedy": metrics.bleu(greedy, en),
            "bleu_greedy_lowercase": metrics.bleu(greedy, en, lowercase=True),
            "chrf_greedy": metrics.chrf(greedy, en),
            "beam_size": runtime.beam_size,
            "examples": len(es),
            "greedy_seconds": t1 - t0,
            "beam_seconds": t2 - t1,
        }

    def eval_examples(self, data_cfg, *, split="test", limit=None):
        """``(spanish, english)``: the first `limit` pairs of a split, the order `evaluate`
        reads them."""
        return data_lib.split_texts(split, limit=limit)

    def score(self, predictions, references):
        """sacrebleu ``bleu`` and ``chrf`` of `predict`'s translations (greedy: comparable
        with `evaluate`'s ``bleu_greedy``, not its beam-search ``bleu``)."""
        from zoo import metrics

        return {
            "bleu": metrics.bleu(list(predictions), list(references)),
            "chrf": metrics.chrf(list(predictions), list(references)),
            "examples": len(predictions),
        }

    def example_inputs(self):
        return [
            "Tengo hambre.",
            "¿Dónde está la estación de tren?",
            "Tom no sabe nadar muy bien.",
            "Me gustaría aprender a tocar la guitarra.",
        ]
