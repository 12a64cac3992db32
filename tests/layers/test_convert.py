"""`zoo.layers.convert` / `from_keras` / `load_weights`: Keras models, files and Keras 2
(tf-keras) weight layouts, cuDNN ones included, onto our layers with equal outputs.

The Keras side is built in each test; the Keras 2 ``.h5`` files are written here with
h5py in tf-keras's layout (``layer_names`` / ``weight_names`` attributes, one group per
layer), their cuDNN weights made from Keras 3 weights by tf-keras's own to-cuDNN
transform (``_convert_rnn_weights`` with ``from_cudnn=False``), so the reference is the
Keras 3 model with the original weights.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
from layer_helpers import assert_same_outputs, randomize_weights

import zoo.layers as zl

VOCAB, FEATURES, UNITS = 12, 3, 4


def ids(seed=0):
    x = np.random.default_rng(seed).integers(1, VOCAB, size=(3, 6))
    x[1, 4:] = 0
    x[2, 2:] = 0
    return x


def functional_model(seed=1):
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, FEATURES, mask_zero=True)(inputs)
    h = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))(h)
    h = keras.layers.GRU(UNITS, return_sequences=True)(h)
    h = keras.layers.SimpleRNN(UNITS, go_backwards=True)(h)
    outputs = keras.layers.Dense(2)(h)
    model = keras.Model(inputs, outputs)
    randomize_weights(model, seed=seed)
    return model


def sequential_model(seed=1):
    model = keras.Sequential(
        [
            keras.Input((6, FEATURES)),
            keras.layers.GRU(UNITS, reset_after=False, return_sequences=True),
            keras.layers.Bidirectional(keras.layers.SimpleRNN(UNITS), merge_mode="sum"),
        ]
    )
    randomize_weights(model, seed=seed)
    return model


def recurrent_types(model):
    return [type(layer) for layer in model.layers if "rnn" in type(layer).__module__]


def test_functional_model_converts_with_equal_outputs():
    model = functional_model()
    converted = zl.convert(model)
    kinds = [type(layer) for layer in converted.layers[2:5]]
    assert kinds == [zl.Bidirectional, zl.GRU, zl.SimpleRNN]
    names = [layer.name for layer in converted.layers[1:]]
    assert names == [layer.name for layer in model.layers[1:]]
    assert_same_outputs(converted(ids()), model(ids()))
    # the original is untouched
    assert type(model.layers[3]) is keras.layers.GRU


def test_sequential_model_converts_with_equal_outputs():
    model = sequential_model()
    converted = zl.convert(model)
    assert isinstance(converted.layers[0], zl.GRU)
    assert isinstance(converted.layers[1], zl.Bidirectional)
    x = np.random.default_rng(1).normal(size=(2, 6, FEATURES)).astype("float32")
    assert_same_outputs(converted(x), model(x))


def test_keras_file_converts(tmp_path):
    model = functional_model()
    model.save(tmp_path / "model.keras")
    converted = zl.convert(tmp_path / "model.keras")
    assert isinstance(converted.layers[3], zl.GRU)
    assert_same_outputs(converted(ids()), model(ids()))


def test_keras3_weights_file_loads_into_the_converted_model(tmp_path):
    model = functional_model()
    model.save_weights(tmp_path / "model.weights.h5")
    fresh = functional_model(seed=2)  # other weights
    converted = zl.convert(fresh, weights=tmp_path / "model.weights.h5")
    assert_same_outputs(converted(ids()), model(ids()))
    assert not np.allclose(np.asarray(fresh(ids())), np.asarray(model(ids())))


# -- Keras 2 (tf-keras) .h5 files -----------------------------------------------------


def to_cudnn(kind, weights, rng):
    """tf-keras's LSTM/GRU -> CuDNNLSTM/CuDNNGRU weight transform (from_cudnn=False)."""
    kernel, recurrent, bias = weights
    gates = recurrent.shape[1] // recurrent.shape[0]
    kernel = np.hstack([k.T.reshape(k.shape, order="C") for k in np.hsplit(kernel, gates)])
    recurrent = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    if kind == "lstm":
        # any split of the bias into input and recurrent parts with the same sum
        part = rng.normal(size=bias.shape)
        bias = np.concatenate([bias - part, part])
    else:
        bias = bias.reshape(-1)
    return [kernel, recurrent, bias]


def write_keras2_h5(path, layers, whole_model=False):
    """A tf-keras weight file: `layers` is a list of (layer name, [(weight name,
    value)]); ``whole_model`` nests it under ``model_weights`` as `model.save` did."""
    with h5py.File(path, "w") as file:
        group = file.create_group("model_weights") if whole_model else file
        group.attrs["layer_names"] = [name.encode() for name, _ in layers]
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.15.0"
        for name, weights in layers:
            layer_group = group.create_group(name)
            layer_group.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for weight_name, value in weights:
                layer_group.create_dataset(weight_name, data=value)


def named(prefix, values, names=("kernel", "recurrent_kernel", "bias")):
    return [(f"{prefix}/{n}:0", v) for n, v in zip(names, values, strict=True)]


@pytest.mark.parametrize("whole_model", [False, True])
def test_keras2_cudnn_weights_load_with_equal_outputs(tmp_path, whole_model):
    rng = np.random.default_rng(7)
    model = functional_model()
    emb, bi, gru, rnn, dense = (model.layers[i] for i in range(1, 6))
    bi_w = bi.get_weights()
    layers = [
        ("embedding", [("embedding/embeddings:0", emb.get_weights()[0])]),
        (
            "bidirectional",
            named("bidirectional/forward_cu_dnnlstm/", to_cudnn("lstm", bi_w[:3], rng))
            + named("bidirectional/backward_cu_dnnlstm/", to_cudnn("lstm", bi_w[3:], rng)),
        ),
        ("cu_dnngru", named("cu_dnngru", to_cudnn("gru", gru.get_weights(), rng))),
        ("simple_rnn", named("simple_rnn/simple_rnn_cell", rnn.get_weights())),
        ("dense", named("dense", dense.get_weights(), ("kernel", "bias"))),
    ]
    assert layers[2][1][2][1].shape == (6 * UNITS,)  # CuDNNGRU's flat bias
    path = tmp_path / "keras2.h5"
    write_keras2_h5(path, layers, whole_model=whole_model)
    converted = zl.convert(functional_model(seed=2), weights=path)
    assert_same_outputs(converted(ids()), model(ids()))


def test_keras2_plain_layout_loads_unchanged(tmp_path):
    model = sequential_model()
    gru, bi = model.layers
    path = tmp_path / "plain.h5"
    write_keras2_h5(
        path,
        [
            ("gru", named("gru/gru_cell", gru.get_weights())),
            ("bidirectional", [(f"w{i}:0", w) for i, w in enumerate(bi.get_weights())]),
        ],
    )
    converted = zl.convert(sequential_model(seed=2), weights=path)
    x = np.random.default_rng(2).normal(size=(2, 6, FEATURES)).astype("float32")
    assert_same_outputs(converted(x), model(x))


def test_keras2_cudnn_gru_weights_need_reset_after(tmp_path):
    model = sequential_model()  # its GRU has reset_after=False
    weights = keras.layers.GRU(UNITS)
    weights.build((None, None, FEATURES))
    path = tmp_path / "cudnn.h5"
    cudnn = to_cudnn("gru", weights.get_weights(), None)
    bi = model.layers[1].get_weights()
    write_keras2_h5(
        path,
        [("cu_dnngru", named("g", cudnn)), ("b", [(f"w{i}:0", w) for i, w in enumerate(bi)])],
    )
    with pytest.raises(ValueError, match="reset_after=True"):
        zl.convert(model, weights=path)


def test_keras2_layer_count_mismatch_is_explained(tmp_path):
    path = tmp_path / "short.h5"
    write_keras2_h5(path, [("dense", named("dense", [np.zeros((1, 1)), np.zeros(1)], ("k", "b")))])
    with pytest.raises(ValueError, match=r"1 layers with weights \(dense\).*has 2"):
        zl.convert(sequential_model(), weights=path)


# -- single layers and errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        keras.layers.LSTM(UNITS, return_state=True, go_backwards=True, use_cudnn=False),
        keras.layers.GRU(UNITS, reset_after=False, unroll=True),
        keras.layers.SimpleRNN(UNITS, activation="relu", return_sequences=True),
        keras.layers.Bidirectional(keras.layers.GRU(UNITS), merge_mode="mul"),
    ],
    ids=["lstm", "gru", "simple_rnn", "bidirectional"],
)
def test_from_keras_copies_config_and_weights(layer):
    x = np.random.default_rng(3).normal(size=(2, 6, FEATURES)).astype("float32")
    layer(x)
    randomize_weights(layer)
    ours = zl.from_keras(layer)
    assert type(ours).__name__ == type(layer).__name__
    assert ours.name == layer.name
    assert getattr(ours, "use_cudnn", None) == getattr(layer, "use_cudnn", None)
    assert_same_outputs(ours(x), layer(x))


def test_from_keras_unbuilt_layer_stays_unbuilt():
    ours = zl.from_keras(keras.layers.LSTM(UNITS, dropout=0.5))
    assert isinstance(ours, zl.LSTM) and not ours.built and ours.dropout == 0.5


@pytest.mark.parametrize(
    "layer", [keras.layers.Dense(2), keras.layers.RNN(keras.layers.GRUCell(2))]
)
def test_from_keras_rejects_other_layers(layer):
    with pytest.raises(ValueError, match=rf"'layer'.*{type(layer).__name__}"):
        zl.from_keras(layer)


def test_convert_rejects_subclassed_models():
    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn = keras.layers.LSTM(2)

        def call(self, x):
            return self.rnn(x)

    with pytest.raises(ValueError, match=r"'model'.*subclassed"):
        zl.convert(Model())


def test_from_keras_keeps_a_stateful_layers_carried_state():
    x = np.random.default_rng(4).normal(size=(2, 6, FEATURES)).astype("float32")
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, stateful=True))
    theirs.build((2, None, FEATURES))
    randomize_weights(theirs)
    theirs(x)  # the carried state is no longer zero
    ours = zl.from_keras(theirs)
    assert_same_outputs(ours(x), theirs(x))


def test_nested_sequential_converts():
    inner = keras.Sequential(
        [keras.Input((None, FEATURES)), keras.layers.GRU(UNITS, return_sequences=True)]
    )
    inputs = keras.Input((None, FEATURES))
    model = keras.Model(inputs, keras.layers.LSTM(2)(inner(inputs)))
    randomize_weights(model)
    converted = zl.convert(model)
    assert isinstance(converted.layers[1].layers[0], zl.GRU)
    x = np.random.default_rng(5).normal(size=(2, 6, FEATURES)).astype("float32")
    assert_same_outputs(converted(x), model(x))
