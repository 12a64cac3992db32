"""The captioning task: architecture per cell, training signal, decoding, raw-input
predict, serving/export, the nearest-neighbour baseline, and the committed presets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from budget import default_or_slow
from PIL import Image

from zoo.data import captioning as cd
from zoo.tasks import get_task
from zoo.tasks.captioning import (
    CaptioningTask,
    beam_search,
    caption_metrics,
    greedy_decode,
    greedy_search,
    ids_to_strings,
    nearest_neighbour_captions,
)

SIZE = 16
CAPTIONS = [
    "red square",
    "blue circle",
    "green square with dot",
    "red circle",
    "blue square",
    "green circle",
]
TINY = {
    "units": 32,
    "embedding_dim": 16,
    "feature_dim": 32,
    "conv_filters": [8, 16],
    "dropout": 0.0,
    "max_length": 6,
    "eval_beam_size": 3,
}


def _shape_image(caption: str, size: int = SIZE) -> np.ndarray:
    color = {"red": (220, 20, 20), "blue": (20, 20, 220), "green": (20, 200, 20)}[
        caption.split()[0]
    ]
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    mask = (
        ((yy - c) ** 2 + (xx - c) ** 2 <= (size / 3) ** 2)
        if "circle" in caption
        else ((abs(yy - c) <= size / 3) & (abs(xx - c) <= size / 3))
    )
    img = np.full((size, size, 3), 255, np.uint8)
    img[mask] = color
    if "dot" in caption:
        img[int(c) - 1 : int(c) + 2, int(c) - 1 : int(c) + 2] = 0
    return img


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def vocab():
    return cd.fit_vocabulary(CAPTIONS)


@pytest.fixture(scope="module")
def batch(vocab):
    raw = tf.data.Dataset.from_tensor_slices(
        {"image": [_png(_shape_image(c)) for c in CAPTIONS], "caption": CAPTIONS}
    )
    return next(iter(cd.make_pipeline(raw, vocab, batch_size=len(CAPTIONS), image_size=SIZE)))


def _build(cell, vocab, **overrides):
    task = CaptioningTask()
    model = task.build_model(
        {"cell": cell, **TINY, **overrides}, {"vocabulary": vocab}, data_cfg={"image_size": SIZE}
    )
    return task, model


def _runtime(task, model, vocab, cell="lstm"):
    """The runtime of a model built by `_build` (decoding settings from TINY)."""
    config = {"model": {"cell": cell, **TINY}, "data": {"image_size": SIZE}}
    return task.runtime(model, {"vocabulary": vocab}, config)


@pytest.fixture(scope="module")
def trained(vocab, batch):
    """A tiny LSTM captioner overfit on the six shapes (about 10 s)."""
    keras.utils.set_random_seed(1)
    task, model = _build("lstm", vocab)
    task.compile_model(model, keras.optimizers.Adam(0.01), {})
    (x, y, w) = batch
    history = model.fit(x=x, y=y, sample_weight=w, epochs=120, verbose=0, batch_size=len(CAPTIONS))
    return task, model, history.history["loss"]


def test_task_is_registered_under_captioning():
    assert isinstance(get_task("captioning"), CaptioningTask)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("attention", [True, False])
def test_model_builds_for_every_cell_and_gives_logits_per_token(cell, attention, vocab, batch):
    _, model = _build(cell, vocab, attention=attention)
    (images, caption_in), _, _ = batch
    logits = model((images, caption_in))
    assert logits.shape == (*caption_in.shape, len(vocab))
    assert np.isfinite(logits.numpy()).all()
    ids, attn = greedy_decode(model, images, 5)
    assert ids.shape == (len(CAPTIONS), 5) and attn.shape[:2] == (len(CAPTIONS), 5)


def test_bidirectional_decoder_is_refused(vocab):
    with pytest.raises(ValueError, match="bidirectional"):
        _build("lstm", vocab, bidirectional=True)


def test_unknown_cell_and_keys_are_refused(vocab):
    with pytest.raises(ValueError, match="cell"):
        _build("transformer", vocab)
    with pytest.raises(ValueError, match="unitz"):
        _build("gru", vocab, unitz=3)


def test_model_overfits_a_tiny_batch_and_then_captions_it(trained, vocab):
    task, model, losses = trained
    assert losses[-1] < 0.1 * losses[0]
    images = [_shape_image(c) for c in CAPTIONS]
    runtime = _runtime(task, model, vocab)
    assert runtime.decode(images, beam_size=1) == CAPTIONS
    assert runtime.decode(images, beam_size=3) == CAPTIONS


def test_extra_padding_does_not_change_the_logits(trained, batch):
    _, model, _ = trained
    (images, caption_in), _, _ = batch
    padded = tf.pad(caption_in, [[0, 0], [0, 4]])
    a = model((images, caption_in)).numpy()
    b = model((images, padded)).numpy()[:, : caption_in.shape[1]]
    real = caption_in.numpy() != 0
    np.testing.assert_allclose(a[real], b[real], atol=1e-5)


def test_beam_of_one_equals_greedy(trained, vocab):
    _, model, _ = trained
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((5, SIZE, SIZE, 3)), tf.float32)  # off-distribution too
    images = tf.concat(
        [images, tf.constant(np.stack([_shape_image(c) for c in CAPTIONS]) / 255.0, tf.float32)], 0
    )
    greedy, greedy_scores = greedy_search(model, images, 6)
    beam1, beam1_scores = beam_search(model, images, 1, 6)
    np.testing.assert_array_equal(greedy.numpy(), beam1.numpy())
    np.testing.assert_allclose(greedy_scores.numpy(), beam1_scores.numpy(), rtol=1e-5)
    # the fixed-length loop that also returns attention picks the same tokens
    with_attention, _ = greedy_decode(model, images, 6)
    padded = np.pad(greedy.numpy(), [[0, 0], [0, 6 - greedy.shape[1]]])
    np.testing.assert_array_equal(with_attention.numpy(), padded)


def test_beam_search_score_is_the_log_probability_of_its_caption(trained):
    _, model, _ = trained
    images = tf.constant(np.stack([_shape_image(c) for c in CAPTIONS[:2]]) / 255.0, tf.float32)
    ids, scores = beam_search(model, images, 3, 6)
    for i in range(2):
        seq = ids[i].numpy().tolist()
        n = seq.index(cd.END_ID) + 1
        cin = tf.constant([[cd.START_ID, *seq[: n - 1]]])
        logp = tf.nn.log_softmax(model((images[i : i + 1], cin)))[0].numpy()
        assert scores[i].numpy() == pytest.approx(sum(logp[t, seq[t]] for t in range(n)), abs=1e-3)


def test_predict_takes_paths_bytes_arrays_of_any_size_gray_and_rgba(trained, vocab, tmp_path):
    task, model, _ = trained
    runtime = _runtime(task, model, vocab)
    base = _shape_image("blue circle", 64)  # 4x the training size
    path = tmp_path / "blue.png"
    Image.fromarray(base).save(path)
    rgba = np.concatenate([base, np.full((64, 64, 1), 255, np.uint8)], -1)
    rgba[:4, :, 3] = 0  # transparent rows over white: same picture
    jpeg = io.BytesIO()
    Image.fromarray(base).save(jpeg, format="JPEG", quality=95)
    out = runtime.predict(
        [str(path), path, _png(base), jpeg.getvalue(), base, rgba, Image.fromarray(base)],
    )
    assert out == ["blue circle"] * 7
    gray = np.asarray(Image.fromarray(base).convert("L"))
    for g in (gray, gray[..., None], _png(gray)):
        (caption,) = runtime.predict([g])
        assert isinstance(caption, str)
    wide = np.full((20, 70, 3), 255, np.uint8)
    assert isinstance(runtime.predict([wide])[0], str)
    assert runtime.predict([]) == []


def test_predict_rejects_bad_inputs_clearly(trained, vocab, tmp_path):
    task, model, _ = trained
    runtime = _runtime(task, model, vocab)
    with pytest.raises(ValueError, match="no such file"):
        runtime.predict([str(tmp_path / "missing.png")])
    with pytest.raises(TypeError, match="expected a file path, encoded bytes"):
        runtime.predict([12345])
    with pytest.raises(ValueError, match="shape"):
        runtime.predict([np.zeros((4, 4, 7), np.uint8)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG, JPEG, GIF or BMP"):
        runtime.predict([b"definitely not an image"])


def test_attention_maps_are_distributions_over_the_grid(trained, vocab):
    task, model, _ = trained
    captions, maps = _runtime(task, model, vocab).decode(
        [_shape_image(c) for c in CAPTIONS[:2]], return_attention=True
    )
    assert captions == CAPTIONS[:2]
    assert maps.shape == (2, 6, SIZE // 2, SIZE // 2)  # two conv stages: one 2x2 pool
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-5)


def test_ids_to_strings_cuts_at_end_token(vocab):
    w = {t: i for i, t in enumerate(vocab)}
    ids = tf.constant(
        [
            [w["red"], w["square"], cd.END_ID, w["blue"]],
            [w["green"], w["circle"], w["with"], w["dot"]],
        ]
    )
    assert [s.decode() for s in ids_to_strings(ids, vocab).numpy()] == [
        "red square",
        "green circle with dot",
    ]


def test_serving_default_decodes_bytes_in_graph_and_errors_on_garbage(trained, vocab):
    task, model, _ = trained
    fns = _runtime(task, model, vocab).serving_functions()
    images = tf.constant([_png(_shape_image(c)) for c in CAPTIONS])
    out = fns["serving_default"](images)["captions"].numpy()
    assert [s.decode() for s in out] == CAPTIONS
    beam = fns["beam_search"](images)["captions"].numpy()
    assert [s.decode() for s in beam] == CAPTIONS
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG, JPEG, GIF or BMP"):
        fns["serving_default"](tf.constant([b"garbage bytes"]))


def test_exported_savedmodel_runs_in_a_process_that_imports_only_tensorflow(
    trained, vocab, tmp_path
):
    task, model, _ = trained
    fns = _runtime(task, model, vocab).serving_functions()
    module = tf.Module()
    module.model = model
    # serving_default only: the beam signature is checked in-process (saves tracing time)
    sigs = {"serving_default": fns["serving_default"].get_concrete_function()}
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=sigs)
    (tmp_path / "imgs").mkdir()
    for i, c in enumerate(CAPTIONS):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(_png(_shape_image(c, 40)))
    (tmp_path / "imgs" / "bad.png").write_bytes(b"not an image at all")
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / "sm")!r})
        f = m.signatures["serving_default"]
        imgs = [open({str(tmp_path / "imgs")!r} + f"/{{i}}.png", "rb").read() for i in range({len(CAPTIONS)})]
        out = [s.decode() for s in f(images=tf.constant(imgs))["captions"].numpy()]
        try:
            f(images=tf.constant([open({str(tmp_path / "imgs" / "bad.png")!r}, "rb").read()]))
            err = None
        except tf.errors.InvalidArgumentError as e:
            err = e.message
        print(json.dumps({{"captions": out, "error": err,
                          "zoo_imported": "zoo" in sys.modules}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["captions"] == CAPTIONS
    assert "not a PNG, JPEG, GIF or BMP" in result["error"]
    assert not result["zoo_imported"]


def test_caption_metrics_against_hand_counts():
    m = caption_metrics(["police officer", "cat face"], ["police officer", "dog face"])
    assert m["exact_match"] == pytest.approx(50.0)
    # unigram precision 3/4 (police, officer, face), no brevity penalty
    assert m["bleu1"] == pytest.approx(75.0)
    assert caption_metrics(["A b"], ["a B"])["exact_match"] == 100.0


def test_nearest_neighbour_baseline_matches_brute_force():
    rng = np.random.default_rng(0)
    train = rng.random((50, 4, 4, 3)).astype(np.float32)
    queries = rng.random((7, 4, 4, 3)).astype(np.float32)
    captions = [f"c{i}" for i in range(50)]
    got = nearest_neighbour_captions(train, captions, queries, chunk=3)
    want = [captions[int(np.argmin(((train - q) ** 2).sum(axis=(1, 2, 3))))] for q in queries]
    assert got == want
    assert nearest_neighbour_captions(train, captions, train[[4, 9]]) == ["c4", "c9"]


def test_pipeline_batch_from_the_real_data_runs_through_the_model():
    task = CaptioningTask()
    data = task.load_data({"dataset": "zoo_emoji_captions"}, batch_size=8, smoke=True)
    (images, caption_in), caption_out, weights = next(iter(data.train))
    model = task.build_model({"cell": "gru", **TINY}, data.assets, data_cfg={})
    task.compile_model(model, keras.optimizers.Adam(1e-3), {})
    logits = model((images, caption_in))
    assert logits.shape == (*caption_out.shape, len(data.assets["vocabulary"]))
    assert images.shape[1:] == (64, 64, 3)
    assert float(weights.numpy().sum()) == float((caption_out.numpy() > 0).sum())


# -- committed presets ---------------------------------------------------------------------
PRESETS = ["caption_lstm_emoji", "caption_gru_emoji", "caption_rnn_emoji"]


def _published(name):
    from zoo import registry

    return registry.preset_dir(name) is not None


@pytest.mark.parametrize("name", default_or_slow(PRESETS))
def test_preset_reproduces_its_subset_metric_and_beats_the_baseline(name):
    if not _published(name):
        pytest.skip(f"{name} has no published preset")
    import zoo

    m = zoo.load(name)
    recorded = m.metadata["eval_subset"]
    got = m.evaluate(split="test", limit=recorded["limit"])
    assert got["bleu4"] == pytest.approx(recorded["metrics"]["bleu4"], abs=0.5)
    assert got["exact_match"] == pytest.approx(recorded["metrics"]["exact_match"], abs=1.0)
    if name == "caption_lstm_emoji":
        assert got["bleu4"] > got["nn_bleu4"] and got["exact_match"] > got["nn_exact_match"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_preset_full_test_split_metrics(name):
    if not _published(name):
        pytest.skip(f"{name} has no published preset")
    import zoo

    m = zoo.load(name)
    got = m.evaluate(split="test")
    recorded = m.metadata["metrics"]
    for key in ("bleu1", "bleu4", "exact_match"):
        assert got[key] == pytest.approx(recorded[key], abs=0.5)
