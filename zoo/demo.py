"""The end-to-end demo behind `make demo` / `python -m zoo demo`.

Lists the zoo, loads the best pretrained model of each task by name, predicts on
sample inputs, exports one model as a SavedModel and serves a request from it in a
separate process that imports only TensorFlow. Offline, a few minutes on a CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo.cards import shell_example

SAMPLES = {
    "sentiment": [
        "There is nothing to like in this movie.",
        "A warm, funny and beautifully acted film.",
    ],
    "ner": [
        "Pankaj lives in Munich",
        "Angela Merkel met Emmanuel Macron at the United Nations in New York.",
        "angela merkel met emmanuel macron in paris.",  # as people type: no capitals
    ],
    "translation": [
        "Hace mucho frío hoy.",
        "¿Dónde está la estación de tren?",
        "Mi tía vive en Valparaíso.",  # a place the vocabulary lacks: copied
        "Tengo 27 años.",  # numbers are copied too
    ],
}

#: Runs in a fresh interpreter that never imports zoo: plain TensorFlow only.
SERVE_SCRIPT = r"""
import json, sys
import tensorflow as tf
assert "zoo" not in sys.modules
loaded = tf.saved_model.load(sys.argv[1])
fn = loaded.signatures["serving_default"]
arg = next(iter(fn.structured_input_signature[1]))
out = fn(**{arg: tf.constant(json.loads(sys.argv[2]))})
def py(x):
    x = x.numpy().tolist()
    def dec(v):
        if isinstance(v, bytes): return v.decode("utf-8", "replace")
        if isinstance(v, list): return [dec(i) for i in v]
        return v
    return dec(x)
print(json.dumps({k: py(v) for k, v in out.items()}, ensure_ascii=False))
"""


def best_models() -> dict[str, str]:
    """The published model with the best primary metric, per task."""
    from zoo import registry
    from zoo.tasks import TASKS, get_task

    best = {}
    for task in TASKS:
        key = get_task(task).primary_metric
        scored = []
        for name in registry.list_models(task=task, pretrained=True):
            metrics = registry.info(name).get("metrics") or {}
            if metrics.get(key) is not None:
                scored.append((metrics[key], name))
        if scored:
            best[task] = max(scored)[1]
    return best


def _caption_samples(model) -> list[tuple[bytes, str]]:
    """A few held-out test images of the model's own dataset: (PNG bytes, true caption)."""
    from zoo.data import captioning

    dataset = model.config["data"].get("dataset", "zoo_emoji_captions")
    examples = captioning.load_raw("test", dataset=dataset).take(3).as_numpy_iterator()
    return [(bytes(ex["image"]), ex["caption"].decode("utf-8")) for ex in examples]


def run_demo() -> int:
    import zoo
    from zoo import cards

    t0 = time.time()
    print("== RNN Zoo ==")
    print("Registered models:")
    for name in zoo.list_models():
        card = zoo.info(name)
        print(f"  {name:32s} {'pretrained' if card['pretrained'] else '(config only)'}")
    best = best_models()
    if not best:
        print(
            "No pretrained presets are published yet; train one with "
            "`python -m zoo train configs/NAME.yaml --publish`."
        )
    for task, name in best.items():
        model = zoo.load(name)
        metric = model.task.primary_metric
        print(f"\n-- {task}: {name} (test {metric} = {model.metadata['metrics'][metric]:.2f}) --")
        if task == "captioning":
            samples = _caption_samples(model)
            inputs = [image for image, _ in samples]
            shown_inputs = [f"<test image; true caption: {c!r}>" for _, c in samples]
        else:
            inputs = shown_inputs = SAMPLES[task]
        for shown, out in zip(shown_inputs, model.predict(list(inputs))):
            print("  " + cards.prediction(task, shown, out))

    if "sentiment" in best:
        name = best["sentiment"]
        with tempfile.TemporaryDirectory(prefix="zoo-demo-") as tmp:
            path = Path(tmp) / name
            zoo.export(name, path)
            print(
                f"\nExported {name} to a SavedModel; serving one request from a separate "
                "process that imports only TensorFlow:"
            )
            proc = subprocess.run(
                [sys.executable, "-c", SERVE_SCRIPT, str(path), json.dumps(SAMPLES["sentiment"])],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            print("  " + proc.stdout.strip().splitlines()[-1])
    print(f"\nDemo finished in {time.time() - t0:.0f} s.")
    print(next_steps())
    return 0


def next_steps() -> str:
    """How to go on from here: the environment the demo ran in and a few commands."""
    venv = Path(sys.prefix)
    in_venv = sys.prefix != sys.base_prefix
    activate = f"source {_relative(venv / 'bin' / 'activate')}" if in_venv else None
    lines = ["\nNext steps:"]
    if activate:
        lines.append(f"  {activate:44s} # once per shell: puts `zoo` and `jupyter` on PATH")
    lines += [
        f"  {'zoo list':44s} # every model; zoo info NAME gives its card",
        f"  {'zoo predict ner_bilstm_casepair_conll2003 ' + shell_example('ner')}",
        f"  {'zoo train configs/sentiment_lstm_mr.yaml --smoke':44s} # a 30-second training run",
        f"  {'jupyter lab notebooks/':44s} # tutorials (smoke mode on a CPU, full on a GPU)",
    ]
    if activate:
        lines.append(f"  (without activating: {_relative(venv / 'bin' / 'zoo')} list)")
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
