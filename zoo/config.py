"""The floor of every config check: one error type, one message shape, no TensorFlow.

A config is ``configs/<name>.yaml`` with sections ``model``, ``data`` and ``train``.
Every invalid config raises `ConfigError` from here (exit code 2 in the CLI), in one line
that names the key, the value received and what is allowed, with a "did you mean" when a
close match exists::

    configs/x.yaml: unknown top-level key 'trian'; did you mean 'train'? Allowed: ...
    configs/x.yaml: invalid value for 'model.cell': 'lstn'; did you mean 'lstm'? ...

The task modules call these helpers for their own sections; this module imports nothing
heavier than PyYAML, so `zoo list` / `zoo info` stay fast.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: The four tasks: config name -> "module:Class" (imported lazily by `zoo.tasks.get_task`).
TASKS = {
    "sentiment": "zoo.tasks.sentiment:SentimentTask",
    "ner": "zoo.tasks.ner:NERTask",
    "captioning": "zoo.tasks.captioning:CaptioningTask",
    "translation": "zoo.tasks.translation:TranslationTask",
}
#: The metric each task's presets are ranked by.
PRIMARY_METRICS = {
    "sentiment": "accuracy",
    "ner": "f1",
    "captioning": "bleu4",
    "translation": "bleu",
}
#: Recurrent cell names accepted by ``model.cell``.
CELLS = ("simple_rnn", "lstm", "gru")
#: Cell spellings in model names (``ner_bilstm_conll2003``): name part -> ``model.cell``.
CELL_ALIASES = {"rnn": "simple_rnn", "lstm": "lstm", "gru": "gru"}
#: Keys of older configs (committed presets keep them: their hashes are verified) ->
#: the current name, per section; `upgrade` translates them when a config is read.
RENAMED_KEYS = {
    "model": {
        "layers": "num_layers",
        "embedding_base_dtype": "storage_dtype",
        "embedding_storage": "storage_dtype",
        "weights_dtype": "storage_dtype",
    },
    "data": {"glove_vocab": "glove_vocabulary"},
}

TOP_LEVEL_KEYS = ("name", "task", "description", "model", "data", "train")
REQUIRED_TOP_LEVEL_KEYS = ("name", "task", "model", "data", "train")
SECTIONS = ("model", "data", "train")


class ConfigError(ValueError):
    """An invalid config: exit code 2 in the CLI. `str(error)` is one line."""

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)

    def with_source(self, source: str) -> ConfigError:
        """The same error, prefixed with the file it came from (once)."""
        if self.source:
            return self
        return ConfigError(str(self), source=source)


def did_you_mean(value: Any, allowed: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest allowed string, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _where(section: str | None, key: str) -> str:
    return f"{section}.{key}" if section else key


def check_keys(
    section: str | None,
    cfg: dict,
    allowed: Iterable[str],
    required: Iterable[str] = (),
) -> dict:
    """Raise `ConfigError` for an unknown or missing key of `cfg` (section None = top level).

    Returns `cfg` unchanged.
    """
    allowed = sorted(allowed)
    where = f"the '{section}' section" if section else "the config's top level"
    for key in cfg:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {where}{did_you_mean(key, allowed)} "
                f"Allowed: {', '.join(allowed)}."
            )
    missing = [k for k in sorted(required) if k not in cfg]
    if missing:
        raise ConfigError(f"missing key {missing[0]!r} in {where} (required: {sorted(required)}).")
    return cfg


def one_of(value: Any, allowed: Iterable, key: str, section: str | None = None) -> Any:
    """`value` if it is in `allowed`, else `ConfigError` with a "did you mean"."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(
            f"invalid value for {_where(section, key)!r}: {value!r}"
            f"{did_you_mean(value, [a for a in allowed if isinstance(a, str)]) or ';'} "
            f"expected one of {', '.join(repr(a) for a in allowed)}."
        )
    return value


def cell(value: Any, section: str = "model", key: str = "cell") -> str:
    """A recurrent cell name (``simple_rnn``, ``lstm``, ``gru``)."""
    return one_of(value, CELLS, key, section)


def _typed(
    value: Any, key: str, section: str | None, ok: Callable[[Any], bool], expected: str
) -> Any:
    if not ok(value):
        raise ConfigError(
            f"invalid value for {_where(section, key)!r}: {value!r} "
            f"({type(value).__name__}); expected {expected}."
        )
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def positive_int(value: Any, key: str, section: str | None = None) -> int:
    """An int >= 1."""
    return _typed(value, key, section, lambda v: _is_int(v) and v >= 1, "a positive integer")


def non_negative_int(value: Any, key: str, section: str | None = None) -> int:
    """An int >= 0."""
    return _typed(value, key, section, lambda v: _is_int(v) and v >= 0, "an integer >= 0")


def positive_number(value: Any, key: str, section: str | None = None) -> float:
    """A number > 0."""
    return _typed(value, key, section, lambda v: _is_number(v) and v > 0, "a positive number")


def rate(value: Any, key: str, section: str | None = None) -> float:
    """A number in [0, 1) (dropout, label smoothing)."""
    return _typed(value, key, section, lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")


def probabilities(
    value: Any, names: Iterable[str], key: str, section: str | None = None
) -> dict[str, float]:
    """A mapping ``{name: probability}`` of mutually exclusive events: names from `names`
    (missing ones are 0), each a number in [0, 1], summing to at most 1."""
    names = list(names)
    where = _where(section, key)
    if not isinstance(value, dict):
        raise ConfigError(
            f"invalid value for {where!r}: {value!r} ({type(value).__name__}); expected a "
            f"mapping from {', '.join(repr(n) for n in names)} to probabilities."
        )
    check_keys(where, value, names)
    out = {}
    for name in names:
        p = value.get(name, 0.0)
        out[name] = float(
            _typed(p, name, where, lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]")
        )
    if sum(out.values()) > 1 + 1e-9:
        raise ConfigError(
            f"invalid value for {where!r}: {value!r}; the probabilities are of mutually "
            f"exclusive events and must sum to at most 1, got {sum(out.values()):g}."
        )
    return out


def boolean(value: Any, key: str, section: str | None = None) -> bool:
    """True or False."""
    return _typed(value, key, section, lambda v: isinstance(v, bool), "true or false")


def validate(config: Any, *, source: str | None = None) -> dict:
    """Check a config's top level (keys, task, section types). Returns `config`."""
    try:
        if not isinstance(config, dict):
            raise ConfigError(
                f"expected a mapping with keys {list(REQUIRED_TOP_LEVEL_KEYS)}, got "
                f"{type(config).__name__}."
            )
        check_keys(None, config, TOP_LEVEL_KEYS, REQUIRED_TOP_LEVEL_KEYS)
        one_of(config["task"], TASKS, "task")
        for section in SECTIONS:
            if not isinstance(config[section], dict):
                raise ConfigError(
                    f"section {section!r} must be a mapping of keys to values, got "
                    f"{type(config[section]).__name__} {config[section]!r}."
                )
    except ConfigError as error:
        raise error.with_source(source) if source else error from None
    return config


def upgrade(config: dict) -> dict:
    """A copy of `config` in the current vocabulary: `RENAMED_KEYS` renamed, and a
    ``model.cell`` spelled as in model names (``rnn``) written as a cell (``simple_rnn``).

    Values are unchanged, so an upgraded preset config builds the same model and loads
    the same weights. Unknown keys are left for the section checks to report.

    Raises:
        ConfigError: a section has both an old key and its new name.
    """
    out = dict(config)
    for section, renames in RENAMED_KEYS.items():
        if not isinstance(out.get(section), dict):
            continue
        cfg = dict(out[section])
        for old, new in renames.items():
            if old not in cfg:
                continue
            if new in cfg:
                raise ConfigError(
                    f"both {_where(section, old)!r} and its current name "
                    f"{_where(section, new)!r} are set; keep {new!r}."
                )
            cfg[new] = cfg.pop(old)
        out[section] = cfg
    model = out.get("model")
    if isinstance(model, dict) and model.get("cell") in CELL_ALIASES:
        out["model"] = {**model, "cell": CELL_ALIASES[model["cell"]]}
    return out


def read(path: str | os.PathLike) -> dict:
    """Read, `validate` and `upgrade` a YAML (or JSON) config file.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: not YAML, or an invalid top level; the message starts with the path.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: '{path}'.")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"not valid YAML{where}: {problem}.", source=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file (expected UTF-8 YAML).", source=str(path)) from None
    try:
        return upgrade(validate(config, source=str(path)))
    except ConfigError as error:
        raise error.with_source(str(path)) from None
