"""Model registry: name -> (config, task builder, preset); `list_models`, `info`, `load`.

Architecture lives apart from weights (timm's ``default_cfgs``, keras-hub's
presets): ``configs/<name>.yaml`` holds the hyperparameters of every registered
model; ``zoo/pretrained/<name>/`` holds a trained preset when one was published.

Naming scheme: ``{task}_{cell}_{dataset}`` with task in ``sentiment, ner, caption,
translate``, cell in ``rnn, lstm, gru`` (``bi`` prefix = bidirectional), e.g.
``ner_bilstm_conll2003``.

A preset directory (keras-hub style)::

    config.json          the config the model was trained from
    model.weights.h5     the weights
    assets/<key>.json    vocabularies, tag and label names (never pickles)
    metadata.json        metrics, data version, command, time, versions, sha256 of every file

`load` verifies every sha256 before it touches the weights.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from zoo import config as zoo_config
from zoo._io import atomic_dir, sha256_file

PACKAGE_DIR = Path(__file__).resolve().parent
PRETRAINED_DIR = PACKAGE_DIR / "pretrained"
#: Configs of the registered models (the repository's top-level ``configs/``).
CONFIGS_DIR = Path(os.environ.get("ZOO_CONFIGS", PACKAGE_DIR.parent / "configs"))

PRESET_FILES = ("config.json", "model.weights.h5", "metadata.json")
TASK_PREFIX = {
    "sentiment": "sentiment",
    "ner": "ner",
    "captioning": "caption",
    "translation": "translate",
}


class UnknownModelError(KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class PresetError(ValueError):
    """A preset directory that is missing files, altered, or of another architecture."""


# -- configs ---------------------------------------------------------------------------
#: Checks live in `zoo.config` (the floor); the registry re-exports the two entry points.
validate_config = zoo_config.validate
read_config = zoo_config.read


def _config_paths() -> dict[str, Path]:
    if not CONFIGS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(CONFIGS_DIR.glob("*.yaml"))}


def _preset_dirs() -> dict[str, Path]:
    if not PRETRAINED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(PRETRAINED_DIR.iterdir()) if (p / "config.json").is_file()}


def list_models(task: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Registered model names, sorted.

    Args:
        task: keep only this task (``sentiment``, ``ner``, ``captioning``, ``translation``).
        pretrained: True keeps models with a published preset, False those without.
    """
    if task is not None and task not in zoo_config.TASKS:
        raise ValueError(
            f"Received an invalid value for argument 'task', expected one of "
            f"{list(zoo_config.TASKS)} or None, got {task!r}."
        )
    presets = _preset_dirs()
    names = sorted(set(_config_paths()) | set(presets))
    if task is not None:
        names = [n for n in names if n.startswith(TASK_PREFIX[task] + "_")]
    if pretrained is not None:
        names = [n for n in names if (n in presets) == pretrained]
    return names


def _unknown(name: str) -> UnknownModelError:
    close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownModelError(
        f"Unknown model name {name!r}.{hint} See zoo.list_models() (or `python -m zoo list`) "
        "for the registered names, or pass the path of a preset directory."
    )


def get_config(name: str) -> dict:
    """The config of a registered model (from its preset if published, else configs/)."""
    presets = _preset_dirs()
    if name in presets:
        return zoo_config.upgrade(json.loads((presets[name] / "config.json").read_text()))
    configs = _config_paths()
    if name in configs:
        return read_config(configs[name])
    raise _unknown(name)


def preset_dir(name: str) -> Path | None:
    """The published preset directory of `name`, or None."""
    return _preset_dirs().get(name)


# -- presets -------------------------------------------------------------------------------
def _files_of(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "metadata.json"
    }


def save_preset(
    model,
    config: dict,
    assets: dict,
    metadata: dict,
    dest: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a preset directory atomically; records sha256 of every file in metadata.

    Args:
        model: the trained `keras.Model`.
        config: the full config (``name``, ``task``, ``model``, ``data``, ``train``).
        assets: JSON-serialisable values, one ``assets/<key>.json`` each.
        metadata: metrics and provenance; ``files``, ``size_bytes``, ``parameters`` and
            versions are filled in here.
        dest: the preset directory to create (replaced only if `overwrite`).
    """
    import keras
    import tensorflow as tf

    validate_config(config)
    with atomic_dir(dest, overwrite=overwrite) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=False))
        _save_model_weights(model, tmp / "model.weights.h5")
        (tmp / "assets").mkdir()
        for key, value in assets.items():
            (tmp / "assets" / f"{key}.json").write_text(json.dumps(value, ensure_ascii=False))
        files = _files_of(tmp)
        meta = {
            **metadata,
            "name": config["name"],
            "task": config["task"],
            "parameters": int(model.count_params()),
            "size_bytes": sum((tmp / f).stat().st_size for f in files),
            "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
            "python_version": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2))
    return Path(dest)


def _save_model_weights(model, path: Path) -> None:
    """Write the model's weights without the optimizer state (Keras's `save_weights` on a
    compiled model also stores Adam's moments, tripling a preset's size). Models that
    override `save_weights` (e.g. float16 storage) write their own format."""
    import keras
    from keras.src.saving import saving_lib  # public API has no objects_to_skip

    if type(model).save_weights is not keras.Model.save_weights:
        model.save_weights(path)
        return
    optimizer = getattr(model, "optimizer", None)
    saving_lib.save_weights_only(
        model, str(path), objects_to_skip=[optimizer] if optimizer is not None else None
    )


def verify_preset(directory: str | os.PathLike) -> dict:
    """Check that a preset has all its files and that every sha256 matches.

    Returns the parsed metadata. Raises `PresetError` naming the file at fault.
    """
    directory = Path(directory)
    for f in PRESET_FILES:
        if not (directory / f).is_file():
            raise PresetError(
                f"Preset '{directory}' is missing '{f}'; a preset holds "
                f"{list(PRESET_FILES)} and assets/."
            )
    try:
        metadata = json.loads((directory / "metadata.json").read_text())
        files = metadata["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise PresetError(
            f"Preset '{directory}': metadata.json is unreadable or has no 'files' table ({e})."
        ) from None
    for rel, expected in files.items():
        path = directory / rel
        if not path.is_file():
            raise PresetError(f"Preset '{directory}' is missing '{rel}' listed in metadata.json.")
        actual = sha256_file(path)
        if actual != expected:
            raise PresetError(
                f"Preset '{directory}': sha256 mismatch for '{rel}': expected "
                f"{expected}, got {actual}. The file was altered or truncated."
            )
    extra = sorted(set(_files_of(directory)) - set(files))
    if extra:
        raise PresetError(f"Preset '{directory}' has files not recorded in metadata.json: {extra}.")
    return metadata


def add_preset_file(
    directory: str | os.PathLike, rel: str, data: bytes, *, metadata: dict | None = None
) -> Path:
    """Add (or replace) a file derived from a published preset, e.g. a calibration, and
    record its sha256 in ``metadata.json`` (plus the `metadata` keys given). The preset
    must verify first, so a derived file is never recorded beside altered weights.

    Returns:
        The path of the written file.
    """
    from zoo._io import atomic_file

    directory = Path(directory)
    if rel in PRESET_FILES:
        raise ValueError(
            f"Received an invalid value for argument 'rel', expected a file other than "
            f"{list(PRESET_FILES)}, got {rel!r}."
        )
    meta = verify_preset(directory)
    dest = directory / rel
    with atomic_file(dest) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)  # a package file, readable like the others (mkstemp gives 0600)
    meta["files"] = {**meta["files"], rel: sha256_file(dest)}
    meta["size_bytes"] = sum((directory / f).stat().st_size for f in meta["files"])
    meta.update(metadata or {})
    with atomic_file(directory / "metadata.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.chmod(0o644)
    return dest


class ZooModel:
    """A trained zoo model: the Keras model plus its task, assets and model card.

    Attributes:
        model: the `keras.Model`.
        task: the `zoo.tasks.Task`.
        config, assets, metadata: as stored in the preset.
    """

    def __init__(
        self,
        model,
        task,
        config: dict,
        assets: dict,
        metadata: dict | None = None,
        path: Path | None = None,
    ):
        self.model, self.task, self.config = model, task, config
        self.assets, self.metadata, self.path = assets, metadata or {}, path

    @property
    def name(self) -> str:
        return self.config["name"]

    @functools.cached_property
    def runtime(self):
        """The task's `Runtime` (lookup tables and compiled predict / serving functions),
        built on first use."""
        return self.task.runtime(self.model, self.assets, self.config)

    def predict(self, inputs, **options):
        """Raw input -> readable output (see the task's `Runtime.predict`, which documents
        its `options`, e.g. captioning's ``with_confidence=True``). A single input
        (string, image) gives a single output; a list gives a list."""
        single = not isinstance(inputs, (list, tuple))
        out = self.runtime.predict([inputs] if single else list(inputs), **options)
        return out[0] if single else out

    def evaluate(self, split: str = "test", limit: int | None = None) -> dict:
        """Metrics on a split of the model's dataset (first `limit` examples)."""
        return self.task.evaluate(self.runtime, self.config["data"], split=split, limit=limit)

    def __repr__(self) -> str:
        metric = self.metadata.get("metrics", {}).get(self.task.primary_metric)
        return f"<ZooModel {self.name} task={self.task.name} {self.task.primary_metric}={metric}>"


def _read_assets(directory: Path) -> dict:
    assets_dir = directory / "assets"
    if not assets_dir.is_dir():
        return {}
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(assets_dir.glob("*.json"))
    }


def load(name: str | os.PathLike, weights: bool = True) -> ZooModel:
    """Load a registered model by name, or a preset directory by path.

    Args:
        name: a name from `list_models()` or a path to a preset directory.
        weights: load the trained weights (verified by sha256 first). With False the
            architecture is built with fresh weights (needs the preset's assets).

    Raises:
        UnknownModelError: the name is not registered (lists close matches).
        PresetError: the preset is missing files, altered, or does not fit the architecture.
    """
    from zoo.tasks import get_task

    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(
            "Received an invalid value for argument 'name', expected a model name or a preset "
            f"directory, got {type(name).__name__}."
        )
    path = Path(name)
    if isinstance(name, os.PathLike) or (path.is_dir() and (path / "config.json").exists()):
        directory = path
    else:
        directory = preset_dir(name)
        if directory is None:
            if name in _config_paths():
                raise PresetError(
                    f"Model {name!r} is registered but has no published preset. Train it with "
                    f"`python -m zoo train configs/{name}.yaml --publish`, or see "
                    "zoo.list_models(pretrained=True)."
                )
            raise _unknown(name)
    metadata = verify_preset(directory)
    source = str(directory / "config.json")
    config = validate_config(json.loads((directory / "config.json").read_text()), source=source)
    try:  # the file keeps the keys it was hashed with; the model reads the current names
        config = zoo_config.upgrade(config)
    except zoo_config.ConfigError as error:
        raise error.with_source(source) from None
    task = get_task(config["task"])
    assets = _read_assets(directory)
    model = task.build_model(config["model"], assets, data_cfg=config["data"], for_training=False)
    if weights:
        try:
            model.load_weights(directory / "model.weights.h5")
        except Exception as e:  # noqa: BLE001 - report as a preset problem
            raise PresetError(
                f"Preset '{directory}': weights do not fit the architecture of "
                f"{config['name']!r} ({type(e).__name__}: {e})."
            ) from None
    return ZooModel(model, task, config, assets, metadata, directory)


def info(name: str) -> dict:
    """Model card: architecture, data, metrics, parameters, size, training command and time."""
    config = get_config(name)
    card: dict[str, Any] = {
        "name": name,
        "task": config["task"],
        "description": config.get("description", ""),
        "model": config["model"],
        "data": config["data"],
        "train": config["train"],
        "pretrained": preset_dir(name) is not None,
        "primary_metric": zoo_config.PRIMARY_METRICS.get(config["task"]),
    }
    directory = preset_dir(name)
    if directory is not None:
        meta = json.loads((directory / "metadata.json").read_text())
        for key in (
            "metrics",
            "metrics_seeds",
            "parameters",
            "size_bytes",
            "command",
            "training_time_s",
            "data_version",
            "epochs_run",
            "best_epoch",
            "eval_subset",
            "primary_metric",
            "behaviour",
        ):
            if key in meta:
                card[key] = meta[key]
    return card


def primary_metric(metadata: dict) -> str:
    """The metric a preset is ranked by (recorded in its metadata; else the task's)."""
    return metadata.get("primary_metric") or zoo_config.PRIMARY_METRICS[metadata["task"]]


_RESULT_FORMATS = {
    "sentiment": lambda m: f"accuracy {m['accuracy']:.2f}",
    "ner": lambda m: (
        f"f1 {m['f1']:.2f}"
        + (f" (lower-cased {m['f1_lowercased']:.1f})" if "f1_lowercased" in m else "")
    ),
    "translation": lambda m: (
        f"bleu {m['bleu']:.2f} (lowercased {m['bleu_lowercase']:.1f}, chrF {m['chrf']:.1f})"
    ),
    "captioning": lambda m: (
        f"bleu4 {m['bleu4']:.2f} (exact {m['exact_match']:.1f}%; "
        f"NN baseline BLEU-4 {m['nn_bleu4']:.1f})"
    ),
}


def _behaviour_cell(meta: dict) -> str:
    """``84.1 (negation 50.0)``: the behavioural suite's overall pass rate and its weakest
    category (`zoo evaluate NAME --suite behaviour`; per category in docs/behaviour.md)."""
    suite = meta.get("behaviour")
    if not suite:
        return "–"
    name, weakest = min(suite["categories"].items(), key=lambda kv: kv[1]["pass_rate"])
    return f"{suite['pass_rate']:.1f} ({name} {weakest['pass_rate']:.1f})"


def results_table() -> str:
    """The README's results table (Markdown), one row per published preset, read from
    the presets' ``metadata.json`` (`python -m zoo list --markdown` prints it)."""
    rows = [
        "| model | task | cell | parameters | preset size | test metric "
        "| seeds mean ± std | behaviour % (weakest category) | epochs | training time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in list_models(pretrained=True):
        meta = json.loads((preset_dir(name) / "metadata.json").read_text())
        task = meta["task"]
        key = primary_metric(meta)
        seeds = meta.get("metrics_seeds")
        spread = "–"
        if seeds:
            spread = f"{seeds['mean'][key]:.2f} ± {seeds['std'][key]:.2f} (n={len(seeds['seeds'])})"
        rows.append(
            f"| `{name}` | {task} | {name.split('_')[1]} | {meta['parameters']:,} "
            f"| {meta['size_bytes'] / 1e6:.1f} MB | {_RESULT_FORMATS[task](meta['metrics'])} "
            f"| {spread} | {_behaviour_cell(meta)} | {meta['epochs_run']} "
            f"| {meta['training_time_s']:.1f} |"
        )
    return "\n".join(rows) + "\n"
