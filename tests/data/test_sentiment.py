"""Sentiment data: real VADER/MR counts, the fixed split, the pipeline, bad inputs, and the
URL-only datasets (MR polarity, IMDB) on generated fixtures in their canonical layouts."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo._io import sha256_file
from zoo.data import sentiment
from zoo.data.sources import ChecksumError, SourceUnavailableError, fetch

GROUND_TRUTH = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


def _raw_rows(member: str) -> list[tuple[str, float, str]]:
    """Independent reader: the ground-truth file with the csv module, straight from the sdist."""
    with tarfile.open(fetch(sentiment.VADER_ARTIFACT)) as outer:
        inner = outer.extractfile(
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
        ).read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        text = tar.extractfile(member).read().decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [(r[0], float(r[1]), r[2]) for r in reader if r]


@pytest.fixture(scope="module")
def sentiment_mr_raw():
    return _raw_rows(GROUND_TRUTH)


@pytest.fixture(scope="module")
def sentiment_mr_splits():
    """{split: [(id, text, label, rating)]} read from the prepared TFDS dataset."""
    builder = tfds.builder(sentiment.DATASETS["mr"], data_dir=str(sentiment.tfds_data_dir()))
    builder.download_and_prepare()
    out = {}
    for split in sentiment.SPLITS:
        out[split] = [
            (ex["id"].decode(), ex["text"].decode(), int(ex["label"]), float(ex["rating"]))
            for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
        ]
    return out


# -- real data ------------------------------------------------------------------------


def test_mr_ground_truth_has_10605_rows_37_of_them_rated_zero(sentiment_mr_raw):
    assert len(sentiment_mr_raw) == 10_605
    assert sum(r == 0.0 for _, r, _ in sentiment_mr_raw) == 37
    kept = sentiment.read_snippets("movie_reviews")
    assert len(kept) == 10_605 - 37
    assert [r["id"] for r in kept] == [i for i, r, _ in sentiment_mr_raw if r != 0.0]


def test_mr_split_sizes_are_80_10_10_of_the_kept_rows(sentiment_mr_splits):
    sizes = {s: len(rows) for s, rows in sentiment_mr_splits.items()}
    assert sizes == {"train": 8454, "validation": 1057, "test": 1057}
    for split in sentiment.SPLITS:
        n = sum(1 for _ in sentiment.read_split("mr", split))
        assert n == sizes[split]


def test_mr_splits_do_not_overlap_and_cover_every_kept_row(sentiment_mr_splits, sentiment_mr_raw):
    ids = {s: {r[0] for r in rows} for s, rows in sentiment_mr_splits.items()}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    assert ids["train"] | ids["validation"] | ids["test"] == {
        i for i, r, _ in sentiment_mr_raw if r != 0.0
    }
    texts = {s: {r[1] for r in rows} for s, rows in sentiment_mr_splits.items()}
    # Two sentences occur twice in the file; beyond those, no text crosses splits.
    assert len(texts["train"] & texts["test"]) + len(texts["train"] & texts["validation"]) <= 2


def test_mr_labels_match_the_sign_of_the_human_rating(sentiment_mr_splits, sentiment_mr_raw):
    rating = {i: r for i, r, _ in sentiment_mr_raw}
    text = {i: t for i, _, t in sentiment_mr_raw}
    for rows in sentiment_mr_splits.values():
        for ident, t, label, r in rows:
            assert label == int(rating[ident] > 0)
            assert r == pytest.approx(rating[ident])
            assert t == text[ident].strip()
    labels = [r[2] for rows in sentiment_mr_splits.values() for r in rows]
    assert sum(labels) == sum(r > 0 for _, r, _ in sentiment_mr_raw)  # 5,242 positive


def test_mr_split_follows_the_documented_seed0_permutation(sentiment_mr_splits, sentiment_mr_raw):
    kept = [i for i, r, _ in sentiment_mr_raw if r != 0.0]
    perm = np.random.default_rng(0).permutation(len(kept))
    expected_test = {kept[j] for j in perm[-1057:]}
    expected_val = {kept[j] for j in perm[-2 * 1057 : -1057]}
    assert {r[0] for r in sentiment_mr_splits["test"]} == expected_test
    assert {r[0] for r in sentiment_mr_splits["validation"]} == expected_val


def test_split_indices_are_deterministic_disjoint_and_complete():
    a, b = sentiment.split_indices(1001), sentiment.split_indices(1001)
    for split in sentiment.SPLITS:
        np.testing.assert_array_equal(a[split], b[split])
    everything = np.concatenate([a[s] for s in sentiment.SPLITS])
    assert sorted(everything.tolist()) == list(range(1001))
    assert [len(a[s]) for s in sentiment.SPLITS] == [801, 100, 100]
    c = sentiment.split_indices(1001, seed=1)
    assert not np.array_equal(a["test"], c["test"])


@pytest.mark.parametrize(
    "config, member",
    [
        ("tweets", "hutto_ICWSM_2014/tweets_GroundTruth.txt"),
        ("amazon_reviews", "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"),
        ("nyt_editorials", "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt"),
    ],
)
def test_other_snippet_configs_keep_every_nonzero_row_with_sign_labels(config, member):
    raw = _raw_rows(member)
    assert len(raw) == {"tweets": 4200, "amazon_reviews": 3708, "nyt_editorials": 5190}[config]
    rows = sentiment.read_snippets(config)
    kept = [(i, r) for i, r, _ in raw if r != 0.0]
    assert [(r["id"], r["rating"]) for r in rows] == kept
    assert all(r["label"] == int(r["rating"] > 0) for r in rows)


# -- pipeline ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment_mr_data():
    return sentiment.load_data({"dataset": "mr"}, batch_size=64, seed=0)


def test_vocabulary_is_fit_on_the_train_split_only(sentiment_mr_data, sentiment_mr_splits):
    vocab = sentiment_mr_data["assets"]["vocabulary"]
    assert vocab[:2] == ["", "[UNK]"]
    assert len(vocab) == len(set(vocab))

    def words(rows):
        out = set()
        for i in range(0, len(rows), 512):
            batch = tf.constant([r[1] for r in rows[i : i + 512]])
            out.update(w.decode() for w in sentiment.tokenize(batch).flat_values.numpy())
        return out

    train_words = words(sentiment_mr_splits["train"])
    held_out = (
        words(sentiment_mr_splits["test"]) | words(sentiment_mr_splits["validation"])
    ) - train_words
    assert len(held_out) > 100  # the check below means something
    assert set(vocab[2:]) == train_words
    assert not held_out & set(vocab)


def test_pipeline_batches_are_int32_ids_padded_with_zero_and_float_labels(sentiment_mr_data):
    vocab = sentiment_mr_data["assets"]["vocabulary"]
    index = {w: i for i, w in enumerate(vocab)}
    ids, y = next(iter(sentiment_mr_data["test"]))
    assert ids.dtype == tf.int32 and y.dtype == tf.float32
    assert ids.shape[0] == 64 and y.shape == (64,)
    assert set(np.unique(y.numpy())) <= {0.0, 1.0}
    # Decode the first sentence and compare with an independent tokenization.
    text, label = next(iter(sentiment.read_split("mr", "test")))
    tokens = [w.decode() for w in sentiment.tokenize(tf.reshape(text, [1]))[0].numpy()]
    expected = [index.get(w, 1) for w in tokens]
    row = ids[0].numpy()
    assert row[: len(expected)].tolist() == expected
    assert not row[len(expected) :].any()
    assert y[0] == float(label)
    assert ids.shape[1] == max(int(np.count_nonzero(r)) for r in ids.numpy()) or 0 in ids.numpy()


def test_train_shuffle_is_seeded_and_deterministic():
    raw = sentiment.read_split("mr", "train").take(300)
    vocab = sentiment.fit_vocabulary(raw.map(lambda t, y: t))

    def first_batches(seed):
        ds = sentiment.make_dataset(raw, vocab, batch_size=16, shuffle=True, seed=seed)
        return [b[0].numpy().tolist() for b in ds.take(3)]

    assert first_batches(0) == first_batches(0)
    assert first_batches(0) != first_batches(1)


def test_bucketing_batches_sentences_of_similar_length(sentiment_mr_data):
    vocab = sentiment_mr_data["assets"]["vocabulary"]
    ds = sentiment.make_dataset(
        sentiment.read_split("mr", "train"), vocab, batch_size=32, bucketing=True, shuffle=True
    )
    pad_fraction, n = [], 0
    for ids, _ in ds:
        lengths = np.count_nonzero(ids.numpy(), axis=1)
        pad_fraction.append(1 - lengths.sum() / ids.numpy().size)
        n += len(lengths)
    assert n == 8454
    padded = sentiment.make_dataset(sentiment.read_split("mr", "train"), vocab, batch_size=32)
    plain = [1 - np.count_nonzero(i.numpy()) / i.numpy().size for i, _ in padded]
    assert np.mean(pad_fraction) < 0.5 * np.mean(plain)


def test_long_texts_are_truncated_to_max_length(sentiment_mr_data):
    vocab = sentiment_mr_data["assets"]["vocabulary"]
    ds = tf.data.Dataset.from_tensor_slices((["good " * 300, ""], [1, 0]))
    ids, _ = next(iter(sentiment.make_dataset(ds, vocab, batch_size=2, max_length=7)))
    assert ids.shape == (2, 7)
    assert np.count_nonzero(ids.numpy()[1]) == 0


def test_standardize_splits_punctuation_and_clitics_like_glove():
    out = sentiment.standardize(tf.constant(["It's GREAT, isn't it? ''Conan'' café"])).numpy()[0]
    assert out.decode().split() == [
        "it",
        "'s",
        "great",
        ",",
        "is",
        "n't",
        "it",
        "?",
        '"',
        "conan",
        '"',
        "café",
    ]


def test_info_reports_sizes_labels_and_length_histogram():
    facts = sentiment.info("mr")
    assert {s: facts["splits"][s]["size"] for s in sentiment.SPLITS} == {
        "train": 8454,
        "validation": 1057,
        "test": 1057,
    }
    total = {
        k: sum(facts["splits"][s]["labels"][k] for s in sentiment.SPLITS)
        for k in ("negative", "positive")
    }
    assert total == {"negative": 5326, "positive": 5242}
    hist = facts["splits"]["train"]["length"]["histogram"]
    assert sum(hist.values()) == 8454


def test_unknown_dataset_name_suggests_the_closest():
    with pytest.raises(ValueError, match="'mr'"):
        sentiment.read_split("mrr", "train")
    with pytest.raises(ValueError, match="split"):
        sentiment.read_split("mr", "dev")


# -- bad inputs --------------------------------------------------------------------------


def test_corrupted_mirror_file_raises_checksum_error_naming_file_and_hashes(tmp_path, monkeypatch):
    bad = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    bad.write_bytes(b"not the sdist")
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path))
    with pytest.raises(ChecksumError) as err:
        sentiment.read_snippets("movie_reviews")
    msg = str(err.value)
    assert "vaderSentiment-3.3.2.tar.gz" in msg
    assert sentiment.VADER_ARTIFACT.sha256 in msg
    assert sha256_file(bad) in msg


def test_wrong_pinned_hash_raises_checksum_error(tmp_path, monkeypatch):
    real = fetch(sentiment.VADER_ARTIFACT)
    wrong = dataclasses.replace(sentiment.VADER_ARTIFACT, sha256="0" * 64)
    monkeypatch.setitem(sentiment.ARTIFACTS, "vader", wrong)
    monkeypatch.setenv("ZOO_MIRROR", str(real.parent))
    with pytest.raises(ChecksumError, match="0{64}") as err:
        sentiment.read_snippets("movie_reviews")
    assert sentiment.VADER_ARTIFACT.sha256 in str(err.value)  # the actual hash


def test_offline_without_the_artifact_raises_source_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(SourceUnavailableError, match="vaderSentiment-3.3.2.tar.gz") as err:
        sentiment.read_split("mr", "train", data_dir=tmp_path / "tfds")
    assert "pip download" in str(err.value)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("7\t1.5", "3 tab-separated fields"),
        ("7\tgreat\tA fine film.", "rating"),
        ("7\t9.0\tA fine film.", "rating"),
        ("7\t1.0\t   ", "empty text"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line_number(line, problem):
    text = "1\t2.5\tGood.\r\n2\t-1.0\tBad.\r\n" + line + "\r\n"
    with pytest.raises(sentiment.DataFormatError, match=rf"ratings\.txt, line 3: .*{problem}"):
        sentiment.parse_ratings(text, source="ratings.txt")


def _fake_vader_sdist(path, ground_truth: str):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        data = ground_truth.encode("utf-8")
        info = tarfile.TarInfo(GROUND_TRUTH)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))


def test_malformed_line_in_the_archive_names_the_member_and_line(tmp_path, monkeypatch):
    sdist = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    _fake_vader_sdist(sdist, "1\t2.0\tFine.\r\n2\t-2.0\tPoor.\r\n3\tthree\tOops.\r\n")
    monkeypatch.setitem(
        sentiment.ARTIFACTS,
        "vader",
        dataclasses.replace(sentiment.VADER_ARTIFACT, sha256=sha256_file(sdist)),
    )
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path))
    with pytest.raises(sentiment.DataFormatError) as err:
        sentiment.read_snippets("movie_reviews")
    assert re.search(r"movieReviewSnippets_GroundTruth\.txt, line 3:", str(err.value))


def test_non_utf8_bytes_are_reported_with_line_number():
    with pytest.raises(sentiment.DataFormatError, match="line 2: not valid UTF-8"):
        sentiment.parse_ratings(b"1\t1.0\tok\n2\t1.0\t\xff\xfe\n", source="f.txt")


# -- URL-only datasets on fixtures in the canonical layouts -----------------------------


def _add(tar, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def sentiment_rt_polarity(tmp_path, monkeypatch):
    """A small rt-polaritydata.tar.gz (layout of the Cornell v1.0 archive, Latin-1 text)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = mirror / "rt-polaritydata.tar.gz"
    pos = [f"a charming , funny film number {i} with a caf\xe9 scene . " for i in range(30)]
    neg = [f"a dull , tedious mess number {i} . " for i in range(20)]
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "rt-polaritydata.README.1.0.txt", b"sentence polarity dataset v1.0\n")
        _add(tar, "rt-polaritydata/rt-polarity.pos", ("\n".join(pos) + "\n").encode("latin-1"))
        _add(tar, "rt-polaritydata/rt-polarity.neg", ("\n".join(neg) + "\n").encode("latin-1"))
    monkeypatch.setenv("ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    return path, pos, neg


def test_mr_polarity_builder_reads_the_canonical_layout(
    sentiment_rt_polarity, monkeypatch, tmp_path
):
    path, pos, neg = sentiment_rt_polarity
    monkeypatch.setitem(
        sentiment.ARTIFACTS,
        "mr_polarity",
        dataclasses.replace(sentiment.MR_POLARITY_ARTIFACT, sha256=sha256_file(path)),
    )
    rows = {
        s: [
            (t.numpy().decode(), int(y))
            for t, y in sentiment.read_split("mr_polarity", s, data_dir=tmp_path / "tfds")
        ]
        for s in sentiment.SPLITS
    }
    assert {s: len(r) for s, r in rows.items()} == {"train": 40, "validation": 5, "test": 5}
    everything = [r for split in rows.values() for r in split]
    assert sorted(everything) == sorted(
        [(t.strip(), 1) for t in pos] + [(t.strip(), 0) for t in neg]
    )
    assert any("café" in t for t, _ in everything)  # Latin-1 decoded


def test_mr_polarity_with_the_pinned_hash_rejects_a_different_file(sentiment_rt_polarity, tmp_path):
    with pytest.raises(ChecksumError, match=sentiment.MR_POLARITY_ARTIFACT.sha256):
        sentiment.read_split("mr_polarity", "train", data_dir=tmp_path / "tfds")


def test_imdb_builder_reads_the_canonical_aclimdb_layout(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = mirror / "aclImdb_v1.tar.gz"
    expected = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "aclImdb/README", b"Large Movie Review Dataset v1.0\n")
        _add(tar, "aclImdb/imdb.vocab", b"the\nand\n")
        _add(tar, "aclImdb/train/labeledBow.feat", b"9 0:9\n")
        _add(tar, "aclImdb/train/unsup/0_0.txt", b"unlabelled review")
        for split, n in (("train", 20), ("test", 6)):
            for i in range(n):
                polarity, stars = ("pos", 7 + i % 4) if i % 2 else ("neg", 1 + i % 4)
                text = f"Review {i} of {split}.<br /><br />It was {polarity}."
                _add(tar, f"aclImdb/{split}/{polarity}/{i}_{stars}.txt", text.encode())
                expected[split].append(
                    (f"Review {i} of {split}.  It was {polarity}.", int(polarity == "pos"))
                )
    monkeypatch.setitem(
        sentiment.ARTIFACTS,
        "imdb",
        dataclasses.replace(sentiment.IMDB_ARTIFACT, sha256=sha256_file(path)),
    )
    monkeypatch.setenv("ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    got = {
        s: [
            (t.numpy().decode(), int(y))
            for t, y in sentiment.read_split("imdb", s, data_dir=tmp_path / "tfds")
        ]
        for s in sentiment.SPLITS
    }
    assert {s: len(r) for s, r in got.items()} == {"train": 18, "validation": 2, "test": 6}
    assert sorted(got["test"]) == sorted(expected["test"])
    assert sorted(got["train"] + got["validation"]) == sorted(expected["train"])
    assert all("<br" not in t for rows in got.values() for t, _ in rows)


def test_soft_labels_are_sigmoid_of_the_rating_and_agree_with_hard_labels(sentiment_mr_raw):
    rating = {}
    for _, r, t in sentiment_mr_raw:
        rating.setdefault(t.strip(), set()).add(r)
    hard = next(iter(sentiment.read_split("mr", "train").batch(10_000)))
    soft = next(iter(sentiment.read_split("mr", "train", soft_labels=1.5).batch(10_000)))
    assert hard[0].shape == (8454,)
    assert hard[0].numpy().tolist() == soft[0].numpy().tolist()
    p, y = soft[1].numpy(), hard[1].numpy()
    np.testing.assert_array_equal(p > 0.5, y == 1)
    texts = [t.decode() for t in hard[0].numpy()]
    unique = [i for i, t in enumerate(texts) if len(rating[t]) == 1]
    expected = [1 / (1 + np.exp(-1.5 * next(iter(rating[texts[i]])))) for i in unique]
    np.testing.assert_allclose(p[unique], expected, atol=1e-6)


def test_soft_labels_need_a_rated_dataset(sentiment_rt_polarity, monkeypatch, tmp_path):
    path, _, _ = sentiment_rt_polarity
    monkeypatch.setitem(
        sentiment.ARTIFACTS,
        "mr_polarity",
        dataclasses.replace(sentiment.MR_POLARITY_ARTIFACT, sha256=sha256_file(path)),
    )
    with pytest.raises(ValueError, match="soft_labels"):
        sentiment.read_split("mr_polarity", "train", data_dir=tmp_path / "tfds", soft_labels=1.0)


def test_glove_vocabulary_appends_unseen_glove_words_after_the_train_words(sentiment_mr_data):
    from zoo.data.glove import load_glove

    train_vocab = sentiment_mr_data["assets"]["vocabulary"]
    extended = sentiment.extend_vocabulary(train_vocab, 5000)
    words, _ = load_glove()
    assert extended[: len(train_vocab)] == train_vocab  # train ids unchanged
    added = extended[len(train_vocab) :]
    assert added and not set(added) & set(train_vocab)
    assert set(added) <= set(words[:5000])
    expected = [
        w for w in words[:5000] if w not in set(train_vocab) and w.replace("'", "").isalnum()
    ]
    assert added == expected
    assert sentiment.extend_vocabulary(train_vocab, 0) == train_vocab


def test_load_data_records_the_train_vocabulary_size():
    d = sentiment.load_data({"dataset": "mr", "glove_vocabulary": 3000}, batch_size=8, smoke=True)
    vocab, prep = d["assets"]["vocabulary"], d["assets"]["preprocessing"]
    fitted = sentiment.fit_vocabulary(
        sentiment.read_split("mr", "train").take(320).map(lambda t, y: t)
    )
    assert prep["train_vocabulary_size"] == len(fitted)
    assert vocab[: len(fitted)] == fitted
    assert len(vocab) > len(fitted)
