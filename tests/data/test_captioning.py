"""Emoji captioning set (real artwork from the pinned .debs), its pipeline, and the
Flickr8k loader on a generated fixture in Flickr8k's exact layout."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import emoji
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from zoo.data import captioning as cd
from zoo.data import captioning_sources as cs
from zoo.data import flickr8k as f8
from zoo.data.sources import Artifact, ChecksumError


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode=mode).save(out, format="PNG")
    return out.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", quality=95)
    return out.getvalue()


# -- the real data -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows():
    """(caption, emoji, source, aliases) of every example, per split."""
    out = {}
    for split in cd.SPLITS:
        ds = cd.load_raw(split).map(lambda ex: (ex["caption"], ex["emoji"], ex["source"]))
        out[split] = [
            (c.decode(), e.decode(), cd.SOURCES[int(s)]) for c, e, s in ds.as_numpy_iterator()
        ]
    return out


@pytest.fixture(scope="module")
def gem_dir():
    return cd.unpack_deb(cd.GEMOJIONE_DEB) / cs.GEMOJIONE_DIR


def test_images_per_source_match_the_artwork_in_the_packages(rows, gem_dir):
    per_source = Counter(s for split in rows.values() for _, _, s in split)
    # EmojiOne: every index.json entry with a PNG whose code points (ignoring FE0F/ZWJ)
    # name a fully-qualified emoji; counted here independently of the loader.
    fq = {
        e.replace("\ufe0f", "").replace("\u200d", "")
        for e, v in emoji.EMOJI_DATA.items()
        if v["status"] == emoji.STATUS["fully_qualified"]
    }
    index = json.loads((gem_dir / "config" / "index.json").read_text())
    expected_emojione = sum(
        1
        for v in index.values()
        if (gem_dir / "assets" / "png" / f"{v['unicode'].upper()}.png").is_file()
        and "".join(chr(int(c, 16)) for c in v["unicode"].split("-")) in fq
    )
    assert per_source["emojione"] == expected_emojione
    assert 1700 < expected_emojione < 1800  # EmojiOne 2 has ~1,800 images
    # Noto 2.042 covers Unicode 15.1: more than 3,700 fully-qualified emoji, not 16+.
    assert 3700 < per_source["noto"] <= len(fq)
    versions = {
        emoji.EMOJI_DATA[e]["E"] for split in rows.values() for _, e, s in split if s == "noto"
    }
    assert max(versions) <= 15.1 or sum(v > 15.1 for v in versions) <= 2
    # One picture per (emoji, source).
    keys = [(e, s) for split in rows.values() for _, e, s in split]
    assert len(keys) == len(set(keys))


def test_splits_are_disjoint_by_emoji_and_near_80_10_10(rows):
    emojis = {split: {e for _, e, _ in r} for split, r in rows.items()}
    assert not emojis["train"] & emojis["test"]
    assert not emojis["train"] & emojis["validation"]
    assert not emojis["validation"] & emojis["test"]
    total = sum(len(v) for v in emojis.values())
    for split, frac in cd.SPLIT_FRACTIONS.items():
        assert abs(len(emojis[split]) / total - frac) < 0.02, split


def test_captions_are_the_emoji_package_names(rows):
    for split in rows.values():
        for caption, e, _ in split:
            name = emoji.EMOJI_DATA[e]["en"]
            assert caption == re.sub("_", " ", name[1:-1])
            assert emoji.EMOJI_DATA[e]["status"] == emoji.STATUS["fully_qualified"]
    assert ("police officer", "\U0001f46e") in {
        (c, e) for c, e, _ in rows["train"] + rows["validation"] + rows["test"]
    }


def test_rendered_noto_emoji_are_not_blank():
    font = cd.unpack_deb(cd.NOTO_DEB) / cs.NOTO_TTF
    image = np.asarray(Image.open(io.BytesIO(cs.render_noto(font, "\U0001f600"))))
    assert image.shape == (128, 136, 4)
    assert (image[..., 3] > 0).mean() > 0.3
    # the grinning face is mostly yellow where opaque
    opaque = image[image[..., 3] > 200][:, :3].astype(int)
    assert (opaque[:, 0] > 150).mean() > 0.5 and (opaque[:, 2] < 120).mean() > 0.5


def test_python_deb_extraction_matches_dpkg_deb(tmp_path):
    from zoo.data.sources import fetch

    deb = fetch(cd.GEMOJIONE_DEB)
    a, b = tmp_path / "a", tmp_path / "b"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(a)], check=True)
    cs._extract_deb_in_python(deb, b)
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 1000


def test_a_corrupted_mirror_deb_is_rejected_with_both_hashes(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path))
    (tmp_path / cd.NOTO_DEB.filename).write_bytes(b"not the font package")
    with pytest.raises(ChecksumError) as err:
        cd.unpack_deb(cd.NOTO_DEB)
    actual = hashlib.sha256(b"not the font package").hexdigest()
    assert cd.NOTO_DEB.sha256 in str(err.value) and actual in str(err.value)


def test_split_of_is_deterministic_and_seeded():
    sample = sorted(emoji.EMOJI_DATA)[:2000]
    assert [cd.split_of(e) for e in sample] == [cd.split_of(e) for e in sample]
    assert [cd.split_of(e, seed=1) for e in sample] != [cd.split_of(e) for e in sample]


# -- images --------------------------------------------------------------------------------
def test_rgba_is_composited_on_white_and_gray_becomes_rgb():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:5, :, :] = [255, 0, 0, 255]  # top half opaque red, bottom half transparent
    out = cd.preprocess_image(_png(rgba), 10).numpy()
    np.testing.assert_allclose(out[0, 0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(out[9, 9], [1, 1, 1], atol=1e-6)
    gray = np.full((8, 8), 64, np.uint8)
    out = cd.preprocess_image(_png(gray), 8).numpy()
    np.testing.assert_allclose(out, 64 / 255, atol=1e-6)


def test_non_square_images_are_padded_with_white_and_resized():
    wide = np.zeros((10, 40, 3), np.uint8)  # black, 4x wider than tall
    out = cd.preprocess_image(_png(wide), 20).numpy()
    assert out.shape == (20, 20, 3)
    assert out[0].min() == pytest.approx(1.0) and out[-1].min() == pytest.approx(1.0)
    assert out[10].max() == pytest.approx(0.0)


def test_jpeg_and_array_inputs_agree_with_png():
    yy, xx = np.mgrid[0:30, 0:30]
    arr = np.stack([yy * 8, xx * 8, 255 - yy * 4], -1).astype(np.uint8)  # smooth: JPEG-friendly
    from_png = cd.preprocess_image(_png(arr), 16).numpy()
    from_array = cd.preprocess_array(arr, 16).numpy()
    np.testing.assert_allclose(from_png, from_array, atol=1e-6)
    from_jpeg = cd.preprocess_image(_jpeg(arr), 16).numpy()
    assert np.abs(from_jpeg - from_png).mean() < 0.02


def test_undecodable_bytes_raise_invalid_argument_with_a_message():
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG, JPEG, GIF or BMP"):
        cd.preprocess_image(tf.constant(b"hello, I am not an image"))
    truncated = _png(np.zeros((20, 20, 3), np.uint8))[:30]
    with pytest.raises(tf.errors.InvalidArgumentError):
        cd.preprocess_image(tf.constant(truncated))


# -- captions and the pipeline -------------------------------------------------------------
def test_tokenize_splits_punctuation_but_keeps_hyphens():
    assert cd.tokenize("A button (blood type)") == ["a", "button", "(", "blood", "type", ")"]
    assert cd.tokenize("woman medium-dark skin tone") == ["woman", "medium-dark", "skin", "tone"]
    assert cd.detokenize(cd.tokenize("A button (blood type)")) == "a button (blood type)"


def test_vocabulary_is_fit_on_train_captions_only(rows):
    vocab = cd.fit_vocabulary(c for c, _, _ in rows["train"])
    assert vocab[:4] == list(cd.SPECIAL_TOKENS)
    train_words = {w for c, _, _ in rows["train"] for w in cd.tokenize(c)}
    test_words = {w for c, _, _ in rows["test"] for w in cd.tokenize(c)}
    assert set(vocab[4:]) == train_words
    assert test_words - train_words  # unseen concepts bring unseen words
    assert not (test_words - train_words) & set(vocab)


def test_pipeline_batches_start_and_end_tokens_and_weights():
    captions = ["red square", "blue circle with dot", "green"]
    images = [_png(np.full((12, 12, 3), v, np.uint8)) for v in (0, 100, 200)]
    raw = tf.data.Dataset.from_tensor_slices({"image": images, "caption": captions})
    vocab = cd.fit_vocabulary(captions)
    ds = cd.make_pipeline(raw, vocab, batch_size=3, image_size=8)
    (img, cin), cout, w = next(iter(ds))
    assert img.shape == (3, 8, 8, 3) and img.dtype == tf.float32
    assert cin.shape == cout.shape == w.shape == (3, 5)
    assert (cin[:, 0].numpy() == cd.START_ID).all()
    lengths = [len(c.split()) for c in captions]
    for i, n in enumerate(lengths):
        words = [vocab[j] for j in cout[i, :n].numpy()]
        assert words == captions[i].split()
        assert cout[i, n] == cd.END_ID
        np.testing.assert_array_equal(w[i].numpy(), [1.0] * (n + 1) + [0.0] * (4 - n))
        np.testing.assert_array_equal(cin[i, 1 : n + 1].numpy(), cout[i, :n].numpy())


def test_training_pipeline_shuffle_is_seeded_and_augmentation_changes_images():
    captions = [f"word{i}" for i in range(20)]
    images = [_png(np.full((12, 12, 3), 10 * i, np.uint8)) for i in range(20)]
    raw = tf.data.Dataset.from_tensor_slices({"image": images, "caption": captions})
    vocab = cd.fit_vocabulary(captions)

    def order(seed, augment=False):
        ds = cd.make_pipeline(
            raw, vocab, batch_size=20, image_size=8, shuffle=True, seed=seed, augment=augment
        )
        (img, cin), _, _ = next(iter(ds))
        return cin[:, 1].numpy().tolist(), img.numpy()

    assert order(0)[0] == order(0)[0]
    assert order(0)[0] != order(1)[0]
    plain = order(0)[1]
    augmented = order(0, augment=True)[1]
    assert not np.allclose(plain, augmented)


# -- Flickr8k on a generated fixture --------------------------------------------------------
def _flickr_fixture(tmp_path: Path, *, bad_token_line: bool = False) -> tuple[Path, list[str]]:
    ids = [f"{1000 + i}_abc{i}.jpg" for i in range(10)]
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(tmp_path / f8.DATASET_ZIP, "w") as zf:
        for i, image_id in enumerate(ids):
            arr = (rng.random((6 + i, 9, 3)) * 255).astype(np.uint8)
            zf.writestr(f"{f8.IMAGE_DIR}/{image_id}", _jpeg(arr))
            zf.writestr(f"__MACOSX/{f8.IMAGE_DIR}/._{image_id}", b"\x00\x05junk")
    lines = [
        f"{image_id}#{n}\tA caption {n} of image {i} ."
        for i, image_id in enumerate(ids)
        for n in range(5)
    ]
    if bad_token_line:
        lines.insert(7, "this line has no tab")
    with zipfile.ZipFile(tmp_path / f8.TEXT_ZIP, "w") as zf:
        zf.writestr(f8.TOKEN_FILE, "\n".join(lines) + "\n")
        zf.writestr(f8.SPLIT_FILES["train"], "\n".join(ids[:6]) + "\n")
        zf.writestr(f8.SPLIT_FILES["validation"], "\n".join(ids[6:8]) + "\n")
        zf.writestr(f8.SPLIT_FILES["test"], "\n".join(ids[8:]) + "\n")
        zf.writestr("Flickr8k.lemma.token.txt", "unused\n")
    return tmp_path, ids


def _artifacts(directory: Path):
    sha = {
        n: hashlib.sha256((directory / n).read_bytes()).hexdigest()
        for n in (f8.DATASET_ZIP, f8.TEXT_ZIP)
    }
    return f8.flickr8k_artifacts(sha[f8.DATASET_ZIP], sha[f8.TEXT_ZIP])


def test_flickr8k_builder_reads_the_canonical_layout(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    src, ids = _flickr_fixture(tmp_path / "mirror")
    monkeypatch.setenv("ZOO_MIRROR", str(src))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    builder = tfds.builder(
        "zoo_flickr8k", data_dir=str(tmp_path / "tfds"), artifacts=_artifacts(src)
    )
    builder.download_and_prepare()
    sizes = {s: builder.info.splits[s].num_examples for s in ("train", "validation", "test")}
    assert sizes == {"train": 6, "validation": 2, "test": 2}
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    by_id = {ex["image_id"].decode(): ex for ex in test}
    assert set(by_id) == set(ids[8:])
    for i in (8, 9):
        ex = by_id[ids[i]]
        assert [c.decode() for c in ex["captions"]] == [
            f"A caption {n} of image {i} ." for n in range(5)
        ]
        assert ex["image"].shape == (6 + i, 9, 3)


def test_flickr8k_wrong_hash_is_rejected(tmp_path, monkeypatch):
    src, _ = _flickr_fixture(tmp_path)
    monkeypatch.setenv("ZOO_MIRROR", str(src))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    good = _artifacts(src)
    bad = (Artifact(good[0].filename, "0" * 64), good[1])
    builder = tfds.builder("zoo_flickr8k", data_dir=str(tmp_path / "tfds"), artifacts=bad)
    with pytest.raises(ChecksumError, match="0" * 64):
        builder.download_and_prepare()


def test_flickr8k_malformed_token_line_names_file_and_line(tmp_path):
    src, _ = _flickr_fixture(tmp_path, bad_token_line=True)
    with pytest.raises(ValueError, match=r"Flickr8k\.token\.txt:8: malformed caption line"):
        f8.read_captions(src / f8.TEXT_ZIP)


def test_flickr8k_without_pinned_hashes_says_what_to_set(monkeypatch):
    monkeypatch.delenv("ZOO_FLICKR8K_DATASET_SHA256", raising=False)
    monkeypatch.delenv("ZOO_FLICKR8K_TEXT_SHA256", raising=False)
    with pytest.raises(ValueError, match="ZOO_FLICKR8K_DATASET_SHA256"):
        f8.flickr8k_artifacts()
    with pytest.raises(ValueError, match="64 hex digits"):
        f8.flickr8k_artifacts("abc", "0" * 64)


def test_flickr8k_rows_feed_the_captioning_pipeline_five_per_image(tmp_path, monkeypatch):
    src, ids = _flickr_fixture(tmp_path)
    dataset_art, text_art = _artifacts(src)
    monkeypatch.setenv("ZOO_MIRROR", str(src))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_FLICKR8K_DATASET_SHA256", dataset_art.sha256)
    monkeypatch.setenv("ZOO_FLICKR8K_TEXT_SHA256", text_art.sha256)
    raw = cd.load_raw("train", dataset="zoo_flickr8k", data_dir_=tmp_path / "tfds")
    rows = [(ex["emoji"].decode(), ex["caption"].decode()) for ex in raw.as_numpy_iterator()]
    assert Counter(i for i, _ in rows) == {i: 5 for i in ids[:6]}
    vocab = cd.fit_vocabulary(c for _, c in rows)
    (img, cin), cout, _ = next(iter(cd.make_pipeline(raw, vocab, batch_size=30, image_size=16)))
    assert img.shape == (30, 16, 16, 3) and cin.shape[0] == cout.shape[0] == 30
