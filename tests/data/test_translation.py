"""zoo_spa_eng: the real spa-eng.zip, the fixed split, tokenization and the pipeline."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import translation as T


@pytest.fixture(scope="module")
def pairs():
    return T.read_pairs()  # fetched through zoo.data.sources (mirror or cache), sha256-checked


@pytest.fixture(scope="module")
def smoke():
    return T.load_data({}, batch_size=16, seed=0, smoke=True)


def test_archive_has_118964_english_spanish_pairs(pairs):
    assert len(pairs) == T.NUM_PAIRS == 118_964
    assert pairs[0] == ("Go.", "Ve.")
    assert all(en and es for en, es in pairs)


def test_split_is_deterministic_disjoint_and_sized_2_2_96_percent():
    a, b = T.split_indices(), T.split_indices()
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(a[name], b[name])
    sizes = {k: len(v) for k, v in a.items()}
    assert sizes == {"test": 2379, "validation": 2379, "train": 114_206}
    union = np.concatenate(list(a.values()))
    assert len(np.unique(union)) == T.NUM_PAIRS  # disjoint and complete
    # the documented recipe, re-derived independently
    perm = np.random.default_rng(0).permutation(T.NUM_PAIRS)
    np.testing.assert_array_equal(a["test"], np.sort(perm[:2379]))


def test_no_test_pair_appears_in_train(pairs):
    idx = T.split_indices()
    train = {pairs[i] for i in idx["train"]}
    assert not any(pairs[i] in train for i in idx["test"])


def test_tfds_builder_splits_match_the_documented_indices(pairs):
    idx = T.split_indices()
    for split in ("validation", "test"):
        ds = T.load_split(split)
        got = sorted(int(ex["index"]) for ex in ds.as_numpy_iterator())
        assert got == list(idx[split])
        ex = next(iter(ds.take(1).as_numpy_iterator()))
        i = int(ex["index"])
        assert (ex["en"].decode(), ex["es"].decode()) == pairs[i]
    assert int(T.load_split("train").cardinality()) == 114_206


def test_malformed_line_is_reported_with_file_and_line_number(tmp_path):
    path = tmp_path / "spa-eng.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(T.MEMBER, "Go.\tVe.\nno tab on this line\nHi.\tHola.\n")
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match=r"spa-eng\.zip.*line 2"):
        T.read_pairs(path)


@pytest.mark.parametrize(
    "text",
    [
        "I'm hungry.",
        "Where is the station?",
        'He said "hello" to me.',
        "Tom, wait... What's that?!",
        "It costs $30 (tax included).",
        "We met at 2:30 p.m. on May 3, 2013.",
        "The price is 3.5% higher.",
    ],
)
def test_detokenize_inverts_target_tokenization(text):
    tokens = T.standardize_target(tf.constant(text)).numpy().decode()
    assert T.detokenize(tf.constant(tokens)).numpy().decode() == text


def test_source_is_lowercased_keeps_accents_and_splits_punctuation():
    got = T.standardize_source(tf.constant("¿Dónde ESTÁ\u00a0Tom?")).numpy().decode()
    assert got == "¿ dónde está tom ?"


def test_targets_start_with_start_token_and_end_with_end_token(smoke):
    (src, tgt_in), tgt_out = next(iter(smoke["train"]))
    src, tgt_in, tgt_out = src.numpy(), tgt_in.numpy(), tgt_out.numpy()
    assert src.dtype == np.int32 and src.shape[0] == tgt_in.shape[0]
    assert np.all(tgt_in[:, 0] == T.START_ID)
    for row_in, row_out in zip(tgt_in, tgt_out):
        n = int(np.sum(row_out != 0))
        assert row_out[n - 1] == T.END_ID and T.END_ID not in row_out[: n - 1]
        np.testing.assert_array_equal(row_in[1:n], row_out[: n - 1])  # shifted by one
        assert T.START_ID not in row_out


def test_vocabularies_are_fitted_on_train_only(smoke):
    es, en = [], []
    for ex in T.load_split("train").take(512).as_numpy_iterator():
        es.append(ex["es"].decode())
        en.append(ex["en"].decode())
    src_tokens = {
        t for s in T.standardize_source(tf.constant(es)).numpy() for t in s.decode().split()
    }
    tgt_tokens = {
        t for s in T.standardize_target(tf.constant(en)).numpy() for t in s.decode().split()
    }
    src_vocab, tgt_vocab = (
        smoke["assets"]["source_vocabulary"],
        smoke["assets"]["target_vocabulary"],
    )
    assert src_vocab[:2] == ["", "[UNK]"] and tgt_vocab[:4] == ["", "[UNK]", "[START]", "[END]"]
    assert set(src_vocab[2:]) == src_tokens  # exactly the train tokens (vocab not full)
    assert set(tgt_vocab[4:]) == tgt_tokens
    # and a word seen only in test is unknown
    test_es, _ = T.split_texts("test", limit=128)
    test_only = {
        t for s in T.standardize_source(tf.constant(test_es)).numpy() for t in s.decode().split()
    } - src_tokens
    assert test_only and not test_only & set(src_vocab)


def test_train_shuffle_is_seeded_and_batches_are_length_bucketed():
    a = T.load_data({}, batch_size=8, seed=3, smoke=True)
    b = T.load_data({}, batch_size=8, seed=3, smoke=True)
    first_a = [x[0][0].numpy() for x in a["train"].take(5)]
    first_b = [x[0][0].numpy() for x in b["train"].take(5)]
    for x, y in zip(first_a, first_b):
        np.testing.assert_array_equal(x, y)
    bounds = [0, *T.DEFAULTS["bucket_boundaries"], 10**6]
    for (src, _), tgt in a["train"]:
        lengths = np.maximum((src.numpy() != 0).sum(1), (tgt.numpy() != 0).sum(1))
        buckets = {int(np.searchsorted(bounds, n, side="right")) for n in lengths}
        assert len(buckets) == 1  # one bucket per batch


def test_bad_data_config_names_the_key():
    with pytest.raises(ValueError, match="vocab_sise"):
        T.data_config({"vocab_sise": 3})
    with pytest.raises(ValueError, match="dataset"):
        T.data_config({"dataset": "fra_eng"})
    with pytest.raises(ValueError, match="batch_size"):
        T.load_data({}, batch_size=0, smoke=True)


@pytest.mark.slow
def test_info_reports_split_sizes_and_length_histograms():
    info = T.info("spa_eng")
    assert {k: v["examples"] for k, v in info["splits"].items()} == {
        "train": 114_206,
        "validation": 2379,
        "test": 2379,
    }
    hist = info["splits"]["test"]["length_histogram"]["source_tokens"]
    assert sum(hist.values()) == 2379
