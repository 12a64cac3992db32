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
# # 2. Back-propagation through time (BPTT)
#
# Training a recurrent network means differentiating a loss that is a **sum over time
# steps**, $L = \sum_t L_t$, through the unrolled network. With
#
# $$a_t = x_t W_x + h_{t-1} W_h + b,\quad h_t = \tanh(a_t),\quad z_t = h_t W_y + b_y,\quad
#   L_t = -\log \mathrm{softmax}(z_t)_{y_t}$$
#
# the chain rule, applied from the last step backwards, gives
#
# * $\partial L/\partial z_t = p_t - \mathrm{onehot}(y_t)$
# * $\partial L/\partial h_t = (\partial L/\partial z_t) W_y^\top + (\partial L/\partial a_{t+1}) W_h^\top$
#   (the second term is the gradient arriving **from the future**)
# * $\partial L/\partial a_t = \partial L/\partial h_t \odot (1 - h_t^2)$
# * $\partial L/\partial W_x = \sum_t x_t^\top \partial L/\partial a_t$,
#   $\partial L/\partial W_h = \sum_t h_{t-1}^\top \partial L/\partial a_t$,
#   $\partial L/\partial b = \sum_t \partial L/\partial a_t$.
#
# We implement this in NumPy and check it against `tf.GradientTape` on a model built
# from `zoo.layers.SimpleRNN`. Then **truncated BPTT**: cut the backward pass every `k`
# steps (carry the state forward, but not its gradient backward).

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
# We compare gradients to 1e-4, so this notebook stays in float32 on a GPU too.
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE)

# %% [markdown]
# ## Data: next-character prediction on a short text

# %%
text = "hello world, hello recurrent networks, hello gradients through time. " * 2
chars = sorted(set(text))
V, T, B, UNITS = len(chars), 12, 8 if SMOKE else 32, 16
ids = np.array([chars.index(c) for c in text])
starts = np.random.default_rng(SEED).integers(0, len(ids) - T - 1, B)
X = np.eye(V, dtype=np.float32)[np.stack([ids[s : s + T] for s in starts])]  # (B, T, V)
Y = np.stack([ids[s + 1 : s + T + 1] for s in starts])  # (B, T)
print("inputs", X.shape, "targets", Y.shape)

# %% [markdown]
# ## The model, from the library

# %%
rnn = zoo.layers.SimpleRNN(UNITS, return_sequences=True, return_state=True)
head = keras.layers.Dense(V)
h0 = tf.zeros((B, UNITS))
rnn(X, initial_state=[h0])
head(tf.zeros((1, UNITS)))
W_x, W_h, b = (w.numpy() for w in rnn.weights)
W_y, b_y = (w.numpy() for w in head.weights)


def loss_tf(X, Y, h0):
    """Summed cross-entropy over batch and time; returns (loss, per-step losses (T,))."""
    H, _ = rnn(X, initial_state=[h0])
    logits = head(H)
    per = keras.losses.sparse_categorical_crossentropy(Y, logits, from_logits=True)  # (B, T)
    return tf.reduce_sum(per), tf.reduce_sum(per, axis=0)


# %% [markdown]
# ## BPTT by hand (NumPy)


# %%
def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def bptt_numpy(X, Y, h0, truncate=None):
    """Gradients of the summed loss; with `truncate=k` no gradient flows from step t back to
    step t-1 when t is a multiple of k (the chunk boundaries of truncated BPTT).

    X: (B, T, V), Y: (B, T), h0: (B, units) -> dict of arrays shaped like the weights."""
    Bn, Tn, _ = X.shape
    hs, ps = [h0], []
    for t in range(Tn):  # forward, keeping every state
        hs.append(np.tanh(X[:, t] @ W_x + hs[-1] @ W_h + b))
        ps.append(softmax(hs[-1] @ W_y + b_y))
    g = {k: np.zeros_like(v) for k, v in dict(W_x=W_x, W_h=W_h, b=b, W_y=W_y, b_y=b_y).items()}
    da_next = np.zeros_like(h0)
    for t in reversed(range(Tn)):  # backward through time
        dz = ps[t] - np.eye(V)[Y[:, t]]
        g["W_y"] += hs[t + 1].T @ dz
        g["b_y"] += dz.sum(0)
        dh = dz @ W_y.T + da_next @ W_h.T  # from the output now + from the future
        da = dh * (1 - hs[t + 1] ** 2)
        g["W_x"] += X[:, t].T @ da
        g["W_h"] += hs[t].T @ da
        g["b"] += da.sum(0)
        da_next = np.zeros_like(da) if truncate and t % truncate == 0 else da
    loss = -sum(np.log(ps[t][np.arange(Bn), Y[:, t]]).sum() for t in range(Tn))
    return loss, g


loss_np, grads_np = bptt_numpy(X, Y, np.zeros((B, UNITS), np.float32))

with tf.GradientTape() as tape:
    loss_lib, per_step = loss_tf(X, Y, h0)
grads_tf = dict(
    zip(["W_x", "W_h", "b", "W_y", "b_y"], tape.gradient(loss_lib, rnn.weights + head.weights))
)
for k in grads_np:
    err = np.abs(grads_np[k] - grads_tf[k].numpy()).max()
    print(f"{k:4s} max |hand - tape| = {err:.2e}   (|grad| max {np.abs(grads_np[k]).max():.3f})")

# %% [markdown]
# ## The loss is a sum over time steps, and so is its gradient
#
# Each $L_t$ only depends on the steps up to $t$; the gradient of $L$ is the sum of the
# gradients of the $L_t$. Below: the contribution of each $L_t$ to $\partial L/\partial W_h$.

# %%
norms, total = [], tf.zeros_like(rnn.weights[1])
for t in range(T):
    with tf.GradientTape() as tape:
        _, per = loss_tf(X, Y, h0)
        lt = per[t]
    g_t = tape.gradient(lt, rnn.weights[1])
    total += g_t
    norms.append(float(tf.norm(g_t)))
plt.figure(figsize=(6, 3))
plt.bar(range(T), norms)
plt.xlabel("time step t")
plt.ylabel(r"$\|\partial L_t / \partial W_h\|$")
plt.title("per-step contributions to the recurrent gradient")
plt.show()
sum_err = float(tf.reduce_max(tf.abs(total - grads_tf["W_h"])))
print("max |sum_t dL_t/dW_h - dL/dW_h| =", sum_err)

# %% [markdown]
# ## Truncated BPTT
#
# For long sequences the backward pass is cut into chunks of `k` steps: the forward state
# is carried from chunk to chunk, but treated as a constant (`tf.stop_gradient`), so no
# gradient crosses a chunk boundary. With the library that is just `initial_state`:

# %%
K = 4


def truncated_grads_tf(X, Y, k):
    state = tf.zeros((B, UNITS))
    with tf.GradientTape() as tape:
        loss = 0.0
        for s in range(0, T, k):
            H, state = rnn(X[:, s : s + k], initial_state=[tf.stop_gradient(state)])
            loss += tf.reduce_sum(
                keras.losses.sparse_categorical_crossentropy(
                    Y[:, s : s + k], head(H), from_logits=True
                )
            )
    return loss, dict(
        zip(["W_x", "W_h", "b", "W_y", "b_y"], tape.gradient(loss, rnn.weights + head.weights))
    )


tloss_tf, tgrads_tf = truncated_grads_tf(X, Y, K)
tloss_np, tgrads_np = bptt_numpy(X, Y, np.zeros((B, UNITS), np.float32), truncate=K)
terr = max(np.abs(tgrads_np[k] - tgrads_tf[k].numpy()).max() for k in tgrads_np)
diff_full = np.abs(tgrads_np["W_h"] - grads_np["W_h"]).max()
print(
    f"truncated (k={K}): max |hand - tape| = {terr:.2e}; differs from full BPTT by {diff_full:.3f} in W_h"
)

# %% [markdown]
# Truncation leaves the loss unchanged (same forward pass) and the output-layer gradient
# unchanged, but the recurrent gradient loses every path longer than the chunk.

# %% [markdown]
# ## Checks

# %%
assert abs(loss_np - float(loss_lib)) < 1e-3 * abs(loss_np)
for k in grads_np:
    np.testing.assert_allclose(grads_np[k], grads_tf[k].numpy(), rtol=1e-3, atol=1e-4)
assert sum_err < 1e-4
assert abs(tloss_np - float(tloss_tf)) < 1e-3 * abs(tloss_np)
for k in tgrads_np:
    np.testing.assert_allclose(tgrads_np[k], tgrads_tf[k].numpy(), rtol=1e-3, atol=1e-4)
np.testing.assert_allclose(tgrads_np["W_y"], grads_np["W_y"], rtol=1e-4, atol=1e-5)
assert diff_full > 1e-3  # truncation really changes the recurrent gradient
print("hand-derived BPTT (full and truncated) equals tf.GradientTape on zoo.layers.SimpleRNN")
