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
# # 5. The four shapes of recurrent models
#
# | shape | input -> output | example in the zoo |
# |---|---|---|
# | one-to-one | vector -> vector | (no recurrence: a feed-forward net, a single RNN step) |
# | one-to-many | vector -> sequence | image captioning (notebook 8) |
# | many-to-one | sequence -> vector | sentiment classification (notebook 6) |
# | many-to-many | sequence -> sequence | tagging (NER, notebook 7) when aligned; translation (notebook 9) with an encoder-decoder when not |
#
# With our layers the shape is a matter of three switches: `return_sequences` (an output
# per step or only the last), `initial_state` (condition the sequence on a vector) and
# `RepeatVector`/teacher forcing (feed something at every step). Below: a figure, then a
# tiny model of each shape trained on a toy task.

# %% tags=["parameters"]
import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import sys

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import zoo.layers

keras.utils.set_random_seed(SEED)
GPUS = tf.config.list_physical_devices("GPU")
if GPUS:
    keras.mixed_precision.set_global_policy("mixed_float16")
# A GPU takes 4x larger batches; 4x more (synthetic) data keeps the number of updates.
SCALE = 4 if GPUS else 1
BATCH = 32 * SCALE
N, T, UNITS, EPOCHS = (512, 8, 16, 15) if SMOKE else (4096, 12, 32, 40)
N *= SCALE
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE)

# %% [markdown]
# ## The figure

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
layouts = {
    "one-to-one": ([0], [0]),
    "one-to-many": ([0], [0, 1, 2, 3]),
    "many-to-one": ([0, 1, 2, 3], [3]),
    "many-to-many": ([0, 1, 2, 3], [0, 1, 2, 3]),
}
for ax, (title, (ins, outs)) in zip(axes, layouts.items()):
    steps = sorted(set(ins) | set(outs))
    for s in steps:
        ax.add_patch(plt.Rectangle((s - 0.3, 0.7), 0.6, 0.6, color="tab:green"))  # state
        if s > steps[0]:
            ax.annotate("", (s - 0.3, 1.0), (s - 0.7, 1.0), arrowprops=dict(arrowstyle="->"))
    for s in ins:
        ax.add_patch(plt.Rectangle((s - 0.3, -0.3), 0.6, 0.6, color="tab:red"))
        ax.annotate("", (s, 0.7), (s, 0.3), arrowprops=dict(arrowstyle="->"))
    for s in outs:
        ax.add_patch(plt.Rectangle((s - 0.3, 1.7), 0.6, 0.6, color="tab:blue"))
        ax.annotate("", (s, 1.7), (s, 1.3), arrowprops=dict(arrowstyle="->"))
    ax.set_xlim(-0.7, 3.7)
    ax.set_ylim(-0.5, 2.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
fig.text(0.5, 0.02, "red: input   green: recurrent state   blue: output", ha="center")
plt.show()

# %% [markdown]
# ## Toy data
#
# Random bit sequences `bits` (N, T) and
# * one-to-one: the fraction of ones (already summarised in one number) -> "more ones than
#   zeros?" (the same question as many-to-one, but someone else did the counting);
# * one-to-many: a number k in [0, T] -> the sequence 1 1 .. 1 0 .. 0 with k ones;
# * many-to-one: a bit sequence -> "more ones than zeros?";
# * many-to-many: a bit sequence -> its running parity (xor of the bits so far).

# %%
rng = np.random.default_rng(SEED)
bits = rng.integers(0, 2, (N, T)).astype(np.float32)
counts = bits.sum(1)
data = {
    "one-to-one": (counts[:, None] / T, (counts > T / 2).astype(np.float32)[:, None]),
    "one-to-many": (
        counts[:, None] / T,
        (np.arange(T)[None] < counts[:, None]).astype(np.float32)[..., None],
    ),
    "many-to-one": (bits[..., None], (counts > T / 2).astype(np.float32)[:, None]),
    "many-to-many": (bits[..., None], (np.cumsum(bits, 1) % 2)[..., None]),
}

# %% [markdown]
# ## A tiny model of each shape


# %%
def one_to_one():
    """(batch, 1) -> (batch, 1): one recurrent step is just a dense layer with tanh."""
    inp = keras.Input((1,))
    x = keras.layers.Reshape((1, 1))(inp)  # a sequence of length 1
    h = zoo.layers.GRU(UNITS)(x)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(h))


def one_to_many():
    """(batch, 1) -> (batch, T, 1): the vector sets the initial state; the input at each step
    is the same vector (RepeatVector), the layer returns every step."""
    inp = keras.Input((1,))
    h0 = keras.layers.Dense(UNITS, activation="tanh")(inp)
    x = keras.layers.RepeatVector(T)(inp)
    h = zoo.layers.LSTM(UNITS, return_sequences=True)(x, initial_state=[h0, h0])
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(h))


def many_to_one():
    """(batch, T, 1) -> (batch, 1): only the last state is read out."""
    inp = keras.Input((T, 1))
    h = zoo.layers.SimpleRNN(UNITS)(inp)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(h))


def many_to_many():
    """(batch, T, 1) -> (batch, T, 1): one output per step (return_sequences=True)."""
    inp = keras.Input((T, 1))
    h = zoo.layers.GRU(UNITS, return_sequences=True)(inp)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(h))


builders = {
    "one-to-one": one_to_one,
    "one-to-many": one_to_many,
    "many-to-one": many_to_one,
    "many-to-many": many_to_many,
}
models, accuracy, shapes = {}, {}, {}
for name, build in builders.items():
    x, y = data[name]
    model = build()
    # at lr 0.02 the vanilla RNN of many-to-one oscillated (71-78% in full mode); a smaller
    # step and gradient clipping (notebook 3) make every model reach ~100%
    optimizer = keras.optimizers.Adam(0.01, clipnorm=1.0)
    model.compile(optimizer, "binary_crossentropy", metrics=["binary_accuracy"])
    hist = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0).history
    pred = model.predict(x[:4], verbose=0)
    models[name], accuracy[name], shapes[name] = (
        model,
        hist["binary_accuracy"][-1],
        (x[:4].shape, pred.shape),
    )
    print(
        f"{name:13s} input {x[:4].shape} -> output {pred.shape}; train accuracy {accuracy[name]:.3f}"
    )

# %% [markdown]
# ## Checks

# %%
assert shapes["one-to-one"] == ((4, 1), (4, 1))
assert shapes["one-to-many"] == ((4, 1), (4, T, 1))
assert shapes["many-to-one"] == ((4, T, 1), (4, 1))
assert shapes["many-to-many"] == ((4, T, 1), (4, T, 1))
base = {name: max(y.mean(), 1 - y.mean()) for name, (_, y) in data.items()}  # majority class
for name in builders:
    assert accuracy[name] > base[name] + 0.05, (name, accuracy[name], base[name])
print("the four shapes have the four signatures, and every model beats the majority class")
