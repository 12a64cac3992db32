"""Our layers convert to TFLite (LiteRT) builtins and run in its interpreter with
the same outputs as the Keras model: the loop's TensorLists carry static element
shapes when the batch size is static, so the converter can lower them."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from zoo.layers import GRU, LSTM, Bidirectional, SimpleRNN

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def _convert(model):
    fn = tf.function(
        lambda ids: model(ids, training=False),
        input_signature=[tf.TensorSpec([1, None], tf.int32)],
    )
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    flatbuffer = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    return tf.lite.Interpreter(model_content=flatbuffer)


def _run(interpreter, ids):
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, ids.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, ids)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("cell", sorted(LAYERS))
@pytest.mark.parametrize("variant", ["masked_sequences", "bidirectional", "go_backwards"])
def test_layer_converts_to_tflite_and_matches_keras(cell, variant):
    keras.utils.set_random_seed(0)
    layer = LAYERS[cell]
    ids_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=variant == "masked_sequences")(ids_in)
    if variant == "masked_sequences":
        x = layer(6, return_sequences=True)(x)
    elif variant == "bidirectional":
        x = Bidirectional(layer(6, return_sequences=True))(x)
    else:
        x = layer(6, go_backwards=True)(x)
    model = keras.Model(ids_in, x)
    interpreter = _convert(model)
    for ids in (np.array([[3, 4, 5, 0, 0]], np.int32), np.array([[7, 1, 9, 2, 5, 6, 8]], np.int32)):
        expected = model(ids, training=False).numpy()
        np.testing.assert_allclose(_run(interpreter, ids), expected, atol=1e-5)
