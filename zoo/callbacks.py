"""Training callbacks: learning-rate schedules and warmup, best checkpoint, divergence
stop, early stopping that resumes, and the state a resumed run restores."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import keras

from zoo import config as zoo_config

SCHEDULES = ("constant", "inverse_time", "cosine", "plateau")


class LinearWarmup(keras.callbacks.Callback):
    """Scale the learning rate by ``(step + 1) / steps`` for the first `steps` optimizer
    steps, on top of whatever the epoch schedule set.

    It must come after the epoch-level scheduler in the callback list: it reads the
    scheduled rate at the start of each epoch and puts it back once warmup ends (at the
    latest before validation, so `ReduceLROnPlateau` never sees a warmup value). The step
    count is the optimizer's, so a run resumed by `BackupAndRestore` continues the ramp.
    """

    def __init__(self, steps: int):
        super().__init__()
        self.steps = int(steps)
        self._step = 0
        self._target: float | None = None
        self._warming = False

    def on_train_begin(self, logs=None):
        # Read the optimizer's count once (a resumed run starts past 0) and count on the
        # host from there, so the training steps never wait on a device read.
        self._step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._target = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_begin(self, batch, logs=None):
        if self._step < self.steps:
            self.model.optimizer.learning_rate = self._target * (self._step + 1) / self.steps
            self._warming = True
        else:
            self._restore()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1

    def _restore(self):
        if self._warming:
            self.model.optimizer.learning_rate = self._target
            self._warming = False

    def on_test_begin(self, logs=None):
        self._restore()

    def on_epoch_end(self, epoch, logs=None):
        self._restore()


def schedule_callbacks(cfg: dict) -> list:
    """The callbacks of ``train.lr_schedule`` (validated here, before any data is read)."""
    sched = cfg.get("lr_schedule")
    if not sched:
        return []
    if not isinstance(sched, dict):
        raise zoo_config.ConfigError(
            f"invalid value for 'train.lr_schedule': {sched!r}; expected null or a "
            "mapping such as {type: cosine, min_ratio: 0.05}."
        )
    zoo_config.check_keys(
        "train.lr_schedule",
        sched,
        ("type", "warmup_steps", "decay", "min_ratio", "factor", "patience"),
    )
    lr0, epochs = cfg["learning_rate"], cfg["epochs"]
    kind = sched.get("type")
    warmup = sched.get("warmup_steps", 0)
    zoo_config.non_negative_int(warmup, "warmup_steps", "train.lr_schedule")
    if kind == "constant":
        callbacks = []
    elif kind == "inverse_time":
        decay = float(sched.get("decay", 0.05))
        callbacks = [keras.callbacks.LearningRateScheduler(lambda e: lr0 / (1.0 + decay * e))]
    elif kind == "cosine":
        lo = float(sched.get("min_ratio", 0.05))
        callbacks = [
            keras.callbacks.LearningRateScheduler(
                lambda e: lr0 * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * e / max(1, epochs))))
            )
        ]
    elif kind == "plateau":
        callbacks = [
            keras.callbacks.ReduceLROnPlateau(
                factor=float(sched.get("factor", 0.5)),
                patience=int(sched.get("patience", 1)),
                monitor="val_loss",
                min_lr=lr0 * 1e-3,
            )
        ]
    else:
        zoo_config.one_of(kind, SCHEDULES, "type", "train.lr_schedule")
    return callbacks + ([LinearWarmup(warmup)] if warmup else [])


class StopOnNonFinite(keras.callbacks.Callback):
    """Like TerminateOnNaN, but remembers that it fired so the run can fail loudly."""

    def __init__(self):
        super().__init__()
        self.fired_at: tuple[int, float] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.fired_at = (self._epoch, float(loss))
            self.model.stop_training = True


class BestCheckpoint(keras.callbacks.Callback):
    """Save weights when `monitor` improves; written atomically (temp file + rename), so a
    crash mid-write leaves the previous best intact."""

    def __init__(self, path: Path, monitor: str, mode: str, best: float | None = None):
        super().__init__()
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        # A diverged epoch still gets validated (Keras evaluates after `stop_training`), and
        # a NaN model can score a "better" accuracy (NaN > 0.5 is False for every example):
        # never let it replace the last good checkpoint.
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        value = float(value)
        better = self.best is None or (
            value > self.best if self.mode == "max" else value < self.best
        )
        if better:
            tmp = self.path.with_name(f".{os.getpid()}.tmp.weights.h5")  # Keras needs the suffix
            try:
                self.model.save_weights(tmp)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
            self.best = value


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that continues counting from a resumed run's history."""

    def __init__(self, *args, resume_best=None, resume_wait=0, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_best, self._resume_wait = resume_best, resume_wait

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best, self.wait = self._resume_best, self._resume_wait


def resume_state(run_dir: Path, monitor: str, mode: str) -> tuple[int, float | None, int]:
    """(epochs already done, best monitored value so far, epochs since that best) of a run
    that BackupAndRestore will resume; (0, None, 0) for a fresh run."""
    import csv

    meta = run_dir / "backup" / "training_metadata.json"
    if not meta.is_file():
        return 0, None, 0
    done = int(json.loads(meta.read_text())["epoch"])
    values: dict[int, float] = {}
    history = run_dir / "history.csv"
    if history.is_file():
        with open(history, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    epoch, value = int(row["epoch"]), float(row[monitor])
                except (KeyError, TypeError, ValueError):
                    continue
                if epoch < done:
                    values[epoch] = value  # a later row for the same epoch wins
    if not values:
        return done, None, 0
    pick = max if mode == "max" else min
    best_epoch = pick(values, key=values.get)
    return done, values[best_epoch], done - 1 - best_epoch
