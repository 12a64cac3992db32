"""The command line: help on every command, JSON output, and exit codes that tell bad
usage (2) from failures (1), with one readable line instead of a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import toy_task
import yaml

from zoo import registry
from zoo.cli import build_parser, main

COMMANDS = [
    "list",
    "info",
    "predict",
    "evaluate",
    "calibrate",
    "train",
    "export",
    "bench",
    "data",
    "demo",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "usage: zoo " + command in capsys.readouterr().out


def test_parser_knows_exactly_the_documented_commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_bad_usage_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert main(["export", "x"]) == 2  # missing DIR
    assert main(["bench", "gpu"]) == 2


def test_list_json_matches_the_registry(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.list_models()


def test_info_json_gives_the_model_card(capsys):
    name = registry.list_models()[0]
    assert main(["info", name, "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == name and card["task"] == registry.get_config(name)["task"]


def test_unknown_model_is_usage_error_with_close_matches(capsys):
    name = registry.list_models()[0]
    assert main(["info", name[:-2]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "list" in err[0]


def test_invalid_config_is_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "task": "sentiment",
                "model": {},
                "data": {},
                "train": {},
                "colour": "red",
            }
        )
    )
    assert main(["train", str(bad)]) == 2
    assert "unknown key 'colour' in the config's top level" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


def test_train_then_evaluate_a_preset_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    toy_task.register()
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toy_task.toy_config()))
    preset = tmp_path / "preset"
    assert main(["train", str(config), "--preset-dir", str(preset), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == str(preset) and "accuracy" in out["metrics"]
    assert main(["evaluate", str(preset), "--limit", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["limit"] == 8
    # Export refuses to overwrite an existing directory: usage error, nothing touched.
    (tmp_path / "exists").mkdir()
    assert main(["export", str(preset), str(tmp_path / "exists")]) == 2
    assert "overwrite" in capsys.readouterr().err


def test_failure_in_a_subprocess_is_one_line_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "info", "no_such_model"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "zoo: error: Unknown model name 'no_such_model'" in proc.stderr


def test_several_seeds_keep_separate_runs_and_summarise_in_the_first_preset(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    toy_task.register()
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toy_task.toy_config(epochs=1)))
    run, preset = tmp_path / "run", tmp_path / "preset"
    argv = ["train", str(config), "--seeds", "0", "1", "--json"]
    assert main([*argv, "--run-dir", str(run), "--preset-dir", str(preset)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in out] == [0, 1]
    assert out[0]["preset"] == str(preset) and out[1]["preset"] == f"{preset}-seed1"
    assert (tmp_path / "run-seed1" / "history.csv").is_file()
    meta = json.loads((preset / "metadata.json").read_text())
    assert meta["seed"] == 0  # the first seed's preset is not overwritten by the second
    summary = meta["metrics_seeds"]
    per_seed = [r["metrics"]["accuracy"] for r in out]
    assert summary["seeds"] == [0, 1]
    assert summary["mean"]["accuracy"] == pytest.approx(sum(per_seed) / 2)
