"""Every committed preset loads offline with its hashes verified, reproduces its recorded
metric on the fixed evaluation subset, stays under 10 MB and predicts on raw input.
The full test-split evaluation is a slow test (`make test-slow`)."""

from __future__ import annotations

import json

import pytest
from budget import default_or_slow

import zoo
from zoo import registry

PRESETS = registry.list_models(pretrained=True)
MAX_PRESET_BYTES = 10 * 1024 * 1024
#: Metrics are re-measured on the same machine class; tolerance covers float reordering
#: (oneDNN) and, for decoders, rare ties in the argmax.
TOLERANCE = 0.5


def _meta(name):
    return json.loads((registry.preset_dir(name) / "metadata.json").read_text())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_complete_small_and_records_its_provenance(name):
    meta = registry.verify_preset(registry.preset_dir(name))
    size = sum(p.stat().st_size for p in registry.preset_dir(name).rglob("*") if p.is_file())
    assert size < MAX_PRESET_BYTES, f"{name} preset is {size} bytes"
    for key in ("command", "data_version", "metrics", "training_time_s", "files", "eval_subset"):
        assert meta.get(key) not in (None, {}, ""), f"{name}: metadata lacks {key}"
    assert meta["command"].startswith("python -m zoo train configs/")
    assert not meta.get("smoke"), f"{name} was published from a smoke run"


@pytest.mark.xdist_group("presets")
@pytest.mark.parametrize("name", default_or_slow(PRESETS))
def test_preset_reproduces_recorded_metric_on_eval_subset(name):
    model = zoo.load(name)
    subset = _meta(name)["eval_subset"]
    metrics = model.evaluate(split=subset["split"], limit=subset["limit"])
    key = model.task.primary_metric
    assert metrics[key] == pytest.approx(subset["metrics"][key], abs=TOLERANCE)
    outputs = model.predict(model.task.example_inputs())
    assert len(outputs) == len(model.task.example_inputs())


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_preset_reproduces_recorded_metric_on_full_test_split(name):
    model = zoo.load(name)
    metrics = model.evaluate(split="test")
    key = model.task.primary_metric
    assert metrics[key] == pytest.approx(_meta(name)["metrics"][key], abs=TOLERANCE)


def test_tampered_published_preset_is_refused(tmp_path):
    if not PRESETS:
        pytest.skip("no published presets")
    import shutil

    copy = tmp_path / PRESETS[0]
    shutil.copytree(registry.preset_dir(PRESETS[0]), copy)
    weights = copy / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(registry.PresetError, match="sha256 mismatch"):
        zoo.load(copy)


def test_readme_results_table_matches_the_presets_metadata():
    """The README table is `python -m zoo list --markdown`: it cannot go stale."""
    readme = (registry.PACKAGE_DIR.parent / "README.md").read_text()
    table = registry.results_table()
    assert table in readme, "README results table is stale: paste `python -m zoo list --markdown`"
    assert table.count("\n") == len(PRESETS) + 2
