"""Human-readable text for the command line: model cards and predictions.

Pure functions over the registry's JSON (no TensorFlow), so `zoo info` stays fast.
`--json` on the command line gives the raw structures instead.
"""

from __future__ import annotations

import json
from typing import Any

#: Where each task's data comes from and under which terms (the weights and code are
#: Apache-2.0; a model trained on research-only data inherits that restriction).
DATA_LICENCES = {
    "sentiment": "sentence polarity v1.0 (Pang & Lee 2005), research use; GloVe: PDDL",
    "ner": "CoNLL-2003 (Reuters RCV1 text), research use only; GloVe: PDDL",
    "captioning": "EmojiOne 2 artwork CC-BY-SA 4.0; Noto Color Emoji SIL OFL 1.1",
    "translation": "Tatoeba / manythings.org spa-eng, CC-BY 2.0",
}
SHAPES = {
    "sentiment": "many-to-one",
    "ner": "many-to-many, aligned",
    "captioning": "one-to-many: CNN encoder + RNN decoder",
    "translation": "many-to-many: encoder-decoder with attention",
}
#: One raw input per task, for the "try it" lines.
EXAMPLES = {
    "sentiment": "A warm, funny and beautifully acted film.",
    "ner": "Angela Merkel met Emmanuel Macron in Paris.",
    "captioning": "path/to/image.png",
    "translation": "¿Dónde está la estación de tren?",
}


def shell_example(task: str) -> str:
    """`EXAMPLES[task]` quoted for a shell command line."""
    import shlex

    return shlex.quote(EXAMPLES.get(task, "..."))


def _metric_line(card: dict, key: str) -> str:
    metrics = card.get("metrics") or {}
    if metrics.get(key) is None:
        return "not trained yet"
    line = f"test {key} {metrics[key]:.2f}"
    seeds = card.get("metrics_seeds")
    if seeds and key in seeds.get("mean", {}):
        line += (
            f"; over seeds {', '.join(str(s) for s in seeds['seeds'])}: "
            f"{seeds['mean'][key]:.2f} ± {seeds['std'][key]:.2f} (std)"
        )
    if metrics.get(f"{key}_lowercased") is not None:  # NER: the test split lower-cased
        line += f"; lower-cased text: {metrics[f'{key}_lowercased']:.2f}"
    return line


def model_card(card: dict, primary_metric: str) -> str:
    """A short text card from `zoo.registry.info(name)` (about 10 lines)."""
    model, name, task = card["model"], card["name"], card["task"]
    cell = model.get("cell", "?")
    if model.get("bidirectional"):
        cell = f"bidirectional {cell}"
    units = model.get("units") or model.get("encoder_units") or model.get("decoder_units")
    layers = model.get("layers") or model.get("num_layers") or 1
    data = card.get("data_version") or card["data"].get("dataset", "?")
    lines = [
        f"{name}: {card.get('description') or task}",
        f"  task      {task} ({SHAPES.get(task, '')})",
        f"  cell      {cell}, {units} units, {layers} layer(s)",
        f"  data      {data}",
        f"  metric    {_metric_line(card, primary_metric)}",
    ]
    if card.get("pretrained"):
        lines.append(
            f"  size      {card.get('parameters', 0):,} parameters, "
            f"{card.get('size_bytes', 0) / 1e6:.1f} MB preset"
        )
        trained = f"{card.get('epochs_run', '?')} epochs (best {card.get('best_epoch', '?')})"
        lines.append(f"  trained   {trained} in {card.get('training_time_s', 0):.0f} s")
        lines.append(f"  command   {card.get('command', '?')}")
    else:
        lines.append(f"  train it  python -m zoo train configs/{name}.yaml --publish")
    lines.append(f"  licence   code and weights Apache-2.0; data: {DATA_LICENCES.get(task, '?')}")
    if card.get("pretrained"):
        lines.append(f"  try       zoo predict {name} {shell_example(task)}")
    lines.append(f"  more      zoo info {name} --json")
    return "\n".join(lines)


def prediction(task: str, shown_input: str, output: Any) -> str:
    """One readable line per prediction, e.g. ``Angela Merkel [PER] met ...``."""
    if task == "ner" and isinstance(output, dict) and "tokens" in output:
        return annotate_entities(output["tokens"], output.get("entities", []))
    if task == "sentiment" and isinstance(output, dict) and "label" in output:
        return f"{output['label']:8s} {output['probability']:.2f}  {shown_input}"
    if task in ("translation", "captioning") and isinstance(output, str):
        return f"{shown_input}  ->  {output}"
    if isinstance(output, dict) and "caption" in output:
        # e.g. captioning's {"caption", "confidence", "guess"}: a guess equal to the caption
        # says nothing new
        extra = {k: v for k, v in output.items() if k != "caption" and v != output["caption"]}
        details = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()
        )
        return f"{shown_input}  ->  {output['caption']}" + (f"  ({details})" if details else "")
    return f"{shown_input}  ->  {json.dumps(output, ensure_ascii=False, default=str)}"


def annotate_entities(tokens: list[str], entities: list[dict]) -> str:
    """``["Angela", "Merkel", "met"]`` + spans -> ``"Angela Merkel [PER] met"``."""
    out, ends = [], {e["end"] - 1: e["type"] for e in entities}
    for i, token in enumerate(tokens):
        out.append(f"{token} [{ends[i]}]" if i in ends else token)
    return " ".join(out)
