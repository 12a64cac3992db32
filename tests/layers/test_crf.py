"""`zoo.layers.CRF` against brute-force enumeration of all tag paths in NumPy (and finite
differences for the loss gradient)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers.crf import (
    CRF,
    FORBIDDEN,
    CRFLoss,
    crf_log_likelihood,
    crf_log_norm,
    crf_sequence_score,
    iob2_constraints,
    viterbi_decode,
)


def _np_score(em, path, trans, start, end):
    s = start[path[0]] + end[path[-1]] + sum(em[t, y] for t, y in enumerate(path))
    s += sum(trans[a, b] for a, b in zip(path[:-1], path[1:]))
    return s


def _brute_force(em, length, trans, start, end):
    """(log Z, best path, best score) over all K**length paths of em[:length]."""
    k = em.shape[1]
    if length == 0:
        return 0.0, [], 0.0
    scores = {
        p: _np_score(em[:length], p, trans, start, end)
        for p in itertools.product(range(k), repeat=length)
    }
    values = np.array(list(scores.values()))
    log_z = values.max() + np.log(np.exp(values - values.max()).sum())
    best = max(scores, key=scores.get)
    return log_z, list(best), scores[best]


@pytest.fixture
def ner_crf_problem():
    rng = np.random.default_rng(3)
    b, t, k = 5, 5, 3
    em = rng.normal(size=(b, t, k)).astype(np.float64)
    trans = rng.normal(size=(k, k))
    start, end = rng.normal(size=k), rng.normal(size=k)
    lengths = np.array([5, 3, 1, 0, 4])
    mask = np.arange(t)[None, :] < lengths[:, None]
    return em, mask, lengths, trans, start, end


def test_log_partition_matches_brute_force_enumeration(ner_crf_problem):
    em, mask, lengths, trans, start, end = ner_crf_problem
    got = crf_log_norm(em, mask, trans, start, end).numpy()
    want = [_brute_force(em[i], lengths[i], trans, start, end)[0] for i in range(len(em))]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_sequence_score_matches_direct_sum(ner_crf_problem):
    em, mask, lengths, trans, start, end = ner_crf_problem
    rng = np.random.default_rng(0)
    tags = rng.integers(0, em.shape[2], size=mask.shape)
    got = crf_sequence_score(em, tags, mask, trans, start, end).numpy()
    want = [
        _np_score(em[i, : lengths[i]], list(tags[i, : lengths[i]]), trans, start, end)
        if lengths[i]
        else 0.0
        for i in range(len(em))
    ]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_viterbi_equals_brute_force_argmax(ner_crf_problem):
    em, mask, lengths, trans, start, end = ner_crf_problem
    tags, scores = viterbi_decode(em, mask, trans, start, end)
    tags, scores = tags.numpy(), scores.numpy()
    for i in range(len(em)):
        _, best, best_score = _brute_force(em[i], lengths[i], trans, start, end)
        assert list(tags[i, : lengths[i]]) == best
        assert (tags[i, lengths[i] :] == 0).all()
        np.testing.assert_allclose(scores[i], best_score, rtol=1e-9, atol=1e-9)


def test_probabilities_of_all_paths_sum_to_one():
    rng = np.random.default_rng(1)
    k, t = 3, 4
    em = rng.normal(size=(1, t, k))
    trans, start, end = rng.normal(size=(k, k)), rng.normal(size=k), rng.normal(size=k)
    paths = np.array(list(itertools.product(range(k), repeat=t)))
    ll = crf_log_likelihood(np.repeat(em, len(paths), 0), paths, None, trans, start, end)
    np.testing.assert_allclose(np.exp(ll.numpy()).sum(), 1.0, rtol=1e-9)


def test_masked_positions_are_ignored(ner_crf_problem):
    em, mask, lengths, trans, start, end = ner_crf_problem
    noisy = em.copy()
    noisy[~mask] = 1e3 * np.random.default_rng(2).normal(size=((~mask).sum(), em.shape[2]))
    tags = np.where(mask, 1, 2)
    noisy_tags = np.where(mask, 1, 0)
    np.testing.assert_allclose(
        crf_log_likelihood(em, tags, mask, trans, start, end).numpy(),
        crf_log_likelihood(noisy, noisy_tags, mask, trans, start, end).numpy(),
    )
    np.testing.assert_array_equal(
        viterbi_decode(em, mask, trans, start, end)[0].numpy(),
        viterbi_decode(noisy, mask, trans, start, end)[0].numpy(),
    )
    # Extra padding at the end changes nothing either.
    pad_em = np.concatenate([em, np.ones((len(em), 3, em.shape[2]))], axis=1)
    pad_mask = np.concatenate([mask, np.zeros((len(em), 3), bool)], axis=1)
    np.testing.assert_array_equal(
        viterbi_decode(pad_em, pad_mask, trans, start, end)[0].numpy()[:, : em.shape[1]],
        viterbi_decode(em, mask, trans, start, end)[0].numpy(),
    )


def test_empty_time_axis_decodes_to_empty():
    em = np.zeros((2, 0, 3), np.float32)
    tags, scores = viterbi_decode(
        em, None, np.zeros((3, 3), np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    )
    assert tags.shape == (2, 0)
    assert np.all(scores.numpy() == 0)


def test_gradients_of_the_loss_are_finite_and_nonzero():
    layer = CRF(4)
    layer.build((None, None, 4))
    em = tf.Variable(np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32))
    y = tf.constant([[0, 1, 2, 3, -1, -1], [1, 1, 1, 1, 1, 1], [2, -1, -1, -1, -1, -1]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(CRFLoss(layer).call(y, layer(em)))
    grads = tape.gradient(loss, [em, layer.transitions, layer.start, layer.end])
    for g in grads:
        assert np.isfinite(g.numpy()).all()
        assert np.abs(g.numpy()).sum() > 0
    # No gradient flows into padded emissions.
    assert np.all(grads[0].numpy()[0, 4:] == 0)


def test_iob2_constraints_make_viterbi_paths_valid():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start_allowed = iob2_constraints(tags)
    layer = CRF(len(tags), allowed=allowed, start_allowed=start_allowed)
    layer.build((None, None, len(tags)))
    # Emissions that strongly prefer invalid I- tags everywhere.
    em = np.zeros((2, 5, len(tags)), np.float32)
    em[0, :, 2] = 5.0  # I-PER
    em[1, :, 4] = 5.0  # I-LOC
    em[1, 2, 2] = 9.0  # I-PER in the middle of I-LOC
    out = layer.decode(em).numpy()
    for row in out:
        names = [tags[i] for i in row]
        prev = "O"
        for name in names:
            if name.startswith("I-"):
                assert prev[2:] == name[2:] and prev != "O", names
            prev = name


def test_iob2_constraints_forbid_exactly_the_invalid_moves():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start_allowed = iob2_constraints(tags)
    assert start_allowed == [1, 1, 0, 1, 0]
    assert [allowed[i][2] for i in range(5)] == [0, 1, 1, 0, 0]
    assert all(allowed[i][j] == 1 for i in range(5) for j in (0, 1, 3))


def test_crf_layer_config_round_trip():
    layer = CRF(3, allowed=[[1, 1, 0], [1, 1, 1], [1, 1, 1]], start_allowed=[1, 1, 0])
    clone = CRF.from_config(layer.get_config())
    assert clone.num_tags == 3 and clone.allowed == layer.allowed
    assert clone.start_allowed == layer.start_allowed


def test_crf_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_tags"):
        CRF(0)
    with pytest.raises(ValueError, match="allowed"):
        CRF(3, allowed=[[1, 1], [1, 1]])


def test_crf_learns_a_deterministic_transition_pattern():
    # Tag sequence alternates 0,1,0,1 regardless of the (uninformative) emissions: only
    # the transition matrix can learn it, and Viterbi must then decode it.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 3))
    crf = CRF(3)
    out = crf(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(0.1), loss=CRFLoss(crf))
    x = np.ones((16, 6, 3), np.float32)
    y = np.tile([0, 1, 0, 1, 0, 1], (16, 1))
    model.fit(x, y, epochs=60, verbose=0)
    pred = crf.decode(model(x[:2])).numpy()
    np.testing.assert_array_equal(pred, y[:2])


def _constrained_problem():
    rng = np.random.default_rng(11)
    k, t = 3, 4
    em = rng.normal(size=(4, t, k)).astype(np.float32)
    lengths = np.array([4, 2, 1, 3])
    mask = np.arange(t)[None, :] < lengths[:, None]
    allowed = [[1, 0, 1], [1, 1, 0], [0, 1, 1]]
    start_allowed = [0, 1, 1]
    layer = CRF(k, allowed=allowed, start_allowed=start_allowed)
    layer.build((None, None, k))
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    trans, start, end = (np.asarray(w, np.float64) for w in layer.get_weights())
    # The constraints as the documented additive penalty, applied in NumPy.
    trans = trans + FORBIDDEN * (1 - np.asarray(allowed))
    start = start + FORBIDDEN * (1 - np.asarray(start_allowed))
    return layer, em, mask, lengths, (trans, start, end)


def test_layer_log_likelihood_with_constraints_matches_brute_force():
    layer, em, mask, lengths, (trans, start, end) = _constrained_problem()
    rng = np.random.default_rng(12)
    tags = rng.integers(0, 3, size=mask.shape)
    got = layer.log_likelihood(em, tags, mask).numpy()
    for i in range(len(em)):
        n = lengths[i]
        log_z = _brute_force(em[i].astype(np.float64), n, trans, start, end)[0]
        want = _np_score(em[i, :n], list(tags[i, :n]), trans, start, end) - log_z
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-2)


def test_layer_decode_with_constraints_matches_brute_force():
    layer, em, mask, lengths, (trans, start, end) = _constrained_problem()
    got = layer.decode(em, mask).numpy()
    for i in range(len(em)):
        _, best, _ = _brute_force(em[i].astype(np.float64), lengths[i], trans, start, end)
        assert list(got[i, : lengths[i]]) == best
        # a forbidden first tag or move never appears in a decoded path
        assert best[0] != 0
        assert all(trans[a, b] > FORBIDDEN / 2 for a, b in zip(best[:-1], best[1:]))


def test_loss_gradient_matches_finite_differences():
    layer, em, mask, _, _ = _constrained_problem()
    # Labels on allowed paths only: a forbidden move puts the loss near 1e4, where
    # float32 cannot resolve a finite difference.
    y = np.where(mask, layer.decode(em[::-1], mask).numpy(), -1)
    loss_fn = CRFLoss(layer)

    def loss():
        return float(tf.reduce_sum(loss_fn.call(y, em)).numpy())

    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss_fn.call(y, em))
    grads = tape.gradient(value, [layer.transitions, layer.start, layer.end])
    eps = 1e-2
    for variable, grad in zip([layer.transitions, layer.start, layer.end], grads, strict=True):
        base = variable.numpy().copy()
        for index in np.ndindex(base.shape):
            shifted = []
            for sign in (1, -1):
                moved = base.copy()
                moved[index] += sign * eps
                variable.assign(moved)
                shifted.append(loss())
            variable.assign(base)
            numeric = (shifted[0] - shifted[1]) / (2 * eps)
            np.testing.assert_allclose(grad.numpy()[index], numeric, atol=2e-3)


def test_crf_is_public_and_reloads_from_a_keras_file(tmp_path):
    import zoo.layers

    assert zoo.layers.CRF is CRF
    inputs = keras.Input((None, 3))
    crf = CRF(3, allowed=[[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    model = keras.Model(inputs, crf(keras.layers.Dense(3)(inputs)))
    crf.set_weights([np.random.default_rng(5).normal(size=w.shape) for w in crf.get_weights()])
    model.save(tmp_path / "crf.keras")
    loaded = keras.saving.load_model(tmp_path / "crf.keras", compile=False)
    reloaded = loaded.layers[-1]
    assert type(reloaded) is CRF and reloaded.allowed == crf.allowed
    x = np.random.default_rng(6).normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(reloaded.decode(loaded(x)).numpy(), crf.decode(model(x)).numpy())


def test_crf_rejects_emissions_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"'inputs'.*\(batch, timesteps, 4\).*\(None, 7, 3\)"):
        CRF(4).build((None, 7, 3))
