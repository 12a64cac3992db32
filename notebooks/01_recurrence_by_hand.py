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
# # 1. The recurrence by hand
#
# A recurrent network reads a sequence one element at a time and carries a *state*
# (a vector `h`) from one step to the next:
#
# $$h_t = \tanh(W_x x_t + W_h h_{t-1} + b), \qquad y_t = \mathrm{softmax}(W_y h_t + b_y)$$
#
# The same weights are used at every step; "unrolling" the network over time turns it
# into a deep feed-forward network with shared weights. In this notebook we
#
# 1. write the recurrence in NumPy on a character example (continue `"hello"`),
# 2. run the same computation with `zoo.layers.SimpleRNN` and check the numbers are identical,
# 3. train the tiny network and generate `"hello"` from `"h"` with the NumPy code.
#
# Keras stores weights for row-vector inputs, so the code reads `x_t @ W` where the
# equation reads `W x_t` (`W` is the transpose).

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

if "ipykernel" not in sys.modules:  # plain `python notebook.py`: no display
    matplotlib.use("Agg")
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import zoo.layers

keras.utils.set_random_seed(SEED)
GPUS = tf.config.list_physical_devices("GPU")
# Mixed precision would change the numbers we compare below, so this notebook stays in
# float32 even on a GPU (the later, training-heavy notebooks switch it on).
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE)

# %% [markdown]
# ## Characters as one-hot vectors
#
# The vocabulary is the set of characters of `"hello"`: `e h l o`. The network reads
# `"hell"` and must predict the *next* character at each step: `"ello"`. Note that after
# `l` the answer is sometimes `l` and sometimes `o`: only the state can tell them apart.

# %%
text = "hello"
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
V = len(chars)


def one_hot(s):
    """str of length T -> float32 (T, V)."""
    return np.eye(V, dtype=np.float32)[[index[c] for c in s]]


x = one_hot(text[:-1])  # (4, V) inputs  h e l l
y = np.array([index[c] for c in text[1:]])  # (4,) targets e l l o
print(chars, x.shape, y)

# %% [markdown]
# ## The recurrence in NumPy, unrolled over time

# %%
UNITS = 8
rng = np.random.default_rng(SEED)
W_x = rng.normal(0, 0.5, (V, UNITS)).astype(np.float32)  # input weights (V, units)
W_h = rng.normal(0, 0.3, (UNITS, UNITS)).astype(np.float32)  # recurrent weights (units, units)
b = np.zeros(UNITS, np.float32)
W_y = rng.normal(0, 0.5, (UNITS, V)).astype(np.float32)
b_y = np.zeros(V, np.float32)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rnn_numpy(x, W_x, W_h, b, h0=None):
    """x: (T, input_dim) -> states (T, units), one step at a time."""
    h = np.zeros(W_h.shape[0], np.float32) if h0 is None else h0
    states = []
    for x_t in x:  # the unrolled loop: the same weights at every step
        h = np.tanh(x_t @ W_x + h @ W_h + b)
        states.append(h)
    return np.stack(states)


H_np = rnn_numpy(x, W_x, W_h, b)
P_np = softmax(H_np @ W_y + b_y)
print("states", H_np.shape, "\nnext-char probabilities\n", P_np.round(3))

# %% [markdown]
# ## The network unrolled over time
#
# Drawn step by step, the loop above is a feed-forward network four layers deep whose
# layers all share `W_x`, `W_h` and `W_y`; below it, the state vector `h_t` (8 units) that
# flows along the horizontal arrows.

# %%
fig, (ax, ax_h) = plt.subplots(2, 1, figsize=(8, 5.5), height_ratios=[1.2, 1])
for t, c in enumerate(text[:-1]):
    for y0, label, color in (
        (0, f"x{t}={c!r}", "tab:red"),
        (1, f"h{t}", "tab:green"),
        (2, f"y{t}", "tab:blue"),
    ):
        ax.add_patch(
            plt.Rectangle((2 * t - 0.45, 1.4 * y0 - 0.3), 0.9, 0.6, color=color, alpha=0.6)
        )
        ax.text(2 * t, 1.4 * y0, label, ha="center", va="center")
    ax.annotate("", (2 * t, 1.1), (2 * t, 0.3), arrowprops=dict(arrowstyle="->"))
    ax.text(2 * t + 0.1, 0.7, "W_x", fontsize=8)
    ax.annotate("", (2 * t, 2.5), (2 * t, 1.7), arrowprops=dict(arrowstyle="->"))
    ax.text(2 * t + 0.1, 2.1, "W_y", fontsize=8)
    ax.annotate("", (2 * t - 0.45, 1.4), (2 * t - 1.55, 1.4), arrowprops=dict(arrowstyle="->"))
    ax.text(2 * t - 1.25, 1.5, "W_h", fontsize=8)
ax.text(-1.6, 1.4, "h=0 ", ha="right", va="center")
ax.set_xlim(-2.5, 7)
ax.set_ylim(-0.5, 3.2)
ax.axis("off")
ax.set_title("SimpleRNN unrolled over 'hell' (same weights at every step)")
ax_h.imshow(H_np.T, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
ax_h.set_xticks(range(4), [f"h{t} after {c!r}" for t, c in enumerate(text[:-1])])
ax_h.set_ylabel("unit")
plt.show()

# %% [markdown]
# ## The same with `zoo.layers.SimpleRNN`
#
# `SimpleRNN` holds exactly these three tensors as `kernel` (`W_x`), `recurrent_kernel`
# (`W_h`) and `bias` (`b`). We copy our NumPy weights in and compare.

# %%
rnn = zoo.layers.SimpleRNN(UNITS, return_sequences=True)
H_zoo = rnn(x[None])[0].numpy()  # builds the layer
rnn.set_weights([W_x, W_h, b])
H_zoo = rnn(x[None])[0].numpy()
print("max |NumPy - zoo| =", np.abs(H_np - H_zoo).max())
assert np.allclose(H_np, H_zoo, atol=1e-6)

# %% [markdown]
# ## Training the tiny network
#
# We train `SimpleRNN -> Dense(softmax)` on the one example with Keras; the loss is the
# cross-entropy summed over the four steps (notebook 2 derives its gradient by hand).

# %%
model = keras.Sequential(
    [
        keras.Input((None, V)),
        zoo.layers.SimpleRNN(UNITS, return_sequences=True),
        keras.layers.Dense(V, activation="softmax"),
    ]
)
model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
history = model.fit(x[None], y[None], epochs=100 if SMOKE else 300, verbose=0)
plt.figure(figsize=(5, 3))
plt.plot(history.history["loss"])
plt.xlabel("epoch")
plt.ylabel("cross-entropy")
plt.title("learning 'hell' -> 'ello'")
plt.show()

# %% [markdown]
# ## Generating with the NumPy recurrence and the trained weights
#
# Start from `"h"`, feed each predicted character back in, keep the state.

# %%
(tW_x, tW_h, tb), (tW_y, tb_y) = model.layers[0].get_weights(), model.layers[1].get_weights()


def generate(first, n):
    h, out = np.zeros(UNITS, np.float32), first
    for _ in range(n):
        h = np.tanh(one_hot(out[-1])[0] @ tW_x + h @ tW_h + tb)
        out += chars[int(np.argmax(h @ tW_y + tb_y))]
    return out


generated = generate("h", 4)
print("generated:", generated)

P_trained_np = softmax(rnn_numpy(x, tW_x, tW_h, tb) @ tW_y + tb_y)
P_trained_zoo = model.predict(x[None], verbose=0)[0]

fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, P, title in ((axes[0], P_trained_np, "NumPy"), (axes[1], P_trained_zoo, "zoo.layers")):
    ax.imshow(P.T, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(4), list(text[:-1]))
    ax.set_yticks(range(V), chars)
    ax.set_xlabel("input character")
    ax.set_title(f"P(next char), {title}")
plt.show()

# %% [markdown]
# ## Streaming: one step at a time with `layer.step`
#
# A deployed model often receives its input as it arrives (a keyboard, a sensor). Every
# zoo layer can advance one step from a given state: `layer.step(x_t, states)` returns
# `(output, new_states)`, the same step its full-sequence `call` runs. Generation above
# did exactly this in NumPy; here the trained Keras layer does it, and we check that
# feeding `"hell"` character by character gives the outputs of one call over the whole
# sequence.

# %%
trained_rnn = model.layers[0]
states = None  # None: start from the initial (zero) state
streamed = []
for t, c in enumerate(text[:-1]):
    h_t, states = trained_rnn.step(one_hot(c), states)
    streamed.append(h_t.numpy()[0])
    print(f"step {t}: fed {c!r}, |h_{t}| = {np.linalg.norm(streamed[-1]):.3f}")
streamed = np.stack(streamed)
full = trained_rnn(x[None]).numpy()[0]
print("max |streamed - full call| =", np.abs(streamed - full).max())
assert np.allclose(streamed, full, atol=1e-6)

# %% [markdown]
# ## Checks

# %%
assert np.allclose(P_trained_np, P_trained_zoo, atol=1e-5), np.abs(
    P_trained_np - P_trained_zoo
).max()
assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
assert generated == "hello", generated
print("NumPy and zoo.layers.SimpleRNN agree; the network continues 'h' as", repr(generated))
