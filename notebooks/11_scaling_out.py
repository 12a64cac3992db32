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
# # 11. Scaling out with `tf.distribute`
#
# **Data parallelism**: every device (a *replica*) holds a copy of the model, gets a
# different slice of each global batch, computes its gradients, and an **all-reduce**
# averages the gradients so all copies take the same step. The result equals training on
# the whole batch on one device; the speed-up comes from the replicas working at once.
#
# * `MirroredStrategy`: the replicas are the GPUs of one machine (here: two *logical* CPU
#   devices, so the mechanics run on a laptop);
# * `MultiWorkerMirroredStrategy`: the same across machines; each worker learns the
#   cluster from the `TF_CONFIG` environment variable.
#
# `zoo.train.train_from_config(config, strategy=...)` builds the model under the
# strategy's scope and scales the global batch by the number of replicas
# (`train.batch_size` is per replica).

# %% tags=["parameters"]
import os

import zoo.notebook

# Smoke mode (small data, quick) on a CPU, full mode (real training) when a GPU is visible;
# ZOO_NOTEBOOK_SMOKE=1 / 0 in the environment overrides (or set SMOKE = True / False here).
SMOKE, WHY = zoo.notebook.smoke_mode()
print(zoo.notebook.describe(SMOKE, WHY))
# epochs: smoke 1; full mode None = the config's schedule (25 epochs, early stopping)
EPOCHS = int(os.environ.get("ZOO_NOTEBOOK_EPOCHS", 0)) or (1 if SMOKE else None)
SEED = 0
# ruff: noqa: E402  (notebook cells import where they are first needed)

# %%
import tensorflow as tf

# Split the CPU into two logical devices. This must happen before TensorFlow touches any
# device, so it is the first thing the notebook does (restart the kernel to change it).
GPUS = tf.config.list_physical_devices("GPU")
if not GPUS:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
DEVICES = [d.name for d in tf.config.list_logical_devices("GPU" if GPUS else "CPU")]
print("GPU:", bool(GPUS), "| smoke mode:", SMOKE, "| epochs:", EPOCHS or "from the config")
print("devices:", DEVICES)

# %%
import json
import tempfile
from pathlib import Path

import keras
import numpy as np

import zoo
import zoo.layers

# With GPUs, MirroredStrategy() takes all of them; on the CPU we name our two logical devices.
strategy = tf.distribute.MirroredStrategy(DEVICES if not GPUS else None)
print("replicas in sync:", strategy.num_replicas_in_sync)

# %% [markdown]
# ## The all-reduce, by hand
#
# Two replicas each compute the gradient of the loss on their half of the batch; the mean
# of the two gradients is the gradient on the whole batch (for a mean loss).

# %%
keras.utils.set_random_seed(SEED)
with strategy.scope():
    model = keras.Sequential([keras.Input((10, 3)), zoo.layers.LSTM(8), keras.layers.Dense(1)])
x = np.random.default_rng(SEED).normal(size=(16, 10, 3)).astype(np.float32)
y = x.sum(axis=(1, 2))[:, None]
GLOBAL_BATCH = len(x)


def replica_grads(inputs):
    xb, yb = inputs
    with tf.GradientTape() as tape:
        # each replica scales its loss by the GLOBAL batch, so summing replicas = the mean
        loss = tf.reduce_sum((model(xb) - yb) ** 2) / GLOBAL_BATCH
    return tape.gradient(loss, model.trainable_variables)


dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
per_replica = strategy.run(replica_grads, args=(batch,))
reduced = [strategy.reduce("SUM", g, axis=None) for g in per_replica]
print(
    "per-replica batch sizes:",
    [int(t.shape[0]) for t in strategy.experimental_local_results(batch[0])],
)

with tf.GradientTape() as tape:
    full_loss = tf.reduce_mean((model(x) - y) ** 2)
full = tape.gradient(full_loss, model.trainable_variables)
grad_err = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(reduced, full))
print("max |all-reduced - whole-batch gradient| =", grad_err)

# %% [markdown]
# ## A zoo model trained with the strategy
#
# The same call as in notebook 6, with `strategy=`. On a machine with GPUs,
# `strategy="mirrored"` takes all of them.

# %%
config = zoo.registry.read_config(Path(zoo.registry.CONFIGS_DIR) / "sentiment_lstm_mr.yaml")
if SMOKE:
    config["model"]["units"] = 16
workdir = Path(tempfile.mkdtemp())
result = zoo.train_from_config(
    config,
    strategy=strategy,
    smoke=SMOKE,
    epochs=EPOCHS,
    run_dir=workdir / "run",
    preset_dir=workdir / "preset",
    verbose=0,
)
metadata = json.loads((result.preset / "metadata.json").read_text())
print(
    "strategy:",
    metadata["strategy"],
    "| replicas:",
    metadata["num_replicas"],
    "| metrics:",
    result.metrics,
)

# %% [markdown]
# ## Multi-GPU and multi-worker
#
# * **One machine, several GPUs**: `python -m zoo train configs/NAME.yaml --strategy mirrored`
#   (or `strategy="mirrored"`): one replica per GPU, the global batch is
#   `train.batch_size x number of GPUs`; consider scaling the learning rate with it.
# * **Several machines**: start the same command with `--strategy multiworker` on every
#   machine, each with a `TF_CONFIG` describing the cluster and its own index:

# %%
tf_config = {
    "cluster": {"worker": ["host1:12345", "host2:12345"]},
    "task": {"type": "worker", "index": 0},  # 1 on host2
}
print(
    f"TF_CONFIG='{json.dumps(tf_config)}' python -m zoo train configs/sentiment_bilstm_mr.yaml --strategy multiworker"
)

# %% [markdown]
# The config is used unchanged, length bucketing included: each global batch (sentences
# of similar length) is split between the replicas.
#
# Worker 0 is the *chief*: it writes checkpoints and the preset. `BackupAndRestore` (on in
# `zoo.train`) lets a restarted worker resume from the last epoch.

# %% [markdown]
# ## Checks

# %%
assert strategy.num_replicas_in_sync == 2 or GPUS
assert grad_err < 1e-4, grad_err
assert metadata["strategy"] == "MirroredStrategy"
assert metadata["num_replicas"] == strategy.num_replicas_in_sync
assert 0 <= result.metrics["accuracy"] <= 100 and result.history["loss"]
assert result.config["data"]["bucketing"] is True  # the config as published, bucketing on
print("two replicas' all-reduced gradient equals the whole-batch gradient; zoo.train ran mirrored")
