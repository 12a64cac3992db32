"""Captioning confidence: the calibration maths against independent references, the
committed calibration of caption_lstm_emoji (monotone, in [0, 1], sha256-verified), the
"no confident caption" answer on noise and drawings, in-distribution captions kept, the
CLI and the serving signature, and the ``data.sources`` option."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from zoo import config, registry
from zoo.data import captioning as cdata
from zoo.tasks.captioning import calibrate, probes
from zoo.tasks.captioning import confidence as conf

PRESET = "caption_lstm_emoji"


def _calibration() -> dict:
    return json.loads(
        (registry.preset_dir(PRESET) / calibrate.CALIBRATION_FILE).read_text(encoding="utf-8")
    )


@pytest.fixture(scope="module")
def preset():
    import zoo

    return zoo.load(PRESET)


# -- maths against independent references ------------------------------------------------------
def test_ece_matches_a_hand_count():
    confidence = [0.05, 0.15, 0.12, 0.95, 1.0, 0.55]
    right = [0, 1, 0, 1, 1, 0]
    # bins: [0,.1): {.05: wrong}; [.1,.2): {.15 right, .12 wrong}; [.5,.6): {.55 wrong};
    # [.9,1]: {.95, 1.0 both right}
    want = (1 * 0.05 + 2 * abs(0.5 - 0.135) + 1 * 0.55 + 2 * abs(1.0 - 0.975)) / 6
    assert conf.expected_calibration_error(confidence, right) == pytest.approx(want)
    assert conf.expected_calibration_error([1.0, 0.0], [1, 0]) == 0.0


def test_auroc_matches_counting_pairs():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=60).round(1)  # ties included
    labels = rng.uniform(size=60) < 1 / (1 + np.exp(-2 * scores))
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert conf.auroc(scores, labels) == pytest.approx(pairs / (len(pos) * len(neg)))
    assert conf.auroc([0.1, 0.2], [True, True]) is None


def test_ood_score_is_the_mahalanobis_distance_of_the_ppca_covariance():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12)) + 3.0
    stats = conf.fit_ood(train, components=4)
    mean, v = np.asarray(stats["mean"]), np.asarray(stats["components"])
    cov = v.T @ np.diag(stats["variances"]) @ v + stats["rest"] * (np.eye(12) - v.T @ v)
    queries = rng.normal(size=(5, 12)) * 4
    want = [np.sqrt((q - mean) @ np.linalg.inv(cov) @ (q - mean)) for q in queries]
    np.testing.assert_allclose(conf.ood_score(stats, queries), want, rtol=2e-3)


def test_token_f1_and_rightness_use_the_name_or_an_alias():
    assert conf.token_f1(["a", "b", "c"], ["a", "b", "d"]) == pytest.approx(2 / 3)
    names = [["police officer", "cop"], ["woman in tuxedo"], ["man lifting weights dark skin tone"]]
    captions = ["cop", "man in tuxedo", "man lifting weights medium-dark skin tone"]
    assert conf.is_right(captions, names).tolist() == [True, False, True]


def test_platt_fit_is_monotone_drops_a_wrong_sign_feature_and_stays_in_0_1():
    rng = np.random.default_rng(2)
    n = 400
    values = {
        "mean_log_prob": rng.normal(size=n),
        "min_log_prob": rng.normal(size=n),
        "ood": rng.normal(size=n),
    }
    # rightness rises with mean_log_prob and (wrongly for the contract) with ood
    logit = 2 * values["mean_log_prob"] + 1.5 * values["ood"]
    right = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    platt = conf.fit_platt(values, right)
    assert "ood" not in platt["features"] and "mean_log_prob" in platt["features"]
    _assert_monotone(platt, values)


def _assert_monotone(platt, values):
    base = {k: np.full(50, float(np.median(v))) for k, v in values.items()}
    for name, sign in conf.FEATURE_SIGNS.items():
        grid = dict(base)
        lo, hi = np.min(values[name]), np.max(values[name])
        grid[name] = np.linspace(lo - 10 * (hi - lo), hi + 10 * (hi - lo), 50)
        c = conf.apply_platt(platt, grid)
        assert np.all((c >= 0) & (c <= 1)), name
        assert np.all(sign * np.diff(c) >= 0), f"confidence not monotone in {name}"


def test_keep_threshold_keeps_the_asked_share_of_right_captions():
    rng = np.random.default_rng(3)
    c, right = rng.uniform(size=1000), rng.uniform(size=1000) < 0.4
    t = conf.keep_threshold(c, right, keep=0.95)
    assert (c[right] >= t).mean() >= 0.95 and (c[right] > t).mean() < 0.95


# -- the committed calibration -------------------------------------------------------------------
def test_calibration_file_is_recorded_and_verified_by_sha256(tmp_path):
    meta = registry.verify_preset(registry.preset_dir(PRESET))
    assert calibrate.CALIBRATION_FILE in meta["files"]
    copy = tmp_path / PRESET
    shutil.copytree(registry.preset_dir(PRESET), copy)
    path = copy / calibrate.CALIBRATION_FILE
    data = json.loads(path.read_text())
    data["no_caption_below"] = 0.0  # a quiet edit that would answer everything
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    with pytest.raises(registry.PresetError, match="calibration.json"):
        registry.verify_preset(copy)


def test_add_preset_file_records_the_hash_and_refuses_an_altered_preset(tmp_path):
    copy = tmp_path / PRESET
    shutil.copytree(registry.preset_dir(PRESET), copy)
    registry.add_preset_file(copy, "assets/extra.json", b"{}\n", metadata={"note": 1})
    meta = registry.verify_preset(copy)
    assert "assets/extra.json" in meta["files"] and meta["note"] == 1
    with pytest.raises(ValueError, match="model.weights.h5"):
        registry.add_preset_file(copy, "model.weights.h5", b"x")
    (copy / "config.json").write_text("{}")
    with pytest.raises(registry.PresetError, match="config.json"):
        registry.add_preset_file(copy, "assets/more.json", b"{}")


def test_committed_calibration_is_monotone_in_every_feature_and_in_0_1():
    cal = _calibration()
    assert cal["platt"]["features"], "calibration dropped every feature"
    ranges = dict(zip(cal["platt"]["features"], zip(cal["platt"]["mean"], cal["platt"]["scale"])))
    values = {
        name: np.asarray([m - 3 * s, m + 3 * s]) if name in ranges else np.asarray([0.0, 1.0])
        for name, (m, s) in {**{f: (0.0, 1.0) for f in conf.FEATURES}, **ranges}.items()
    }
    _assert_monotone(cal["platt"], values)
    assert 0.0 < cal["no_caption_below"] < 1.0


def test_confidence_graph_equals_the_numpy_confidence():
    cal = _calibration()
    rng = np.random.default_rng(4)
    f = len(cal["ood"]["mean"])
    spread = np.geomspace(0.01, 10, 16)[:, None]  # near the training mean ... far away
    values = {
        "mean_log_prob": rng.uniform(-2, 0, 16),
        "min_log_prob": rng.uniform(-4, 0, 16),
        "pooled": np.asarray(cal["ood"]["mean"]) + spread * rng.normal(size=(16, f)),
    }
    want = conf.confidence_of(cal, values)
    far = conf.ood_score(cal["ood"], values["pooled"]) > cal["ood_limit"]
    assert 0 < far.sum() < 16 and np.all(want[far] == 0) and np.all(want[~far] > 0)
    got = conf.confidence_graph(
        cal, values["mean_log_prob"], values["min_log_prob"], values["pooled"]
    ).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


# -- the preset's answers ------------------------------------------------------------------------
def test_rescored_caption_log_probability_equals_the_beam_score(preset):
    from zoo.tasks.captioning.model import beam_search

    images = cdata.load_split_arrays("test", image_size=48, limit=6)["images"]
    ids, score = beam_search(preset.model, tf.constant(images), 5, 16)
    mean, low = conf.caption_log_probs(preset.model, tf.constant(images), ids)
    ids = ids.numpy()
    ends = [list(r).index(cdata.END_ID) + 1 if cdata.END_ID in r else len(r) for r in ids]
    np.testing.assert_allclose(mean.numpy() * np.asarray(ends), score.numpy(), atol=1e-4)
    assert np.all(low.numpy() <= mean.numpy() + 1e-6)


def test_noise_and_drawings_get_no_confident_caption(preset):
    noise = list(probes.noise_images(6, 48, seed=7))
    drawn, _ = probes.drawn_images(1, 48, seed=7)
    out = preset.predict(noise + list(drawn) + [probes.red_heart()], with_confidence=True)
    for o in out:
        assert o["caption"] == conf.NO_CAPTION, o
        assert 0.0 <= o["confidence"] < preset.runtime.no_caption_below
        assert isinstance(o["guess"], str) and o["guess"]


def test_a_preset_without_calibration_says_how_to_get_one(preset):
    assets = {k: v for k, v in preset.assets.items() if k != "calibration"}
    runtime = preset.task.runtime(preset.model, assets, preset.config)
    with pytest.raises(ValueError, match="zoo calibrate"):
        runtime.describe([probes.red_heart()])
    assert runtime.predict([]) == [] and runtime.no_caption_below is None


def test_in_distribution_test_images_mostly_keep_their_right_captions(preset):
    # 96 test images; on the whole split 95% of right captions keep their caption on
    # validation by construction and 40% of all test images are answered (measured)
    test = cdata.load_split_arrays("test", image_size=48, limit=96)
    out = preset.runtime.describe(list(test["images"]))
    right = conf.is_right([o["guess"] for o in out], conf.names_of(test["emoji"], test["captions"]))
    answered = np.asarray([o["caption"] != conf.NO_CAPTION for o in out])
    assert answered[right].mean() >= 0.75
    assert answered.mean() >= 0.25
    assert [o["guess"] for o in out] == preset.predict(list(test["images"]))


def test_cli_prints_the_confidence(tmp_path, capsys):
    from PIL import Image

    from zoo.cli import main

    good = tmp_path / "good.png"
    good.write_bytes(cdata.sample_images(n=1)[0])
    noise = tmp_path / "noise.png"
    Image.fromarray((probes.noise_images(1, 64)[0] * 255).astype("uint8")).save(noise)
    assert main(["predict", PRESET, str(good), str(noise)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{good}  ->  ") and "(confidence 0." in lines[0], lines
    assert lines[1].startswith(f"{noise}  ->  {conf.NO_CAPTION}  (confidence 0.0"), lines
    assert "guess " in lines[1]
    assert main(["predict", PRESET, str(noise), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["output"]["caption"] == conf.NO_CAPTION and 0 <= row["output"]["confidence"] < 1


@pytest.mark.slow
def test_serving_signature_returns_the_confidence_describe_gives(preset):
    fns = preset.runtime.serving_functions()
    images = cdata.sample_images(n=2) + [probes_png()]
    out = fns["serving_default"](tf.constant(images))
    want = preset.runtime.describe(images)
    np.testing.assert_allclose(
        out["confidence"].numpy(), [w["confidence"] for w in want], atol=1e-5
    )
    assert out["confident"].numpy().tolist() == [w["caption"] != conf.NO_CAPTION for w in want]
    assert "confidence" not in fns["greedy"](tf.constant(images[:1]))


def probes_png() -> bytes:
    import io

    out = io.BytesIO()
    probes.red_heart().save(out, format="PNG")
    return out.getvalue()


# -- data.sources ------------------------------------------------------------------------------
def test_sources_keep_one_artwork_set_and_bad_values_are_config_errors():
    from zoo.tasks import get_task

    noto = cdata.load_split_arrays("validation", image_size=16, sources=["noto"])
    both = cdata.load_split_arrays("validation", image_size=16)
    assert set(noto["source"]) == {"noto"}
    assert len(noto["source"]) == both["source"].count("noto") < len(both["source"])
    assert cdata.check_sources(["emojione", "noto", "noto"]) == ("noto", "emojione")
    cfg = {"name": "x", "task": "captioning", "model": {"cell": "lstm"}, "train": {}}
    with pytest.raises(config.ConfigError, match="data.sources"):
        get_task("captioning").check_config({**cfg, "data": {"sources": ["twemoji"]}})
    with pytest.raises(config.ConfigError, match="data.sources"):
        get_task("captioning").check_config({**cfg, "data": {"sources": []}})
