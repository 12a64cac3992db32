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
# # 10. Pretrained models and deployment
#
# A trained zoo model is a **preset**: a directory with `config.json` (the architecture's
# hyperparameters), `model.weights.h5`, `assets/` (vocabularies, label names) and
# `metadata.json` (metrics, training command, sha256 of every file). `zoo.load(name)`
# checks the hashes, rebuilds the architecture from the config and loads the weights.
# For deployment, `zoo.export` writes a TensorFlow **SavedModel** whose `serving_default`
# signature takes raw strings: tokenisation and decoding are inside the graph, so a server
# needs only TensorFlow, not `zoo`. We go the whole way: list, load, predict, export,
# reload with plain TensorFlow, and inspect with `saved_model_cli`.

# %% tags=["parameters"]
import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

import zoo

GPUS = tf.config.list_physical_devices("GPU")
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE)

# %% [markdown]
# ## What is in the zoo

# %%
for name in zoo.list_models():
    card = zoo.info(name)
    metric = card.get("metrics", {})
    print(f"{name:28s} pretrained={card['pretrained']!s:5s} {card['description'][:60]}")
print("\npretrained:", zoo.list_models(pretrained=True))

# %% [markdown]
# ## Load and predict
#
# We use the published `sentiment_bilstm_mr` when it exists. Otherwise (e.g. a fresh
# checkout before the presets are trained) we train a smoke preset with the same function
# the CLI uses and load it from its directory: everything below works the same way.

# %%
NAME = "sentiment_bilstm_mr"
workdir = Path(tempfile.mkdtemp())
if NAME in zoo.list_models(pretrained=True):
    model = zoo.load(NAME)
else:
    print(f"no published preset for {NAME}; training a smoke preset instead")
    run = zoo.train_from_config(
        Path(zoo.registry.CONFIGS_DIR) / "sentiment_lstm_mr.yaml",
        smoke=True,
        epochs=1,
        run_dir=workdir / "run",
        preset_dir=workdir / "preset",
        verbose=0,
    )
    model = zoo.load(run.preset)
print(model)
print(
    json.dumps(
        {
            k: v
            for k, v in model.metadata.items()
            if k in ("metrics", "parameters", "size_bytes", "command")
        },
        indent=1,
    )[:800]
)
texts = ["A gorgeous, witty, seductive movie.", "The plot is dull and the acting is worse.", ""]
predictions = model.predict(texts)
for t, p in zip(texts, predictions):
    print(f"{p['label']:8s} {p['probability']:.3f}  {t!r}")

# %% [markdown]
# ## Export a SavedModel and reload it with plain TensorFlow

# %%
export_dir = zoo.export(model, workdir / "sentiment_savedmodel")
print(sorted(p.name for p in export_dir.iterdir()))
reloaded = tf.saved_model.load(str(export_dir))  # no zoo code involved from here on
serve = reloaded.signatures["serving_default"]
print(serve.structured_input_signature)
served = serve(tf.constant(texts))
print({k: v.numpy() for k, v in served.items()})

# %% [markdown]
# ## `saved_model_cli`
#
# The command-line tool that ships with TensorFlow shows the signatures a server will see
# (and can run them: `saved_model_cli run --dir ... --tag_set serve --signature_def
# serving_default --input_exprs 'text=["great film"]'`).

# %%
cli = Path(sys.executable).with_name("saved_model_cli")
shown = subprocess.run(
    [
        str(cli),
        "show",
        "--dir",
        str(export_dir),
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
    ],
    capture_output=True,
    text=True,
    check=True,
).stdout
print(shown)

# %% [markdown]
# ## Checks

# %%
labels = [b.decode() for b in served["label"].numpy()]
assert labels == [p["label"] for p in predictions]
np.testing.assert_allclose(
    served["probability"].numpy(), [p["probability"] for p in predictions], atol=1e-5
)
assert "serving_default" in shown or "texts" in shown, shown
assert "DT_STRING" in shown
assert NAME in zoo.list_models() and set(zoo.list_models(pretrained=True)) <= set(zoo.list_models())
try:
    zoo.load("sentiment_bilstn_mr")  # a typo: the error suggests the right name
except KeyError as error:
    assert "sentiment_bilstm_mr" in str(error)
else:
    raise AssertionError("a misspelt name must raise")
print("the exported SavedModel, reloaded with plain TensorFlow, gives the same predictions")
