"""The one training loop: `train_from_config(config, strategy=...)`.

Used by `python -m zoo train CONFIG`, the notebooks and the tests. Keras `fit` on
the task's tf.data pipeline with: best checkpoint by the task's validation metric,
`BackupAndRestore` (a killed run resumes where it stopped), early stopping,
TensorBoard and CSV logs, `TerminateOnNaN`, gradient clipping (on by default for
the vanilla RNN), a learning-rate schedule, mixed precision when a GPU is present,
and a `tf.distribute` strategy. It ends by evaluating on the test split with the
same code as `python -m zoo evaluate` and writing a preset directory.

``train`` section keys (all optional)::

    epochs: 20            batch_size: 32 (per replica)    learning_rate: 0.001
    optimizer: adam       weight_decay: null              clipnorm: null (5.0 for simple_rnn)
    patience: 4           seed: 0                         label_smoothing: 0.0
    lr_schedule: null | {type: inverse_time, decay: 0.05} | {type: cosine, min_ratio: 0.05}
                 | {type: plateau, factor: 0.5, patience: 1} | {type: constant}
                 any of them may add ``warmup_steps: N``: the learning rate rises linearly
                 from lr/N to the schedule's value over the first N optimizer steps
    mixed_precision: auto (GPU only) | true | false
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from zoo import registry
from zoo.data.sources import zoo_home
from zoo.tasks import get_task

TRAIN_KEYS = {
    "epochs",
    "batch_size",
    "learning_rate",
    "optimizer",
    "weight_decay",
    "clipnorm",
    "patience",
    "seed",
    "lr_schedule",
    "label_smoothing",
    "mixed_precision",
}
STRATEGIES = ("default", "mirrored", "multiworker")
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is left intact."""


@dataclasses.dataclass
class TrainResult:
    """What `train_from_config` returns.

    Attributes:
        model: the trained `keras.Model` (best checkpoint restored).
        metrics: test-split metrics from the task's `evaluate`.
        history: per-epoch logs (``{key: [values]}``).
        run_dir: where checkpoints and logs live.
        preset: the preset directory written (None when `save_preset=False`).
    """

    model: keras.Model
    metrics: dict
    history: dict
    run_dir: Path
    preset: Path | None
    assets: dict
    config: dict
    replicas: int = 1


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs/logical devices), `multiworker`
    (``TF_CONFIG`` cluster)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if not tf.config.list_logical_devices("GPU"):
            # On a CPU-only machine MirroredStrategy() picks one device; use every logical
            # CPU device (configure them with tf.config.set_logical_device_configuration).
            cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
            if len(cpus) > 1:
                return tf.distribute.MirroredStrategy(cpus)
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"Received an invalid value for argument 'strategy', expected one of "
        f"{list(STRATEGIES)}, got {name!r}."
    )


def _train_cfg(config: dict) -> dict:
    cfg = dict(config.get("train") or {})
    unknown = sorted(set(cfg) - TRAIN_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in the 'train' section of the config; "
            f"allowed keys: {sorted(TRAIN_KEYS)}."
        )
    cfg.setdefault("epochs", 20)
    cfg.setdefault("batch_size", 32)
    cfg.setdefault("learning_rate", 1e-3)
    cfg.setdefault("optimizer", "adam")
    cfg.setdefault("patience", 4)
    cfg.setdefault("seed", 0)
    if "clipnorm" not in cfg or cfg["clipnorm"] is None:
        # Vanilla RNNs explode without clipping; gated cells rarely need it.
        cfg["clipnorm"] = 5.0 if config["model"].get("cell") == "simple_rnn" else None
    for key, kind, ok in (
        ("epochs", int, lambda v: v >= 1),
        ("batch_size", int, lambda v: v >= 1),
        ("learning_rate", (int, float), lambda v: 0 < v < 10),
        ("patience", int, lambda v: v >= 0),
    ):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
            raise ValueError(
                f"Received an invalid value for train.{key}: {value!r}; expected a "
                f"positive {'integer' if kind is int else 'number'}."
            )
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ValueError(
            f"Received an invalid value for train.optimizer: {cfg['optimizer']!r}; "
            f"expected one of {sorted(OPTIMIZERS)}."
        )
    return cfg


def _optimizer(cfg: dict) -> keras.optimizers.Optimizer:
    kwargs: dict[str, Any] = {"learning_rate": cfg["learning_rate"]}
    if cfg.get("clipnorm"):
        kwargs["clipnorm"] = float(cfg["clipnorm"])
    if cfg.get("weight_decay") and cfg["optimizer"] in {"adamw", "sgd", "adam", "nadam"}:
        kwargs["weight_decay"] = float(cfg["weight_decay"])
    return OPTIMIZERS[cfg["optimizer"]](**kwargs)


SCHEDULES = ("constant", "inverse_time", "cosine", "plateau")


class _LinearWarmup(keras.callbacks.Callback):
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


def _schedule_callbacks(cfg: dict) -> list:
    sched = cfg.get("lr_schedule")
    if not sched:
        return []
    if not isinstance(sched, dict):
        raise ValueError(
            f"Received an invalid value for train.lr_schedule: {sched!r}; expected null or a "
            "mapping such as {type: cosine, min_ratio: 0.05}."
        )
    lr0, epochs = cfg["learning_rate"], cfg["epochs"]
    kind = sched.get("type")
    warmup = sched.get("warmup_steps", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(
            f"Received an invalid value for train.lr_schedule.warmup_steps: {warmup!r}; "
            "expected a non-negative integer (optimizer steps)."
        )
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
        raise ValueError(
            f"Received an invalid value for train.lr_schedule.type: {kind!r}; expected "
            f"one of {list(SCHEDULES)}."
        )
    return callbacks + ([_LinearWarmup(warmup)] if warmup else [])


class _StopOnNonFinite(keras.callbacks.Callback):
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


class _BestCheckpoint(keras.callbacks.Callback):
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


class _ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that continues counting from a resumed run's history."""

    def __init__(self, *args, resume_best=None, resume_wait=0, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_best, self._resume_wait = resume_best, resume_wait

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best, self.wait = self._resume_best, self._resume_wait


def _resume_state(run_dir: Path, monitor: str, mode: str) -> tuple[int, float | None, int]:
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


def even_batches(dataset: tf.data.Dataset, replicas: int) -> tf.data.Dataset:
    """Cut every batch of `dataset` to the largest multiple of `replicas` (dropping batches
    smaller than `replicas`), so that a strategy splits each global batch evenly.

    A `tf.distribute` strategy splits a global batch of n across R replicas as evenly as it
    can; length-bucketed pipelines end each bucket with a partial batch, so replicas get
    shards of different sizes, or none (n < R). Keras 3.15 cannot build a model from
    unequal shards and TensorFlow's Conv1D returns a wrongly shaped result for an empty
    shard (NER's character CNN). Cutting costs at most R - 1 examples per partial batch of
    the epoch (a different few every epoch, since the shuffle changes), and makes each
    replica's mean loss the mean over the same number of examples, so a mirrored step
    equals a one-device step on the same global batch.

    Args:
        dataset: batches whose every component has the batch on axis 0, e.g.
            ``(inputs, targets[, sample_weight])`` with nested dicts.
        replicas: `strategy.num_replicas_in_sync`.

    Returns:
        The same structure with batch sizes that are positive multiples of `replicas`.
    """
    if replicas <= 1:
        return dataset

    def size(*batch):
        return tf.shape(tf.nest.flatten(batch)[0])[0]

    def cut(*batch):
        keep = (size(*batch) // replicas) * replicas
        batch = tf.nest.map_structure(lambda t: t[:keep], batch)
        return batch[0] if len(batch) == 1 else batch

    return (
        dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .filter(lambda *batch: size(*batch) > 0)
        .prefetch(tf.data.AUTOTUNE)
    )


def _command_line() -> str:
    argv = sys.argv[:]
    if argv and argv[0].endswith(("__main__.py", "zoo")):
        argv = ["python", "-m", "zoo", *argv[1:]]
    return " ".join(shlex.quote(a) for a in argv)


def train_from_config(
    config: dict | str | os.PathLike,
    *,
    strategy: str | tf.distribute.Strategy = "default",
    run_dir: str | os.PathLike | None = None,
    preset_dir: str | os.PathLike | None = None,
    publish: bool = False,
    save_preset: bool = True,
    seed: int | None = None,
    epochs: int | None = None,
    smoke: bool = False,
    deterministic: bool = False,
    verbose: int | str = "auto",
    overwrite: bool = True,
    command: str | None = None,
) -> TrainResult:
    """Train the model of `config` and write its preset.

    Args:
        config: a config dict or the path of ``configs/<name>.yaml``.
        strategy: ``"default"``, ``"mirrored"``, ``"multiworker"`` or a `tf.distribute.Strategy`.
            ``train.batch_size`` is per replica; the global batch is scaled by the replica count.
        run_dir: checkpoints, backup and logs (default ``$ZOO_HOME/runs/<name>[-seedN]``). A
            killed run restarted with the same run_dir resumes from its backup.
        preset_dir: where to write the preset (default ``<run_dir>/preset``).
        publish: write the preset to ``zoo/pretrained/<name>/`` (what `zoo.load` reads).
        seed: overrides ``train.seed``; epochs: overrides ``train.epochs``.
        smoke: tiny data slice, for tests and notebooks.
        deterministic: seeds plus TensorFlow op determinism (bitwise-reproducible on CPU).

    Returns:
        A `TrainResult`.

    Raises:
        TrainingDivergedError: the loss became NaN/inf (the best checkpoint stays on disk).
    """
    if not isinstance(config, (dict, str, os.PathLike)):
        raise TypeError(
            "Received an invalid value for argument 'config', expected a config dict or the "
            f"path of a YAML config, got {type(config).__name__}."
        )
    if not isinstance(strategy, (str, tf.distribute.Strategy)):
        raise TypeError(
            f"Received an invalid value for argument 'strategy', expected one of "
            f"{list(STRATEGIES)} or a tf.distribute.Strategy, got {type(strategy).__name__}."
        )
    if not isinstance(config, dict):
        config = registry.read_config(config)
    config = json.loads(json.dumps(registry.validate_config(config)))  # private deep copy
    cfg = _train_cfg(config)
    if seed is not None:
        cfg["seed"] = int(seed)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    config["train"] = cfg  # the preset records the effective settings
    schedule = _schedule_callbacks(cfg)  # validates lr_schedule before any data is read
    name = config["name"]
    task = get_task(config["task"])

    keras.utils.set_random_seed(cfg["seed"])
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    mp = cfg.get("mixed_precision", "auto")
    if mp is True or (mp == "auto" and tf.config.list_physical_devices("GPU")):
        keras.mixed_precision.set_global_policy("mixed_float16")

    suffix = f"-seed{cfg['seed']}" if seed is not None else ""
    run_dir = Path(run_dir or zoo_home() / "runs" / f"{name}{suffix}{'-smoke' if smoke else ''}")
    run_dir.mkdir(parents=True, exist_ok=True)

    global_batch = cfg["batch_size"] * strategy.num_replicas_in_sync
    t0 = time.time()
    data = task.load_data(config["data"], batch_size=global_batch, seed=cfg["seed"], smoke=smoke)
    with strategy.scope():
        model = task.build_model(
            config["model"], data.assets, data_cfg=config["data"], for_training=True
        )
        task.compile_model(model, _optimizer(cfg), cfg)

    best_path = run_dir / "best.weights.h5"
    stop = _StopOnNonFinite()
    # Resuming a killed run: BackupAndRestore restores weights, optimizer and epoch; here we
    # restore what it does not (best value so far, early-stopping patience) and the position
    # in the data: training reads ONE repeated pipeline (epoch k = the k-th reshuffle), and a
    # resumed run skips the batches of the epochs already done, so a resumed deterministic
    # run sees exactly the batches of an uninterrupted one.
    done, best_so_far, wait = _resume_state(run_dir, task.monitor, task.monitor_mode)
    replicas = strategy.num_replicas_in_sync
    train_ds, val_ds = even_batches(data.train, replicas), even_batches(data.validation, replicas)
    steps = int(train_ds.cardinality())
    if steps < 0:  # unknown (e.g. length bucketing): one pass, which also fills any cache
        steps = sum(1 for _ in train_ds)
    train_ds = train_ds.repeat()
    if done:
        train_ds = train_ds.skip(done * steps)
    callbacks = [
        *task.callbacks(model, data, cfg),
        stop,
        _BestCheckpoint(best_path, task.monitor, task.monitor_mode, best=best_so_far),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True),
        _ResumableEarlyStopping(
            monitor=task.monitor,
            mode=task.monitor_mode,
            patience=cfg["patience"],
            resume_best=best_so_far,
            resume_wait=wait,
        ),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
        *schedule,
    ]
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        from zoo._keras_compat import patch_for_multiworker

        patch_for_multiworker(model, strategy, data.train)
    history = model.fit(
        train_ds,
        steps_per_epoch=steps,
        validation_data=val_ds,
        epochs=cfg["epochs"],
        callbacks=callbacks,
        verbose=verbose,
    )
    if stop.fired_at is not None:
        epoch, loss = stop.fired_at
        kept = (
            f"The last good checkpoint is intact at '{best_path}'."
            if best_path.exists()
            else "No epoch finished with a finite loss, so no checkpoint was written."
        )
        raise TrainingDivergedError(
            f"Training of {name!r} stopped: the loss became {loss} in epoch {epoch + 1}. "
            f"{kept} Lower train.learning_rate or set train.clipnorm."
        )
    train_time = time.time() - t0
    if best_path.exists():
        model.load_weights(best_path)
    hist = {k: [float(x) for x in v] for k, v in history.history.items()}
    monitored = hist.get(task.monitor, [])
    best_epoch = None
    if monitored:
        pick = max if task.monitor_mode == "max" else min
        best_epoch = monitored.index(pick(monitored)) + 1

    subset_limit = task.eval_subset_size
    subset = task.evaluate(model, data.assets, config["data"], split="test", limit=subset_limit)
    # Smoke runs (tests, notebooks) stop at the subset; real runs evaluate the whole split.
    metrics = subset if smoke else task.evaluate(model, data.assets, config["data"], split="test")

    preset = None
    if save_preset:
        if publish:
            preset = registry.PRETRAINED_DIR / name
        else:
            preset = Path(preset_dir) if preset_dir else run_dir / "preset"
        metadata = {
            "command": command or _command_line(),
            "data_version": data.info.get("data_version"),
            "data": data.info,
            "metrics": metrics,
            "primary_metric": task.primary_metric,
            "eval_subset": {"split": "test", "limit": subset_limit, "metrics": subset},
            "training_time_s": round(train_time, 1),
            "epochs_run": done + len(hist.get("loss", [])),
            "best_epoch": best_epoch,
            "seed": cfg["seed"],
            "strategy": type(strategy).__name__,
            "num_replicas": strategy.num_replicas_in_sync,
            "smoke": smoke,
            "history": hist,
        }
        registry.save_preset(model, config, data.assets, metadata, preset, overwrite=overwrite)
    return TrainResult(
        model=model,
        metrics=metrics,
        history=hist,
        run_dir=run_dir,
        preset=preset,
        assets=data.assets,
        config=config,
        replicas=strategy.num_replicas_in_sync,
    )


def record_seed_metrics(results: list[dict]) -> dict:
    """Add mean ± std over seeds to the published preset's metadata (``metrics_seeds``).

    Args:
        results: one ``{"seed", "metrics", "preset"}`` per run; the first run's preset is
            the published one.
    """
    import numpy as np

    from zoo._io import atomic_file

    preset = Path(results[0]["preset"])
    keys = [k for k, v in results[0]["metrics"].items() if isinstance(v, (int, float))]
    summary = {
        "seeds": [r["seed"] for r in results],
        "per_seed": [r["metrics"] for r in results],
        "mean": {k: float(np.mean([r["metrics"][k] for r in results])) for k in keys},
        "std": {k: float(np.std([r["metrics"][k] for r in results], ddof=1)) for k in keys},
    }
    meta_path = preset / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["metrics_seeds"] = summary
    with atomic_file(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return summary
