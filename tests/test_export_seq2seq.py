"""Translation and captioning exports: the NumPy decoders equal the in-graph ones, the task
clients over ``encode`` / ``decode_step`` equal ``predict`` (as `tf.function`s, after
TFLite and after ONNX conversion), int8 TFLite records its metric drop, the SavedModel
signatures take one input or a batch (captioning's default decodes like ``predict``), and
every float captioning export answers ``predict(..., with_confidence=True)`` like the
preset (same captions, confidence within 1e-3, noise gets "no confident caption").

Each preset is loaded once and exported once per format (module-scoped caches)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import captioning as cdata
from zoo.data import translation as tdata
from zoo.demo import best_models
from zoo.export import INT8_MAX_DROP, _interpreter
from zoo.tasks import decoding, portable
from zoo.tasks.captioning import confidence as conf
from zoo.tasks.captioning import probes
from zoo.tasks.captioning.client import CaptioningClient
from zoo.tasks.captioning.client import from_serving as captions_from_serving
from zoo.tasks.translation.client import TranslationClient
from zoo.tasks.translation.client import from_serving as translations_from_serving

BEST = best_models()
CLIENTS = {"translation": TranslationClient, "captioning": CaptioningClient}
pytestmark = [
    pytest.mark.xdist_group("export"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]


# -- the NumPy decoders against zoo.tasks.decoding on a toy step ------------------------
VOCAB, UNITS = 7, 5


def _toy_weights(seed):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=s).astype(np.float32)
        for s in [(VOCAB, UNITS), (UNITS, UNITS), (UNITS, VOCAB)]
    ]


def _toy_step(weights, scale):
    """A deterministic RNN-like step with a per-step output; logits rounded to steps of
    1/4 so that exact ties (the tie-breaking rules) happen."""
    emb, rec, out = (tf.constant(w) for w in weights)

    def step(tokens, states):
        h = tf.tanh(tf.gather(emb, tokens) + states["h"] @ rec)
        logits = tf.round(scale * (h @ out)) / 4.0
        return logits, {"h": h, "memory": states["memory"]}, {"h_in": states["h"]}

    return step


def _numpy(step):
    def run(tokens, states):
        logits, new, extra = step(
            tf.constant(tokens), {k: tf.constant(v) for k, v in states.items()}
        )
        return (
            logits.numpy(),
            {k: v.numpy() for k, v in new.items()},
            {k: v.numpy() for k, v in extra.items()},
        )

    return run


def _in_graph(step):
    return lambda tokens, states: step(tokens, states)[:2]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [4.0, 40.0])
def test_numpy_decoders_equal_the_in_graph_ones(seed, scale):
    step = _toy_step(_toy_weights(seed), scale)
    rng = np.random.default_rng(100 + seed)
    states = {
        "h": rng.normal(size=(3, UNITS)).astype(np.float32),
        "memory": np.zeros((3, 2), np.float32),
    }
    start = np.full([3], 1, np.int32)
    kw = {"max_length": 6, "end_token": 0 + 2}
    g_ids, g_scores = decoding.greedy_search(_in_graph(step), start, states, **kw)
    n_ids, n_scores, _ = portable.greedy_search(_numpy(step), start, states, **kw)
    np.testing.assert_array_equal(n_ids, g_ids.numpy())
    np.testing.assert_allclose(n_scores, g_scores.numpy(), rtol=1e-6)
    for beam, alpha in [(1, 0.0), (3, 0.0), (4, 0.6), (VOCAB * VOCAB, 1.0)]:
        b_ids, b_scores = decoding.beam_search(
            _in_graph(step), start, states, beam_size=beam, length_penalty=alpha, **kw
        )
        n_ids, n_scores, _ = portable.beam_search(
            _numpy(step), start, states, beam_size=beam, length_penalty=alpha, **kw
        )
        np.testing.assert_array_equal(n_ids, b_ids.numpy(), err_msg=f"beam {beam}")
        np.testing.assert_allclose(n_scores, b_scores.numpy(), rtol=1e-6)


def test_beam_search_collects_the_step_outputs_of_the_chosen_hypothesis():
    step = _numpy(_toy_step(_toy_weights(7), 40.0))
    h0 = np.random.default_rng(0).normal(size=(2, UNITS)).astype(np.float32)
    states = {"h": h0, "memory": np.zeros((2, 2), np.float32)}
    ids, _, collected = portable.beam_search(
        step, np.ones([2], np.int32), states, beam_size=3, max_length=5, end_token=2
    )
    assert collected["h_in"].shape == (2, ids.shape[1], UNITS)
    for row in range(2):  # replay the winning tokens: the same inputs at every step
        s, tok = (
            {"h": h0[row : row + 1], "memory": np.zeros((1, 2), np.float32)},
            np.ones([1], np.int32),
        )
        for t in range(ids.shape[1]):
            # a batch of 1 vs 6 rows may differ in the last bit of a matmul
            np.testing.assert_allclose(collected["h_in"][row, t], s["h"][0], rtol=1e-5)
            _, s, _ = step(tok, s)
            tok = ids[row, t : t + 1]


# -- presets ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def presets():
    return {task: zoo.load(BEST[task]) for task in CLIENTS}


@pytest.fixture(scope="module")
def inputs():
    """10 raw inputs per task: test-split sentences (one with out-of-vocabulary words) and
    edge cases; test-split emoji images (PNG bytes) and a drawn gray array."""
    texts, _ = tdata.split_texts("test", limit=7)
    texts += ["Hola.", "", "¿Dónde está la estación de tren? " * 12]  # the last truncated
    images = cdata.sample_images({}, n=9)
    gray = np.tile(np.linspace(0, 255, 30, dtype=np.uint8), (30, 1))
    return {"translation": texts, "captioning": images + [gray]}


def _client(presets, task, run):
    model = presets[task]
    return CLIENTS[task](run, model.assets, model.config)


def _tf_client(presets, task):
    return _client(presets, task, portable.tf_runner(presets[task].runtime.portable_functions()))


def test_captioning_client_over_the_tf_functions_equals_predict(presets, inputs):
    model, images = presets["captioning"], inputs["captioning"]
    client = _tf_client(presets, "captioning")
    assert model.runtime.beam_size > 1
    assert client.predict(images) == model.predict(images)
    assert client.predict(images, beam_size=1) == model.runtime.decode(images, beam_size=1)


def test_translation_client_over_the_tf_functions_equals_translate(presets, inputs):
    runtime, texts = presets["translation"].runtime, inputs["translation"]
    client = _tf_client(presets, "translation")
    assert client.predict(texts) == presets["translation"].predict(texts)
    beam = runtime.beam_size
    assert beam > 1
    assert client.translate(texts, beam_size=beam) == runtime.translate(texts, beam_size=beam)
    with pytest.raises(ValueError, match="'beam_size'.*got 0"):
        client.translate(texts, beam_size=0)
    with pytest.raises(TypeError, match="'inputs'"):
        client.predict("Hola.")


@pytest.mark.parametrize("task", list(CLIENTS))
def test_decode_step_takes_any_batch_and_returns_logits_and_new_states(task, presets):
    fns = presets[task].runtime.portable_functions()
    calibration = presets[task].runtime.calibration_inputs(3)
    assert sorted(calibration) == ["decode_step", "encode"]
    assert 1 <= len(calibration["decode_step"]) <= 3
    encoded = fns["encode"](**calibration["encode"][0])
    for n in (1, 4):
        states = {k: tf.repeat(v, n, axis=0) for k, v in encoded.items()}
        out = fns["decode_step"](tokens=tf.fill([n], 2), **states)
        assert out["logits"].shape[0] == n and out["logits"].dtype == tf.float32
        new = {k for k in out if k.startswith(portable.NEW)}
        assert new and {k[len(portable.NEW) :] for k in new} <= set(states)


# -- TFLite and ONNX -------------------------------------------------------------------
@pytest.fixture(scope="module")
def exports(tmp_path_factory, presets):
    """``get(task, format, quantize=None) -> directory``, each exported once."""
    root = tmp_path_factory.mktemp("exports")
    cache = {}

    def get(task, fmt, quantize=None, **kwargs):
        key = (task, fmt, quantize)
        if key not in cache:
            path = root / f"{task}-{fmt}-{quantize}"
            cache[key] = zoo.export(presets[task], path, format=fmt, quantize=quantize, **kwargs)
        return cache[key]

    return get


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("task", list(CLIENTS))
def test_float_export_predicts_like_the_preset(task, fmt, presets, inputs, exports):
    some = inputs[task][-5:]
    exported = zoo.load_exported(exports(task, fmt))
    assert (exported.task, exported.format) == (task, fmt)
    assert exported.predict(some) == presets[task].predict(some)
    meta = json.loads((exports(task, fmt) / "export.json").read_text("utf-8"))
    assert sorted(meta["functions"]) == ["decode_step", "encode"]


@pytest.mark.parametrize("task", list(CLIENTS))
def test_tflite_has_builtin_ops_only(task, exports):
    for name in ("encode", "decode_step"):
        interpreter = _interpreter(model_path=str(exports(task, "tflite") / f"{name}.tflite"))
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops


@pytest.mark.slow
@pytest.mark.parametrize("task", list(CLIENTS))
def test_int8_tflite_metric_drop_is_recorded_and_reproduced(task, presets, exports):
    """int8 on the full evaluation subset: the recorded int8 metric is what the export's
    client scores again, and the drop is within `INT8_MAX_DROP`."""
    path = exports(task, "tflite", "int8")
    q = json.loads((path / "export.json").read_text("utf-8"))["quantization"]
    assert q["mode"] in ("int8-full", "int8-dynamic") and q["why"]
    model = presets[task]
    examples, references = model.task.eval_examples(
        model.config["data"], limit=q["subset"]["examples"]
    )
    again = model.task.score(zoo.load_exported(path).predict(examples), references)
    assert again[q["metric"]] == pytest.approx(q["int8"], abs=1e-3)
    assert q["drop"] <= INT8_MAX_DROP


# -- SavedModel signatures -------------------------------------------------------------
def test_captioning_signatures_take_one_image_or_a_batch_and_default_decodes_like_predict(
    presets, inputs, exports
):
    model, images = presets["captioning"], inputs["captioning"][:4]
    loaded = tf.saved_model.load(str(exports("captioning", "saved_model")))
    assert {"serving_default", "greedy", "beam_search"} <= set(loaded.signatures)
    default = loaded.signatures["serving_default"]
    batch = default(images=tf.constant(images))
    assert captions_from_serving(batch) == model.predict(images)
    one = default(images=tf.constant(images[0]))["captions"]
    assert one.shape == () and one.numpy().decode() == model.predict(images[:1])[0]
    greedy = loaded.signatures["greedy"](images=tf.constant(images))
    assert captions_from_serving(greedy) == model.runtime.decode(images, beam_size=1)
    assert zoo.load_exported(exports("captioning", "saved_model")).predict(images) == (
        model.predict(images)
    )


def test_saved_model_takes_every_image_form_predict_takes(presets, inputs, exports):
    """Gray [H, W] uint8, float [0, 1] RGB, PIL "L" and "RGBA" images: the exported
    SavedModel captions them as the Python model does."""
    from PIL import Image

    model = presets["captioning"]
    gray = inputs["captioning"][-1]
    rgb = tf.io.decode_png(inputs["captioning"][0], channels=3).numpy()
    images = [
        gray,
        rgb.astype(np.float32) / 255.0,
        Image.fromarray(gray, "L"),
        Image.fromarray(rgb).convert("RGBA"),
    ]
    exported = zoo.load_exported(exports("captioning", "saved_model"))
    assert exported.predict(images) == model.predict(images)
    with pytest.raises(ValueError, match="no such file"):
        exported.predict(["/no/such/picture.png"])
    with pytest.raises(ValueError, match=r"shape \(2, 2, 7\)"):
        exported.predict([np.zeros((2, 2, 7), np.uint8)])


def test_translation_signatures_take_one_string_or_a_batch(presets, inputs, exports):
    model, texts = presets["translation"], inputs["translation"][:4]
    loaded = tf.saved_model.load(str(exports("translation", "saved_model")))
    default = loaded.signatures["serving_default"]
    assert translations_from_serving(default(text=tf.constant(texts))) == model.predict(texts)
    one = default(text=tf.constant("Hola."))["translation"]
    assert one.shape == () and one.numpy().decode() == model.predict(["Hola."])[0]
    beam = loaded.signatures["beam_search"](text=tf.constant(texts))
    expected = model.runtime.translate(texts, beam_size=model.runtime.beam_size)
    assert translations_from_serving(beam) == expected


# -- captioning confidence in every format ------------------------------------------------
@pytest.fixture(scope="module")
def confidence_images(inputs):
    """A test image captioned with confidence (0.82 measured), one just below the
    threshold (0.15), the drawn gray array and uniform noise (uint8, so that the PNG the
    SavedModel gets decodes to the same pixels)."""
    images = inputs["captioning"]
    noise = (probes.noise_images(1, 64, seed=7)[0] * 255).astype(np.uint8)
    return [images[8], images[2], images[-1], noise]


@pytest.fixture(scope="module")
def preset_confidence(presets, confidence_images):
    return presets["captioning"].predict(confidence_images, with_confidence=True)


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_calibrated_captioning_export_answers_with_the_preset_confidence(
    fmt, presets, exports, confidence_images, preset_confidence
):
    path = exports("captioning", fmt)
    if fmt != "saved_model":
        copied = json.loads((path / "assets" / "calibration.json").read_text("utf-8"))
        assert copied == presets["captioning"].assets["calibration"]
    exported = zoo.load_exported(path)
    assert exported.calibrated
    got = exported.predict(confidence_images, with_confidence=True)
    want = preset_confidence
    assert [(g["caption"], g["guess"]) for g in got] == [(w["caption"], w["guess"]) for w in want]
    np.testing.assert_allclose(
        [g["confidence"] for g in got], [w["confidence"] for w in want], atol=1e-3
    )
    assert want[0]["caption"] != conf.NO_CAPTION and want[-1]["caption"] == conf.NO_CAPTION
    assert exported.predict(confidence_images[:1]) == [want[0]["guess"]]
    assert exported.predict([], with_confidence=True) == []


def test_captioning_without_calibration_says_how_to_get_one(presets, exports, tmp_path):
    import shutil

    model = presets["captioning"]
    assets = {k: v for k, v in model.assets.items() if k != "calibration"}
    client = CaptioningClient(lambda *_: pytest.fail("nothing to run"), assets, model.config)
    missing = r"no calibration \(assets/calibration.json.*zoo calibrate NAME --write"
    with pytest.raises(ValueError, match=missing):
        client.predict([probes.red_heart()], with_confidence=True)
    with pytest.raises(ValueError, match=missing):
        client.describe([probes.red_heart()])
    assert client.predict([], with_confidence=True) == [] and client.no_caption_below is None
    calibrated = CaptioningClient(
        lambda *_: pytest.fail("nothing to run"), model.assets, model.config
    )
    with pytest.raises(ValueError, match=r"'beam_size'.*eval_beam_size.*got 1"):
        calibrated.predict([probes.red_heart()], beam_size=1, with_confidence=True)
    with pytest.raises(ValueError, match=r"no 'confidence'.*zoo calibrate"):
        captions_from_serving({"captions": np.array([b"a cat"])}, with_confidence=True)
    # An export without assets/calibration.json answers captions only.
    plain = tmp_path / "uncalibrated"
    shutil.copytree(exports("captioning", "tflite"), plain)
    (plain / "assets" / "calibration.json").unlink()
    exported = zoo.load_exported(plain)
    assert not exported.calibrated
    with pytest.raises(ValueError, match=missing):
        exported.predict([probes.red_heart()], with_confidence=True)


def test_with_confidence_is_refused_for_other_tasks(exports):
    exported = zoo.load_exported(exports("translation", "onnx"))
    assert not exported.calibrated
    with pytest.raises(
        ValueError,
        match=r"'with_confidence'.*translation export \(only captioning exports.*got True",
    ):
        exported.predict(["Hola."], with_confidence=True)
    with pytest.raises(ValueError, match=r"'with_confidence'.*True or False, got 'yes'"):
        exported.predict(["Hola."], with_confidence="yes")


def test_cli_predict_on_a_calibrated_captioning_export_prints_the_confidence(
    exports, confidence_images, preset_confidence, tmp_path, capsys
):
    from zoo import cli

    good, noise = tmp_path / "good.png", tmp_path / "noise.png"
    good.write_bytes(confidence_images[0])
    noise.write_bytes(tf.io.encode_png(confidence_images[-1]).numpy())
    assert cli.main(["predict", str(exports("captioning", "onnx")), str(good), str(noise)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{good}  ->  {preset_confidence[0]['caption']}  (confidence 0.")
    assert lines[1].startswith(f"{noise}  ->  {conf.NO_CAPTION}  (confidence 0.0"), lines
