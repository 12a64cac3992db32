# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Sentiment classification (many-to-one)
#
# A sentence is a sequence of word ids; the recurrent layer reads it and a pooled summary of
# its states goes to a logistic classifier: $P(\text{positive} \mid \text{sentence})$.
# The zoo's sentiment task (`zoo.tasks.sentiment`) does exactly this on the MR movie-review
# sentences (GloVe-initialised embedding -> our recurrent layer -> max/mean pooling ->
# sigmoid). Here we train it with `zoo.train.train_from_config`, compare cells, draw the
# confusion matrix and look at the errors.

# %% tags=["parameters"]
import os

import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
# epochs: smoke 1; full mode None = each config's schedule (25 epochs, early stopping)
EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 0)) or (1 if SMOKE else None)
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import zoo
import zoo.data.sentiment
from zoo.registry import ZooModel
from zoo.tasks import get_task

GPUS = tf.config.list_physical_devices("GPU")  # zoo.train switches on mixed precision itself
CONFIGS = Path(zoo.registry.CONFIGS_DIR)
CELLS = (
    ["sentiment_lstm_mr"]
    if SMOKE
    else ["sentiment_rnn_mr", "sentiment_lstm_mr", "sentiment_gru_mr"]
)
N_TEST = 128 if SMOKE else None
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE, "| epochs:", EPOCHS or "from the config")

# %% [markdown]
# ## Train
#
# Smoke mode trains the LSTM on a small slice of the data for one epoch. Full mode trains
# the vanilla RNN, the LSTM and the GRU with their zoo configs (the published presets'
# recipe: up to 25 epochs, early stopping on validation accuracy), about 25 minutes for
# the three on 2 CPU cores, a few minutes on a GPU (where `zoo.train` switches on mixed
# precision and we use 4x larger batches).

# %%
runs = {}
for name in CELLS:
    config = zoo.registry.read_config(CONFIGS / f"{name}.yaml")
    if GPUS:
        config["train"]["batch_size"] *= 4
    runs[name] = zoo.train_from_config(
        config,
        smoke=SMOKE,
        epochs=EPOCHS,
        run_dir=tempfile.mkdtemp(prefix=name),
        save_preset=False,
        verbose=0,
    )
    print(f"{name}: test accuracy {runs[name].metrics['accuracy']:.1f}%")


# %% [markdown]
# ## Comparing cells
#
# Every sentiment preset in the zoo was trained with the same recipe, so their model cards
# (`zoo.info`) compare the cells on the same 1,057 test sentences. In full mode we also
# re-evaluate each published model here and check the card's number.

# %%
published = [n for n in zoo.list_models(pretrained=True) if zoo.info(n)["task"] == "sentiment"]
cards = {n: zoo.info(n) for n in published}
live = {}
if not SMOKE:
    for n in published:
        live[n] = zoo.load(n).evaluate("test")["accuracy"]
print(f"{'model':22s} {'params':>9s} {'train s':>8s} {'card acc':>8s} {'here':>6s}")
for n, card in cards.items():
    here = f"{live[n]:6.2f}" if n in live else "     -"
    print(
        f"{n:22s} {card['parameters']:9d} {card.get('training_time_s', 0):8.0f} "
        f"{card['metrics']['accuracy']:8.2f} {here}"
    )

labels = [*[f"{n.split('_')[1]}\n(trained here)" for n in runs], *[n.split("_")[1] for n in cards]]
values = [r.metrics["accuracy"] for r in runs.values()] + [
    c["metrics"]["accuracy"] for c in cards.values()
]
plt.figure(figsize=(1.2 * len(values) + 1, 3))
plt.bar(range(len(values)), values, color=["tab:orange"] * len(runs) + ["tab:blue"] * len(cards))
plt.xticks(range(len(values)), labels, fontsize=8)
plt.ylim(40, 90)
plt.ylabel("test accuracy (%)")
plt.title("orange: trained in this notebook, blue: published presets")
plt.show()

# %% [markdown]
# ## Confusion matrix and errors
#
# We predict on raw test sentences through the task's `predict` (tokenisation inside the
# graph, as in deployment) and compare with the task's own `evaluate` on the same sentences.

# %%
task = get_task("sentiment")
test = zoo.data.sentiment.read_split("mr", "test")
if N_TEST:
    test = test.take(N_TEST)
texts, labels = zip(*[(t.decode("utf-8"), int(y)) for t, y in test.as_numpy_iterator()])


def confusion(zoo_model):
    """-> (2x2 counts [true, predicted], predictions)."""
    names = zoo_model.assets["labels"]
    preds = zoo_model.predict(list(texts))
    matrix = np.zeros((2, 2), int)
    for p, y in zip(preds, labels):
        matrix[y, names.index(p["label"])] += 1
    return matrix, preds


best = max(runs.values(), key=lambda r: r.metrics["accuracy"])
trained = ZooModel(best.model, task, best.config, best.assets)
matrix, preds = confusion(trained)
evaluated = trained.evaluate("test", limit=len(texts))


def show(matrix, title):
    plt.figure(figsize=(3.5, 3))
    plt.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        plt.text(j, i, v, ha="center", va="center")
    names = trained.assets["labels"]
    plt.xticks([0, 1], names)
    plt.yticks([0, 1], names)
    plt.xlabel("predicted")
    plt.ylabel("true")
    plt.title(title)
    plt.show()


show(matrix, "smoke-trained model" if SMOKE else best.config["name"])
errors = [
    (t, p)
    for t, p, y in zip(texts, preds, labels)
    if trained.assets["labels"].index(p["label"]) != y
]
for t, p in errors[:5]:
    print(f"predicted {p['label']} ({p['probability']:.2f}): {t}")

# %% [markdown]
# ## The pretrained model
#
# `zoo.load` gives the published, fully trained model (when its preset has been trained).

# %%
PRETRAINED = "sentiment_bilstm_mr"
pretrained_matrix = None
if PRETRAINED in zoo.list_models(pretrained=True):
    pretrained = zoo.load(PRETRAINED)
    print(
        pretrained,
        pretrained.predict(["A gorgeous, witty, seductive movie.", "Dull and lifeless."]),
    )
    pretrained_matrix, _ = confusion(pretrained)
    show(pretrained_matrix, PRETRAINED)
else:
    print(
        f"skipped: no published preset for {PRETRAINED} yet (python -m zoo train configs/{PRETRAINED}.yaml --publish)"
    )

# %% [markdown]
# ## Checks

# %%
n = len(texts)
assert matrix.sum() == n
assert all(p["label"] in trained.assets["labels"] and 0.5 <= p["probability"] <= 1 for p in preds)
# raw-string predict and the task's evaluate agree on the same sentences
accuracy = 100 * np.trace(matrix) / n
assert abs(accuracy - evaluated["accuracy"]) <= 100 / n + 1e-6, (accuracy, evaluated)
assert 0 <= best.metrics["accuracy"] <= 100 and best.history["loss"]
if pretrained_matrix is not None:
    assert np.trace(pretrained_matrix) / n > 0.7  # the published model is a real classifier
for name, accuracy_here in live.items():  # the model cards are reproducible
    assert abs(accuracy_here - cards[name]["metrics"]["accuracy"]) < 0.5, (name, accuracy_here)
if not SMOKE:
    # trained with the published recipe: within a few points of the published preset
    for name, run in runs.items():
        if name in cards:
            assert run.metrics["accuracy"] > cards[name]["metrics"]["accuracy"] - 4, name
print(f"confusion matrix consistent with evaluate (accuracy {accuracy:.1f}%)")
