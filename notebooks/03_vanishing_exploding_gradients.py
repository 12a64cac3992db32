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
# # 3. Vanishing and exploding gradients
#
# BPTT (notebook 2) multiplies one Jacobian $\partial h_t/\partial h_{t-1} =
# \mathrm{diag}(1-h_t^2)\,W_h^\top$ per step. Over $k$ steps the product shrinks like
# $\lambda^k$ when the largest singular value $\lambda < 1$ (**vanishing**: the network cannot
# learn long-range dependencies) and grows like $\lambda^k$ when $\lambda > 1$
# (**exploding**: one update destroys the weights). LSTM and GRU add a gated, additive path
# for the state ($c_t = f \odot c_{t-1} + \dots$) whose Jacobian stays close to the forget
# gate, so information and gradient survive many steps.
#
# We use the **adding problem** (Hochreiter & Schmidhuber 1997): each step carries a random
# value and a marker; exactly two steps are marked (one near the start, one in the second
# half) and the target is the sum of the two marked values. Predicting the constant 1 gives
# a mean squared error of about 0.167; solving the task needs memory across the sequence.

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
import time

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import zoo.layers

GPUS = tf.config.list_physical_devices("GPU")
if GPUS:
    keras.mixed_precision.set_global_policy("mixed_float16")
# A GPU takes 4x larger batches; we give it 4x more (synthetic) data so that the number of
# updates, which decides whether a model learns the task, stays the same.
SCALE = 4 if GPUS else 1
BATCH = 64 * SCALE
# full mode: four lengths, ~12 min on 2 CPU cores (LSTM and GRU solve T=100 within 2-7 epochs)
LENGTHS = [50] if SMOKE else [10, 25, 50, 100]
N_TRAIN = (3000 if SMOKE else 6000) * SCALE
EPOCHS = 10 if SMOKE else 20
UNITS = 32
CELLS = ["simple_rnn", "lstm", "gru"]
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE, "| lengths", LENGTHS)


# %%
def adding_problem(n, T, rng):
    """n sequences of length T: inputs float32 (n, T, 2) = (value, marker), targets (n, 1)."""
    values = rng.uniform(0, 1, (n, T)).astype(np.float32)
    markers = np.zeros((n, T), np.float32)
    rows = np.arange(n)
    markers[rows, rng.integers(0, T // 10 + 1, n)] = 1  # early
    markers[rows, rng.integers(T // 2, T, n)] = 1  # second half
    return np.stack([values, markers], -1), (values * markers).sum(1, keepdims=True)


rng = np.random.default_rng(SEED)
x_demo, y_demo = adding_problem(1, 10, rng)
print(np.round(x_demo[0].T, 2), "->", y_demo[0])


# %%
def make_model(cell, T, **layer_kwargs):
    """(batch, T, 2) -> (batch, 1): one of our recurrent layers and a linear read-out."""
    return keras.Sequential(
        [
            keras.Input((T, 2)),
            zoo.layers.make_recurrent(cell, UNITS, **layer_kwargs),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )


results, models = {}, {}
for T in LENGTHS:
    x_train, y_train = adding_problem(N_TRAIN, T, rng)
    x_test, y_test = adding_problem(1000, T, rng)
    for cell in CELLS:
        keras.utils.set_random_seed(SEED)
        model = make_model(cell, T)
        model.compile(keras.optimizers.Adam(0.02, clipnorm=1.0), "mse")
        t0 = time.time()
        model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, verbose=0)
        results[cell, T] = model.evaluate(x_test, y_test, verbose=0)
        models[cell, T] = model
        print(f"T={T:4d} {cell:10s} test MSE {results[cell, T]:.4f}  ({time.time() - t0:.0f}s)")

# %%
plt.figure(figsize=(6, 3.5))
for cell in CELLS:
    plt.plot(LENGTHS, [results[cell, T] for T in LENGTHS], "o-", label=cell)
plt.axhline(1 / 6, color="gray", ls="--", label="predict the mean (1/6)")
plt.yscale("log")
plt.xlabel("sequence length T")
plt.ylabel("test MSE")
plt.legend()
plt.title("adding problem")
plt.show()

# %% [markdown]
# ## Gradient norm with respect to $h_{t-k}$
#
# With the library we can start a layer from any state (`initial_state`): the gradient of
# the state $k$ steps later with respect to that starting state is exactly
# $\|\partial h_t / \partial h_{t-k}\|$. We measure it on the trained long-sequence models.

# %%
T_LONG = LENGTHS[-1]
x_probe, _ = adding_problem(16, T_LONG, rng)
KS = list(range(1, T_LONG + 1, 5 if SMOKE else 1))


def grad_norms(layer, x):
    """||d sum(h_k) / d h_0|| for k in KS (mean over the batch)."""
    states = [tf.zeros((x.shape[0], layer.units)) for _ in layer.state_size]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(states[0])
        outputs = layer(tf.cast(x, layer.compute_dtype), initial_state=states)
        outputs = tf.cast(outputs, tf.float32)
        sums = [tf.reduce_sum(outputs[:, k - 1]) for k in KS]  # on the tape
    norms = []
    for total in sums:
        g = tape.gradient(total, states[0])
        norms.append(float(tf.reduce_mean(tf.norm(g, axis=-1))))
    return np.array(norms)


norms = {}
for cell in CELLS:
    trained = models[cell, T_LONG].layers[0]
    probe = zoo.layers.make_recurrent(cell, UNITS, return_sequences=True)
    probe.build((None, T_LONG, 2))
    probe.set_weights(trained.get_weights())
    norms[cell] = grad_norms(probe, x_probe)
plt.figure(figsize=(6, 3.5))
for cell in CELLS:
    plt.semilogy(KS, norms[cell], "o-", label=cell)
plt.xlabel("k (steps back)")
plt.ylabel(r"$\|\partial h_t / \partial h_{t-k}\|$")
plt.legend()
plt.title(f"gradient through time, trained models, T={T_LONG}")
plt.show()

# %% [markdown]
# ## Exploding gradients and gradient clipping
#
# A ReLU RNN whose recurrent matrix has singular values 1.5 amplifies its state and its
# gradient by 1.5 per step. Plain SGD then takes one giant step and the loss becomes NaN.
# Clipping the gradient norm (`clipnorm=1.0`; `zoo.train` does this by default for the
# vanilla RNN) bounds every step and the same run trains.

# %%
T_CLIP = 50
x_clip, y_clip = adding_problem(512, T_CLIP, np.random.default_rng(SEED))
clip_runs = {}
for clipnorm in (None, 1.0):
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((T_CLIP, 2)),
            zoo.layers.SimpleRNN(
                32, activation="relu", recurrent_initializer=keras.initializers.Orthogonal(gain=1.5)
            ),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.05, clipnorm=clipnorm), "mse")
    clip_runs[clipnorm] = model.fit(x_clip, y_clip, batch_size=64, epochs=3, verbose=0).history[
        "loss"
    ]
    print(f"clipnorm={clipnorm}: loss per epoch {clip_runs[clipnorm]}")

# %% [markdown]
# ## A trainable initial state
#
# By default every sequence starts from $h_0 = 0$. With `trainable_initial_state=True` the
# layer learns $h_0$ (one vector per state, shared by all sequences) — useful when
# sequences are short or when the start of a sequence needs a particular "mode". Here, on
# the short adding problem, it adds `units` parameters (two vectors for LSTM) that the
# optimizer moves away from zero.

# %%
x_short, y_short = adding_problem(N_TRAIN, 10, np.random.default_rng(SEED + 1))
init_runs = {}
for trainable in (False, True):
    keras.utils.set_random_seed(SEED)
    model = make_model("lstm", 10, trainable_initial_state=trainable)
    model.compile(keras.optimizers.Adam(0.02, clipnorm=1.0), "mse")
    hist = model.fit(x_short, y_short, batch_size=BATCH, epochs=3, verbose=0).history["loss"]
    init_runs[trainable] = (model, hist)
    print(
        f"trainable_initial_state={trainable}: params {model.count_params()}, loss {hist[-1]:.4f}"
    )
learned_h0, learned_c0 = (w.numpy() for w in init_runs[True][0].layers[0].initial_state_weights)
print("learned h0 (first 8):", np.round(learned_h0[:8], 3))

# %% [markdown]
# ## Checks

# %%
rnn_long, lstm_long, gru_long = (results[c, T_LONG] for c in CELLS)
assert lstm_long < 0.1 * rnn_long, (lstm_long, rnn_long)  # LSTM solves it, the RNN does not
assert gru_long < 0.1 * rnn_long, (gru_long, rnn_long)
assert rnn_long > 0.1  # the vanilla RNN is no better than predicting the mean
# the vanilla RNN's gradient decays over the sequence much more than the LSTM's
decay = {c: norms[c][-1] / norms[c][0] for c in CELLS}
assert decay["simple_rnn"] < 0.5 * decay["lstm"], decay
assert not np.isfinite(clip_runs[None][-1]) or clip_runs[None][-1] > 1e3  # exploded
assert np.isfinite(clip_runs[1.0][-1]) and clip_runs[1.0][-1] < clip_runs[1.0][0]  # tamed
assert init_runs[True][0].count_params() == init_runs[False][0].count_params() + 2 * UNITS
assert np.abs(learned_h0).max() > 1e-3
print("LSTM/GRU solve the long adding problem; the vanilla RNN does not.")
