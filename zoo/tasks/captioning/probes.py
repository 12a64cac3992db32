"""Pictures far from the emoji artwork, to measure "no confident caption": random noise
and simple drawings (a red heart, a house, a sun, a stick figure ...) drawn with Pillow
the way a person draws with a mouse: thick strokes on white, no shading.

Every function returns float32 ``[N, S, S, 3]`` in [0, 1] (the model's input) and is
deterministic for a seed.
"""

from __future__ import annotations

import numpy as np


def noise_images(n: int, image_size: int, seed: int = 0) -> np.ndarray:
    """Uniform random pixels, float32 ``[n, S, S, 3]``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, (n, image_size, image_size, 3)).astype(np.float32)


def _heart(draw, c, r, color, filled):
    x, y = c
    lobes = [(x - r, y - r // 2, x, y + r // 3), (x, y - r // 2, x + r, y + r // 3)]
    tip = [(x - r + 2, y), (x + r - 2, y), (x, y + r)]
    if filled:
        for box in lobes:
            draw.ellipse(box, fill=color)
        draw.polygon(tip, fill=color)
    else:
        for box in lobes:
            draw.arc(box, 150, 360 + 30, fill=color, width=5)
        draw.line([tip[0], tip[2], tip[1]], fill=color, width=5)


def _house(draw, c, r, color, _):
    x, y = c
    draw.rectangle((x - r, y - r // 3, x + r, y + r), outline=color, width=5)
    draw.line([(x - r - 6, y - r // 3), (x, y - r), (x + r + 6, y - r // 3)], fill=color, width=5)
    draw.rectangle((x - r // 4, y + r // 3, x + r // 4, y + r), outline=color, width=4)


def _sun(draw, c, r, color, filled):
    x, y = c
    draw.ellipse(
        (x - r // 2, y - r // 2, x + r // 2, y + r // 2),
        fill=color if filled else None,
        outline=color,
        width=5,
    )
    for a in np.linspace(0, 2 * np.pi, 9)[:-1]:
        draw.line(
            [
                (x + 0.7 * r * np.cos(a), y + 0.7 * r * np.sin(a)),
                (x + r * np.cos(a), y + r * np.sin(a)),
            ],
            fill=color,
            width=4,
        )


def _stick_figure(draw, c, r, color, _):
    x, y = c
    draw.ellipse((x - r // 4, y - r, x + r // 4, y - r // 2), outline=color, width=4)
    draw.line([(x, y - r // 2), (x, y + r // 3)], fill=color, width=4)
    draw.line([(x - r // 2, y - r // 4), (x + r // 2, y - r // 4)], fill=color, width=4)
    draw.line([(x - r // 2, y + r), (x, y + r // 3), (x + r // 2, y + r)], fill=color, width=4)


def _scribble(draw, c, r, color, _, rng=None):
    rng = rng or np.random.default_rng(0)
    points = [tuple(p) for p in (np.asarray(c) + rng.uniform(-r, r, (8, 2)))]
    draw.line(points, fill=color, width=5, joint="curve")


SHAPES = {
    "heart": _heart,
    "house": _house,
    "sun": _sun,
    "stick_figure": _stick_figure,
    "scribble": _scribble,
}
COLORS = [(220, 20, 30), (20, 20, 20), (30, 90, 220), (240, 180, 0), (20, 150, 60)]


def drawing(
    shape: str = "heart",
    *,
    color=(220, 20, 30),
    filled: bool = True,
    size: int = 128,
    center=(64, 64),
    radius: int = 40,
    seed: int = 0,
):
    """One drawing as a PIL RGB image (white background)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if shape == "scribble":
        _scribble(draw, center, radius, color, filled, rng=np.random.default_rng(seed))
    else:
        SHAPES[shape](draw, center, radius, color, filled)
    return image


def red_heart():
    """A hand-drawn red heart, as a PIL image (the issue's example)."""
    return drawing("heart", color=(220, 20, 30), filled=True)


def drawn_images(per_shape: int, image_size: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """`per_shape` drawings of each of `SHAPES` (random colour, size, place, fill) ->
    float32 ``[N, S, S, 3]`` and the shape names."""
    from zoo.tasks.captioning.runtime import to_batch

    rng = np.random.default_rng(seed)
    pictures, names = [], []
    for shape in SHAPES:
        for i in range(per_shape):
            radius = int(rng.integers(28, 50))
            center = tuple(int(v) for v in rng.integers(64 - 56 + radius, 64 + 57 - radius, 2))
            color = COLORS[int(rng.integers(len(COLORS)))]
            pictures.append(
                np.asarray(
                    drawing(
                        shape,
                        color=color,
                        filled=bool(rng.integers(2)),
                        center=center,
                        radius=radius,
                        seed=seed * 1000 + i,
                    )
                )
            )
            names.append(shape)
    return to_batch(pictures, image_size).numpy(), names
