# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Named-entity recognition (many-to-many)
#
# Tagging gives one output per input token: a bidirectional recurrent layer reads the
# sentence both ways, so the tag of "Paris" can use the words before *and* after it.
# Tags follow IOB2 (`B-PER` begins a person, `I-PER` continues it, `O` is outside).
# The zoo's NER task (`zoo.tasks.ner`): GloVe words + character CNN + casing features ->
# bidirectional recurrent layer -> CRF, on CoNLL-2003. We train it with
# `zoo.train.train_from_config`, report entity F1 per type (seqeval) and render the
# entities found in sentences as HTML.

# %% tags=["parameters"]
import os

import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
# epochs: smoke 1; full mode None = the config's schedule (30 epochs with early stopping; 6.5-22 min on 2 idle CPU cores, depending on the machine, 77 min on a loaded one;
# a GPU takes minutes). On a CPU, a number here (or ZOO_NOTEBOOK_EPOCHS) cuts it short.
EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 0)) or (1 if SMOKE else None)
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import html
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import tensorflow as tf
from IPython.display import HTML, display

import zoo
from zoo.registry import ZooModel
from zoo.tasks import get_task

GPUS = tf.config.list_physical_devices("GPU")  # zoo.train switches on mixed precision itself
NAME = "ner_bilstm_conll2003"
TYPES = ["PER", "ORG", "LOC", "MISC"]
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE, "| epochs:", EPOCHS or "from the config")

# %% [markdown]
# ## Train
#
# Smoke mode trains a small model on a slice of the data for one epoch: it shows the
# mechanics, not the accuracy. Full mode trains the zoo config exactly as the published
# preset was trained (same data, model and schedule); on a CPU that is long (see the
# parameters cell), so set `EPOCHS` to cut it short. Either way the last section loads the
# published preset, so the real model's results are always shown next to yours.

# %%
config = zoo.registry.read_config(Path(zoo.registry.CONFIGS_DIR) / f"{NAME}.yaml")
if SMOKE:
    config["model"]["units"] = 32  # a small model: smoke mode is about running, not accuracy
if GPUS:
    config["train"]["batch_size"] *= 4
result = zoo.train_from_config(
    config,
    smoke=SMOKE,
    epochs=EPOCHS,
    run_dir=tempfile.mkdtemp(),
    save_preset=False,
    verbose=0,
)
print({k: round(v, 2) for k, v in result.metrics.items()})


# %%
def per_type_plot(metrics, title):
    plt.figure(figsize=(4, 2.5))
    plt.bar(TYPES, [metrics[f"f1_{t}"] for t in TYPES])
    plt.ylabel("entity F1")
    plt.title(title)
    plt.show()


per_type_plot(result.metrics, "smoke-trained" if SMOKE else NAME)

# %% [markdown]
# ## Entities highlighted

# %%
COLORS = {"PER": "#fbb4ae", "ORG": "#b3cde3", "LOC": "#ccebc5", "MISC": "#decbe4"}


def highlight(prediction):
    """One predicted sentence as HTML with coloured entity spans."""
    tokens = [html.escape(t) for t in prediction["tokens"]]
    for e in prediction["entities"]:
        tokens[e["start"]] = (
            f'<span style="background:{COLORS[e["type"]]};padding:1px">' + tokens[e["start"]]
        )
        tokens[e["end"] - 1] += f" <sub>{e['type']}</sub></span>"
    return "<p>" + " ".join(tokens) + "</p>"


task = get_task("ner")
sentences = task.example_inputs()
trained = ZooModel(result.model, task, result.config, result.assets)
smoke_preds = trained.predict(sentences)
display(HTML("".join(highlight(p) for p in smoke_preds)))

# %% [markdown]
# ## The pretrained model

# %%
pretrained_metrics, pretrained_preds = None, None
if NAME in zoo.list_models(pretrained=True):
    pretrained = zoo.load(NAME)
    print(pretrained)
    pretrained_preds = pretrained.predict(sentences)
    display(HTML("".join(highlight(p) for p in pretrained_preds)))
    pretrained_metrics = pretrained.evaluate("test", limit=200 if SMOKE else None)
    per_type_plot(pretrained_metrics, f"{NAME} (test{', first 200' if SMOKE else ''})")
else:
    print(
        f"skipped: no published preset for {NAME} yet (python -m zoo train configs/{NAME}.yaml --publish)"
    )

# %% [markdown]
# ## Text as people type it
#
# CoNLL-2003 is edited newswire: every name starts with a capital, so a tagger learns that
# a capital letter is the best clue to a name, and on text typed without capitals it finds
# nothing. `ner_bilstm_casepair_conll2003` keeps that tagger for sentences with normal
# casing and adds a caseless twin, fine-tuned from it on re-cased sentences, for
# sentences with no capitals or no lower case; the model picks one per sentence from the
# casing features (`zoo/tasks/ner/routed.py`). Same sentences, three casings:

# %%
PAIR = "ner_bilstm_casepair_conll2003"
typed = [
    "angela merkel met emmanuel macron in paris.",
    "Angela Merkel met Emmanuel Macron in Paris.",
    "ANGELA MERKEL MET EMMANUEL MACRON IN PARIS.",
]
pair_preds, cased_preds = None, None
if {NAME, PAIR} <= set(zoo.list_models(pretrained=True)):
    for name in (NAME, PAIR):
        preds = zoo.load(name).predict(typed)
        display(HTML(f"<b>{name}</b>" + "".join(highlight(p) for p in preds)))
        if name == PAIR:
            pair_preds = preds
        else:
            cased_preds = preds
    for name in (NAME, PAIR):
        m = zoo.info(name)["metrics"]
        lower = m.get("f1_lowercased")
        print(
            f"{name}: test F1 {m['f1']:.2f} as written, "
            + (f"{lower:.2f} lower-cased" if lower is not None else "lower-cased not measured")
        )
else:
    print(f"skipped: {NAME} and {PAIR} are not both published")

# %% [markdown]
# ## Checks

# %%
for key in ["f1", "precision", "recall", *[f"f1_{t}" for t in TYPES]]:
    assert 0 <= result.metrics[key] <= 100, key
for p in smoke_preds:
    assert len(p["tags"]) == len(p["tokens"]) > 0
    assert all(tag == "O" or tag[2:] in TYPES for tag in p["tags"])
    for e in p["entities"]:  # spans agree with the tags and the tokens
        assert e["text"] == " ".join(p["tokens"][e["start"] : e["end"]])
        assert p["tags"][e["start"]] in (f"B-{e['type']}", f"I-{e['type']}")
if pretrained_metrics is not None:
    assert pretrained_metrics["f1"] > 70, pretrained_metrics
    found = {(e["text"], e["type"]) for p in pretrained_preds for e in p["entities"]}
    assert ("Munich", "LOC") in found, found
    if not SMOKE and EPOCHS is None:  # full schedule: close to the published preset
        assert result.metrics["f1"] > pretrained_metrics["f1"] - 3, (
            result.metrics,
            pretrained_metrics,
        )
if pair_preds is not None:  # the pair finds the names in every casing, the cased model not
    assert not cased_preds[0]["entities"], cased_preds[0]
    for p in pair_preds:
        assert {e["type"] for e in p["entities"]} >= {"PER", "LOC"}, p
print("entities and per-type F1 are consistent")
