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
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from zoo import callbacks as cb
from zoo import config as zoo_config
from zoo import registry
from zoo.data.sources import zoo_home
from zoo.tasks import get_task

TRAIN_DEFAULTS = {
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "patience": 4,
    "seed": 0,
}
TRAIN_KEYS = {
    *TRAIN_DEFAULTS,
    "weight_decay",
    "clipnorm",
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
        seed: the seed actually used; epochs_run: epochs trained (a resumed run included);
        best_epoch: the epoch whose weights were kept (1-based); stopped_early: early
            stopping ended the run before ``train.epochs``.
    """

    model: keras.Model
    metrics: dict
    history: dict
    run_dir: Path
    preset: Path | None
    assets: dict
    config: dict
    replicas: int = 1
    seed: int = 0
    epochs_run: int = 0
    best_epoch: int | None = None
    stopped_early: bool = False


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


def resolve_train_config(config: dict, seed: int | None = None, epochs: int | None = None) -> dict:
    """The ``train`` section with defaults filled in, overrides applied, values checked.

    Raises:
        ConfigError: an unknown key or a bad value (names the key and what is allowed).
    """
    cfg = dict(zoo_config.check_keys("train", dict(config.get("train") or {}), TRAIN_KEYS))
    if seed is not None:
        cfg["seed"] = int(seed)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    for key, value in TRAIN_DEFAULTS.items():
        cfg.setdefault(key, value)
    if cfg.get("clipnorm") is None:
        # Vanilla RNNs explode without clipping; gated cells rarely need it.
        cfg["clipnorm"] = 5.0 if config["model"].get("cell") == "simple_rnn" else None
    for key in ("epochs", "batch_size"):
        zoo_config.positive_int(cfg[key], key, "train")
    zoo_config.non_negative_int(cfg["patience"], "patience", "train")
    zoo_config.non_negative_int(cfg["seed"], "seed", "train")
    if zoo_config.positive_number(cfg["learning_rate"], "learning_rate", "train") >= 10:
        raise zoo_config.ConfigError(
            f"invalid value for 'train.learning_rate': {cfg['learning_rate']!r}; expected a "
            "number in (0, 10) (typical: 0.0005 to 0.005)."
        )
    zoo_config.one_of(cfg["optimizer"], sorted(OPTIMIZERS), "optimizer", "train")
    mixed = cfg.get("mixed_precision", "auto")
    zoo_config.one_of(mixed, ("auto", True, False), "mixed_precision", "train")
    return cfg


def _optimizer(cfg: dict) -> keras.optimizers.Optimizer:
    kwargs: dict[str, Any] = {"learning_rate": cfg["learning_rate"]}
    if cfg.get("clipnorm"):
        kwargs["clipnorm"] = float(cfg["clipnorm"])
    if cfg.get("weight_decay") and cfg["optimizer"] in {"adamw", "sgd", "adam", "nadam"}:
        kwargs["weight_decay"] = float(cfg["weight_decay"])
    return OPTIMIZERS[cfg["optimizer"]](**kwargs)


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
        ConfigError: the config is invalid (nothing is trained).
        TrainingDivergedError: the loss became NaN/inf (the best checkpoint stays on disk).
    """
    config, cfg = _resolve(config, strategy, seed, epochs)
    task = get_task(config["task"])
    strategy = _setup(cfg, strategy, deterministic)
    suffix = f"-seed{cfg['seed']}" if seed is not None else ""
    name = config["name"]
    run_dir = Path(run_dir or zoo_home() / "runs" / f"{name}{suffix}{'-smoke' if smoke else ''}")
    run_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    data, model = _build(task, config, strategy, smoke)
    run = _fit(model, task, data, config, strategy, run_dir, verbose)
    train_time = time.time() - t0
    if run.best_path.exists():
        model.load_weights(run.best_path)

    metrics, subset = _evaluate(task, model, data, config, smoke)
    result = TrainResult(
        model=model,
        metrics=metrics,
        history=run.history,
        run_dir=run_dir,
        preset=None,
        assets=data.assets,
        config=config,
        replicas=strategy.num_replicas_in_sync,
        seed=cfg["seed"],
        epochs_run=run.epochs_done,
        best_epoch=run.best_epoch,
        stopped_early=run.stopped_early,
    )
    if save_preset:
        preset = registry.PRETRAINED_DIR / name if publish else None
        result.preset = preset or (Path(preset_dir) if preset_dir else run_dir / "preset")
        metadata = _run_record(task, data, run, (metrics, subset), strategy, smoke=smoke)
        metadata.update(
            command=command or _command_line(),
            training_time_s=round(train_time, 1),
            seed=cfg["seed"],
        )
        registry.save_preset(
            model, config, data.assets, metadata, result.preset, overwrite=overwrite
        )
    return result


def _run_record(task, data, run: _Run, evaluated: tuple, strategy, *, smoke: bool) -> dict:
    """Step 6: what the preset's metadata records of the data, the fit and the metrics
    (`evaluated` = `_evaluate`'s ``(metrics, subset)``)."""
    metrics, subset = evaluated
    return {
        "data_version": data.info.get("data_version"),
        "data": data.info,
        "metrics": metrics,
        "primary_metric": task.primary_metric,
        "eval_subset": subset,
        "epochs_run": run.epochs_done,
        "best_epoch": run.best_epoch,
        "history": run.history,
        "strategy": type(strategy).__name__,
        "num_replicas": strategy.num_replicas_in_sync,
        "smoke": smoke,
    }


def _evaluate(task, model, data, config: dict, smoke: bool) -> tuple[dict, dict]:
    """Step 5: the test metrics and the eval-subset record (split, limit, metrics)."""
    limit = task.eval_subset_size
    runtime = task.runtime(model, data.assets, config)
    subset = task.evaluate(runtime, config["data"], split="test", limit=limit)
    # Smoke runs (tests, notebooks) stop at the subset; real runs evaluate the whole split.
    metrics = subset if smoke else task.evaluate(runtime, config["data"], split="test")
    return metrics, {"split": "test", "limit": limit, "metrics": subset}


def _resolve(config, strategy, seed, epochs) -> tuple[dict, dict]:
    """Step 1: read and check the whole config before anything heavy happens."""
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
    source = None if isinstance(config, dict) else str(config)
    if source:
        config = registry.read_config(config)
    try:
        config = json.loads(json.dumps(registry.validate_config(config)))  # private deep copy
        config = zoo_config.upgrade(config)
        config["train"] = resolve_train_config(config, seed, epochs)  # the preset records it
        cb.schedule_callbacks(config["train"])  # validates lr_schedule
        get_task(config["task"]).check_config(config)
    except zoo_config.ConfigError as error:
        raise error.with_source(source) if source else error from None
    return config, config["train"]


def _build(task, config: dict, strategy, smoke: bool):
    """Step 3: the data pipelines (global batch) and the model, compiled in the strategy scope."""
    cfg = config["train"]
    global_batch = cfg["batch_size"] * strategy.num_replicas_in_sync
    data = task.load_data(config["data"], batch_size=global_batch, seed=cfg["seed"], smoke=smoke)
    with strategy.scope():
        model = task.build_model(
            config["model"], data.assets, data_cfg=config["data"], for_training=True
        )
        task.compile_model(model, _optimizer(cfg), cfg)
    return data, model


def _setup(cfg: dict, strategy, deterministic: bool) -> tf.distribute.Strategy:
    """Step 2: seeds, determinism, mixed precision, the distribution strategy."""
    keras.utils.set_random_seed(cfg["seed"])
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    mp = cfg.get("mixed_precision", "auto")
    if mp is True or (mp == "auto" and tf.config.list_physical_devices("GPU")):
        keras.mixed_precision.set_global_policy("mixed_float16")
    return strategy


@dataclasses.dataclass
class _Run:
    history: dict
    best_path: Path
    epochs_done: int
    best_epoch: int | None
    stopped_early: bool


def _counted(dataset: tf.data.Dataset) -> tuple[tf.data.Dataset, int]:
    """`dataset` with its number of batches known to tf.data (counted once if unknown), so
    Keras knows where an epoch ends instead of warning that the input ran out of data."""
    steps = int(dataset.cardinality())
    if steps < 0:  # unknown (e.g. length bucketing): one pass, which also fills any cache
        steps = sum(1 for _ in dataset)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    return dataset, steps


def _fit(model, task, data, config: dict, strategy, run_dir: Path, verbose) -> _Run:
    """Step 4: `model.fit` with checkpoints, early stopping, logs and resumption."""
    cfg, name = config["train"], config["name"]
    best_path = run_dir / "best.weights.h5"
    stop = cb.StopOnNonFinite()
    # Resuming a killed run: BackupAndRestore restores weights, optimizer and epoch; here we
    # restore what it does not (best value so far, early-stopping patience) and the position
    # in the data: training reads ONE repeated pipeline (epoch k = the k-th reshuffle), and a
    # resumed run skips the batches of the epochs already done, so a resumed deterministic
    # run sees exactly the batches of an uninterrupted one.
    done, best_so_far, wait = cb.resume_state(run_dir, task.monitor, task.monitor_mode)
    replicas = strategy.num_replicas_in_sync
    train_ds, steps = _counted(even_batches(data.train, replicas))
    val_ds, _ = _counted(even_batches(data.validation, replicas))
    train_ds = train_ds.repeat()
    if done:
        train_ds = train_ds.skip(done * steps)
    early = cb.ResumableEarlyStopping(
        monitor=task.monitor,
        mode=task.monitor_mode,
        patience=cfg["patience"],
        resume_best=best_so_far,
        resume_wait=wait,
    )
    callbacks = [
        *task.callbacks(model, data, config),
        stop,
        cb.BestCheckpoint(best_path, task.monitor, task.monitor_mode, best=best_so_far),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True),
        early,
        keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
        *cb.schedule_callbacks(cfg),
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
        shuffle=False,  # the pipeline shuffles, with the seed
    )
    if stop.fired_at is not None:
        _diverged(stop.fired_at, best_path, name)
    hist = {k: [float(x) for x in v] for k, v in history.history.items()}
    monitored = hist.get(task.monitor, [])
    best_epoch = None
    if monitored:
        pick = max if task.monitor_mode == "max" else min
        best_epoch = done + monitored.index(pick(monitored)) + 1
    epochs_done = done + len(hist.get("loss", []))
    return _Run(hist, best_path, epochs_done, best_epoch, early.stopped_epoch > 0)


def _diverged(fired_at: tuple[int, float], best_path: Path, name: str) -> None:
    epoch, loss = fired_at
    kept = (
        f"The last good checkpoint is intact at '{best_path}'."
        if best_path.exists()
        else "No epoch finished with a finite loss, so no checkpoint was written."
    )
    raise TrainingDivergedError(
        f"Training of {name!r} stopped: the loss became {loss} in epoch {epoch + 1}. "
        f"{kept} Lower train.learning_rate or set train.clipnorm."
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
