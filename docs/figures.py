"""Draw the README's picture: held-out test emoji with the captions `caption_lstm_emoji`
writes for them (and the true names). Run from the repository root:

    python docs/figures.py        # writes docs/images/captions.png
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

import zoo  # noqa: E402
from zoo.data import captioning  # noqa: E402

OUT = Path(__file__).resolve().parent / "images" / "captions.png"


def main(n: int = 6) -> Path:
    model = zoo.load("caption_lstm_emoji")
    examples = captioning.load_raw("test").take(n).as_numpy_iterator()
    images, truths = zip(*[(bytes(ex["image"]), ex["caption"].decode()) for ex in examples])
    captions = model.predict(list(images))
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 3.0))
    for ax, image, caption, truth in zip(axes, images, captions, truths):
        ax.imshow(Image.open(io.BytesIO(image)).convert("RGBA"))
        ax.set_axis_off()
        title = "\n".join(textwrap.wrap(caption, 22) + textwrap.wrap(f"(true: {truth})", 22))
        ax.set_title(title, fontsize=8)
    fig.suptitle("caption_lstm_emoji on held-out test emoji (beam 5)", fontsize=10)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=80)
    return OUT


if __name__ == "__main__":
    print(main())
