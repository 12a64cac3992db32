"""Images -> the captioning model's input (shared by training, `predict` and serving).

Decode PNG/JPEG/GIF/BMP bytes -> composite an alpha channel on white (grayscale ->
RGB) -> pad to a square with white -> area-resize to ``image_size`` -> float32 RGB in
[0, 1]. Pure TensorFlow, so the exported serving signature runs the same code.
"""

from __future__ import annotations

import tensorflow as tf

DEFAULT_IMAGE_SIZE = 64


def preprocess_image(encoded: tf.Tensor, image_size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """Encoded image bytes -> the model's input.

    Args:
        encoded: scalar tf.string, PNG/JPEG/GIF (first frame)/BMP bytes; any size,
            1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels.
        image_size: side of the square output.

    Returns:
        float32 ``[image_size, image_size, 3]`` in [0, 1]: alpha composited on white,
        padded to a square with white, area-resized.

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not an image (message says so).
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    magic = tf.strings.substr(encoded, 0, 4)
    known = tf.reduce_any(
        [
            tf.strings.substr(encoded, 0, 8) == b"\x89PNG\r\n\x1a\n",
            tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff",
            magic == b"GIF8",
            tf.strings.substr(encoded, 0, 2) == b"BM",
        ]
    )
    with tf.control_dependencies(
        [
            tf.debugging.Assert(
                known,
                [
                    "captioning: the input bytes are not a PNG, JPEG, GIF or BMP image; "
                    "first bytes:",
                    tf.strings.substr(encoded, 0, 8),
                ],
            )
        ]
    ):
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
    return _to_model_input(image, image_size)


def preprocess_array(image: tf.Tensor, image_size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """A decoded image ``[H, W]`` or ``[H, W, C]`` (C in 1..4; uint8 0..255 or float 0..1)
    -> float32 ``[image_size, image_size, 3]`` in [0, 1], like `preprocess_image`."""
    return _to_model_input(to_uint8(image), image_size)


def to_uint8(image) -> tf.Tensor:
    """A decoded image ``[H, W]`` or ``[H, W, C]`` (uint8 0..255 or float 0..1) -> uint8
    ``[H, W, C]`` (float values clipped to [0, 1] and rounded)."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank not in (2, 3) or (image.shape.rank == 3 and image.shape[-1] > 4):
        raise ValueError(
            f"Received an invalid image array of shape {tuple(image.shape)}; expected "
            "[H, W] or [H, W, C] with C in 1..4."
        )
    if image.shape.rank == 2:
        image = image[..., None]
    if image.dtype != tf.uint8:
        image = tf.cast(
            tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0) * 255.0 + 0.5, tf.uint8
        )
    return image


def _to_model_input(image: tf.Tensor, image_size: int) -> tf.Tensor:
    image = tf.cast(image, tf.float32) / 255.0
    channels = tf.shape(image)[-1]
    tf.debugging.assert_less_equal(channels, 4, message="captioning: an image has > 4 channels")
    # Gray -> RGB, and an alpha channel (if any) composited on white.
    color = tf.cond(
        channels <= 2, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3]
    )
    alpha = tf.cond(
        tf.equal(channels % 2, 0), lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1])
    )
    rgb = color * alpha + (1.0 - alpha)
    # Pad to a square with white (pad the complement with zeros), then resize.
    h, w = tf.shape(rgb)[0], tf.shape(rgb)[1]
    side = tf.maximum(h, w)
    inv = tf.image.pad_to_bounding_box(1.0 - rgb, (side - h) // 2, (side - w) // 2, side, side)
    square = 1.0 - inv
    out = tf.image.resize(square[None], [image_size, image_size], method="area")[0]
    out = tf.clip_by_value(out, 0.0, 1.0)
    out.set_shape([image_size, image_size, 3])
    return out
