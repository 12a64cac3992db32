"""Subprocess entry for the reliability tests: train the toy task like `zoo train` would.

usage: python run_toy_train.py RUN_DIR OUT_NPZ [--strategy S] [--devices N] [--epochs E]
       python run_toy_train.py --zoo-cli N ZOO_ARGS...   (`python -m zoo ZOO_ARGS` on N
                                                            logical CPU devices)
Env: ZOO_TEST_KILL_AT_BATCH=k sends SIGKILL to this process after global batch k.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _logical_cpus(n: int) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


if len(sys.argv) > 2 and sys.argv[1] == "--zoo-cli":
    _logical_cpus(int(sys.argv[2]))
    from zoo.cli import main

    sys.exit(main(sys.argv[3:]))

parser = argparse.ArgumentParser()
parser.add_argument("run_dir")
parser.add_argument("out")
parser.add_argument("--strategy", default="default")
parser.add_argument("--devices", type=int, default=0)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--no-shuffle", action="store_true")
args = parser.parse_args()

import tensorflow as tf  # noqa: E402

if args.devices:
    _logical_cpus(args.devices)
strategy = None
if args.strategy == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import toy_task  # noqa: E402

from zoo.tasks.base import Task  # noqa: E402
from zoo.train import train_from_config  # noqa: E402

toy_task.register()
kill_at = int(os.environ.get("ZOO_TEST_KILL_AT_BATCH", "0"))


class Killer(keras.callbacks.Callback):
    seen = 0

    def on_train_batch_end(self, batch, logs=None):
        Killer.seen += 1
        if Killer.seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


if kill_at:
    original = toy_task.ToyTask.callbacks
    toy_task.ToyTask.callbacks = lambda self, *a: [*original(self, *a), Killer()]
assert issubclass(toy_task.ToyTask, Task)

cfg = toy_task.toy_config(epochs=args.epochs, batch_size=args.batch_size, patience=50)
cfg["data"]["shuffle"] = not args.no_shuffle
res = train_from_config(
    cfg,
    strategy=strategy or args.strategy,
    run_dir=args.run_dir,
    save_preset=False,
    deterministic=True,
    verbose=0,
)
np.savez(args.out, *res.model.get_weights())
print("replicas", res.replicas)
print("done", res.metrics)
