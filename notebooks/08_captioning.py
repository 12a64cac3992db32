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
# # 8. Image captioning (one-to-many)
#
# One input (an image) -> a sequence of words. A convolutional encoder turns the image into
# a grid of feature vectors; a recurrent decoder starts from a state computed from the
# image and emits one word per step, feeding each word back in. With **attention** the
# decoder also looks at the grid at every step: a softmax over the grid cells says where.
# The zoo's captioning task (`zoo.tasks.captioning`) does this on emoji artwork, whose
# captions are the emoji names ("grinning face with big eyes"). We train it with
# `zoo.train.train_from_config`, show images with generated and true captions, and the
# attention maps.

# %% tags=["parameters"]
import os

import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
# epochs: smoke 1; full mode None = the config's schedule (30 epochs; the rendered full run took 8 min on 2 idle CPU cores here;
# a GPU takes minutes). On a CPU, a number here (or ZOO_NOTEBOOK_EPOCHS) cuts it short.
EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 0)) or (1 if SMOKE else None)
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import io
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from PIL import Image

import zoo
import zoo.data.captioning as cdata
from zoo.registry import ZooModel
from zoo.tasks import get_task

GPUS = tf.config.list_physical_devices("GPU")  # zoo.train switches on mixed precision itself
NAME = "caption_lstm_emoji"
N_SHOW = 4
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
if SMOKE:  # a small model for a quick run
    config["model"].update(
        units=64, embedding_dim=32, feature_dim=64, conv_filters=[16, 32, 64, 64], eval_beam_size=1
    )
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

# %% [markdown]
# ## Images, generated and true captions, attention

# %%
task = get_task("captioning")
images = cdata.sample_images(config["data"], n=N_SHOW, split="test")  # PNG bytes
truth = cdata.load_split_arrays("test", limit=N_SHOW)["captions"]


def show(zoo_model, title, n_words=4):
    """One row per image: the image with its generated and true caption, then where the
    decoder looked (attention over the conv grid, upsampled onto the image) for each of the
    first `n_words` generated words."""
    captions, attention = task.decode(
        zoo_model.model, images, zoo_model.assets, return_attention=True
    )
    fig, axes = plt.subplots(N_SHOW, 1 + n_words, figsize=(2.4 * (1 + n_words), 2.6 * N_SHOW))
    for k in range(N_SHOW):
        image = Image.open(io.BytesIO(images[k])).convert("RGB")
        axes[k, 0].imshow(image)
        axes[k, 0].set_title(f"gen: {captions[k]}\ntrue: {truth[k]}", fontsize=8)
        words = captions[k].split()
        for j in range(n_words):
            ax = axes[k, 1 + j]
            if j < len(words):
                ax.imshow(image)
                ax.imshow(
                    attention[k, j],
                    cmap="magma",
                    alpha=0.6,
                    extent=(0, image.width, image.height, 0),
                    interpolation="bilinear",
                )
                ax.set_title(f"attention for {words[j]!r}", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title)
    plt.tight_layout()
    plt.show()
    return captions, attention


trained = ZooModel(result.model, task, result.config, result.assets)
captions, attention = show(trained, "smoke-trained" if SMOKE else NAME)

# %% [markdown]
# ## The pretrained model (the best published captioning preset)

# %%
published = [
    n
    for n in (NAME, "caption_gru_emoji", "caption_rnn_emoji")
    if n in zoo.list_models(pretrained=True)
]
pretrained_captions = None
if published:
    pretrained = zoo.load(published[0])
    print(pretrained)
    pretrained_captions = pretrained.predict(images)
    pretrained_metrics = pretrained.evaluate("test", limit=64 if SMOKE else None)
    print({k: round(v, 1) for k, v in pretrained_metrics.items()})
    for c, t in zip(pretrained_captions, truth):
        print(f"{c!r:45s} true: {t!r}")
    if pretrained.config["model"].get("attention"):
        show(pretrained, published[0])
else:
    print(
        "skipped: no captioning preset published yet (python -m zoo train configs/caption_lstm_emoji.yaml --publish)"
    )

# %% [markdown]
# ## Checks

# %%
assert len(captions) == N_SHOW and all(isinstance(c, str) for c in captions)
assert (
    attention.shape[:2] == (N_SHOW, config["model"]["max_length"])
    and attention.shape[2] == attention.shape[3]
)
np.testing.assert_allclose(
    attention[:, 0].sum(axis=(1, 2)), 1.0, atol=1e-3
)  # a distribution over the grid
assert (attention >= 0).all()
assert "bleu4" in result.metrics and 0 <= result.metrics["bleu4"] <= 100
if pretrained_captions is not None:
    assert all(c.strip() for c in pretrained_captions)
    assert pretrained_metrics["bleu1"] > 20, (
        pretrained_metrics
    )  # far above chance on held-out emoji
    if not SMOKE and EPOCHS is None and published[0] == NAME:  # full schedule, same recipe
        assert result.metrics["bleu4"] > pretrained_metrics["bleu4"] - 8, result.metrics
print("captions generated; attention maps are distributions over the image grid")
