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
# # 4. Inside LSTM and GRU: the gates
#
# **LSTM** (`zoo.layers.LSTMCell`): from $z = x_t W + h_{t-1} U + b$ split in four blocks,
# input gate $i = \sigma(z_i)$, forget gate $f = \sigma(z_f)$, output gate
# $o = \sigma(z_o)$, candidate $g = \tanh(z_c)$; then $c_t = f \odot c_{t-1} + i \odot g$ and
# $h_t = o \odot \tanh(c_t)$. The forget gate decides what the memory cell keeps, the input
# gate what it writes, the output gate what it shows.
#
# **GRU** (`zoo.layers.GRUCell`): update gate $z$, reset gate $r$, candidate $\tilde h$;
# $h_t = z \odot h_{t-1} + (1 - z) \odot \tilde h$. One gate interpolates between keeping
# the old state and writing a new one.
#
# We train a small character-level language model (predict the next character) on real
# movie-review sentences with each cell, then read the gate activations step by step with
# the cell's own `project_inputs` / `forward_step` (the same code the layer's loop runs).

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

import zoo.data.sentiment
import zoo.layers

keras.utils.set_random_seed(SEED)
GPUS = tf.config.list_physical_devices("GPU")
if GPUS:
    keras.mixed_precision.set_global_policy("mixed_float16")
# A GPU takes 4x larger batches; 4x more epochs keep the number of updates the same.
SCALE = 4 if GPUS else 1
BATCH = 32 * SCALE
# full mode: ~10 min on 2 CPU cores (both cells)
N_SENTENCES, EPOCHS, UNITS, MAX_LEN = (300, 2, 32, 80) if SMOKE else (5000, 8, 96, 120)
EPOCHS *= SCALE
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE)

# %% [markdown]
# ## Real sentences: the movie-review (MR) training split

# %%
texts = [
    t.decode("utf-8")[:MAX_LEN]
    for t, _ in zoo.data.sentiment.read_split("mr", "train").take(N_SENTENCES).as_numpy_iterator()
]
print(len(texts), "sentences, e.g.", texts[:2])
lookup = keras.layers.StringLookup(vocabulary=sorted(set("".join(texts))))
V = lookup.vocabulary_size()


def encode(batch):
    """list of str -> int32 (batch, MAX_LEN + 1) character ids, 0 = padding."""
    chars = tf.strings.unicode_split(tf.constant(batch), "UTF-8")
    return lookup(chars).to_tensor(shape=(len(batch), MAX_LEN + 1))


ids = encode(texts)
x_ids, y_ids = ids[:, :-1], ids[:, 1:]


# %%
def language_model(cell):
    """char ids (batch, time) -> next-char logits (batch, time, V)."""
    inp = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(V, 16, mask_zero=True)(inp)
    h = zoo.layers.make_recurrent(cell, UNITS, return_sequences=True, name="rnn")(emb)
    return keras.Model(inp, keras.layers.Dense(V, dtype="float32")(h))


models = {}
for cell in ("lstm", "gru"):
    model = language_model(cell)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    hist = model.fit(x_ids, y_ids, batch_size=BATCH, epochs=EPOCHS, verbose=0).history["loss"]
    models[cell] = model
    print(f"{cell}: loss per epoch {np.round(hist, 3)}")

# %% [markdown]
# ## Reading the gates
#
# The layer's loop calls `cell.project_inputs` once and `cell.forward_step` per step;
# `forward_step` returns the new state and the gate activations it saves for the
# backward pass. The GRU's `project_inputs` computes all $x_t W + b$ up front, one block
# per gate; the LSTM's only appends a column of ones to $x_t$, and its step multiplies
# $[x_t, 1, h_{t-1}]$ by $[W; b; U]$, one product per gate (fewer operations per step).
# We run the same two calls ourselves.


# %%
def gate_trace(model, sentence):
    """Per-step gate activations: dict name -> float32 (T, units), plus the states (T, units)."""
    layer = model.get_layer("rnn")
    cell = layer.cell
    # embeddings (1, T, 16); float32 also under mixed precision: called outside the layer,
    # the cell's methods see its float32 weights as they are
    x = tf.cast(model.layers[1](encode([sentence])[:, : len(sentence)]), "float32")
    projected = [p[0] for p in cell.project_inputs(x)]  # what the loop reads, (T, ...)
    constants = cell.step_constants()
    states = [tf.zeros((1, cell.units)) for _ in cell.state_size]
    names = (
        ["input i", "forget f", "candidate g", "output o"]
        if cell.gates == 4
        else ["update z", "reset r", "candidate h~"]
    )
    saved, hs = [], []
    for t in range(len(sentence)):
        # `saved` starts with the gate activations, in the order of `names`.
        step = [p[t : t + 1] for p in projected]
        states, gates = cell.forward_step(step, states, constants)
        saved.append([g[0].numpy() for g in gates[: len(names)]])
        hs.append(states[0][0].numpy())
    saved = np.array(saved)  # (T, gates, units)
    out = {n: saved[:, k] for k, n in enumerate(names)}
    return out, np.array(hs), layer(x)[0].numpy()


sentence = texts[0]
traces = {cell: gate_trace(models[cell], sentence) for cell in models}
spaces = np.array([c == " " for c in sentence])
KEY_GATE = {"lstm": "forget f", "gru": "update z"}  # the gate that decides what is kept


def word_boundary_units(gates, key, n=16):
    """The n units whose `key` gate differs most between spaces and other characters."""
    contrast = np.abs(gates[key][spaces].mean(0) - gates[key][~spaces].mean(0))
    return np.argsort(-contrast)[:n]


for cell, (gates, _, _) in traces.items():
    units = word_boundary_units(gates, KEY_GATE[cell])
    fig, axes = plt.subplots(len(gates), 1, figsize=(12, 1.6 * len(gates)), sharex=True)
    for ax, (name, values) in zip(axes, gates.items()):
        lo = -1 if "candidate" in name else 0
        ax.imshow(values[:, units].T, aspect="auto", cmap="coolwarm", vmin=lo, vmax=1)
        ax.set_ylabel(name, rotation=0, ha="right")
        ax.set_yticks([])
    axes[-1].set_xticks(range(len(sentence)), list(sentence), fontsize=7)
    fig.suptitle(
        f"{cell.upper()} gates of the 16 units whose {KEY_GATE[cell]} gate reacts most to "
        f"spaces, on:\n{sentence!r}"
    )
    plt.show()

# %% [markdown]
# Each row is one unit, each column one character (blue 0, red 1; the candidates run from
# -1 to 1). A forget gate $f \approx 1$ keeps the LSTM's memory cell, $f \approx 0$ wipes
# it; in the GRU, $z \approx 1$ keeps the state and $z \approx 0$ overwrites it with the
# candidate. Some units switch exactly at word boundaries: in the full-mode run the unit
# with the largest contrast in each cell keeps its memory at the spaces and rewrites it
# inside words (which way round is learned, not built in). Averaged over all units, and
# for that one unit:

# %%
contrast = {}
for cell, (gates, _, _) in traces.items():
    key = KEY_GATE[cell]
    at_spaces, elsewhere = gates[key][spaces].mean(), gates[key][~spaces].mean()
    contrast[cell] = np.abs(gates[key][spaces].mean(0) - gates[key][~spaces].mean(0))
    print(
        f"{cell}: mean {key} at spaces {at_spaces:.3f}, elsewhere {elsewhere:.3f}; "
        f"largest per-unit difference {contrast[cell].max():.3f}"
    )

SHOW = min(len(sentence), 50)  # the first 50 characters, readable
fig, axes = plt.subplots(len(traces), 1, figsize=(12, 2.2 * len(traces)), sharex=True)
for ax, (cell, (gates, _, _)) in zip(axes, traces.items()):
    u = int(np.argmax(contrast[cell]))
    ax.plot(gates[KEY_GATE[cell]][:SHOW, u], "o-", ms=3, label=f"{KEY_GATE[cell]}, unit {u}")
    for t in np.flatnonzero(spaces[:SHOW]):
        ax.axvspan(t - 0.5, t + 0.5, color="tab:orange", alpha=0.3, lw=0)
    ax.set_ylabel(cell)
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="upper right", fontsize=8)
axes[-1].set_xticks(range(SHOW), list(sentence[:SHOW]), fontsize=8)
fig.suptitle("the unit whose gate reacts most to spaces (orange)")
plt.show()

# %% [markdown]
# ## Checks

# %%
T = len(sentence)
for cell, (gates, hs, layer_out) in traces.items():
    for name, values in gates.items():
        assert values.shape == (T, UNITS), (cell, name, values.shape)
        lo = -1.0 if "candidate" in name else 0.0
        assert values.min() >= lo and values.max() <= 1.0, (cell, name)
    # the step-by-step states equal the layer's own output (same cell, same loop)
    np.testing.assert_allclose(hs, layer_out, atol=1e-4 if not GPUS else 2e-2)
lstm_gates, lstm_h, _ = traces["lstm"]
# the LSTM identity h = o * tanh(c), with c rebuilt from the gates
c = np.zeros(UNITS)
for t in range(T):
    c = lstm_gates["forget f"][t] * c + lstm_gates["input i"][t] * lstm_gates["candidate g"][t]
np.testing.assert_allclose(
    lstm_h[-1], lstm_gates["output o"][-1] * np.tanh(c), atol=1e-4 if not GPUS else 2e-2
)
print("gate activations have the right shapes and ranges and reproduce the layer's states")
