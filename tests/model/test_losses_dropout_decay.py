"""The op table's newer kinds against their NumPy twins: the mse and sigmoid
cross-entropy losses, sample weights, dropout, weight decay and AdamW; and
their gradients by central differences in float64."""

import numpy as np
import pytest
from conftest import assert_close, numeric_grad

from fastnn import _reference as ref
from fastnn import ops

LOSS_SHAPES = [(1, 1), (2, 1), (5, 3), (300, 10), (4000, 9), (40, 1000)]
DROPOUT_SHAPES = [(1, 1), (2, 7), (33, 3), (300, 257), (1025, 40)]


def _data(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=str)
def test_losses_match_their_twins(rng, dtype, n_threads, shape, weighted):
    z = _data(rng, shape, dtype, scale=4.0)
    w = rng.uniform(0, 3, shape[0]) if weighted else None
    labels = rng.integers(0, shape[1], shape[0])
    y01 = (rng.random(shape) < 0.4).astype(dtype)
    yreal = _data(rng, shape, dtype, scale=2.0)
    for name, target in (("softmax_cross_entropy", labels), ("sigmoid_cross_entropy", y01),
                         ("mse", yreal)):
        loss, dz = getattr(ops, name)(z, target, sample_weight=w, n_threads=n_threads)
        loss_ref, dz_ref = getattr(ref, name)(z, target, sample_weight=w)
        assert isinstance(loss, float)
        assert_close(loss, loss_ref, dtype)
        assert_close(dz, dz_ref, dtype)
        only, none = getattr(ops, name)(z, target, sample_weight=w, compute_grad=False,
                                        n_threads=n_threads)
        assert none is None and only == loss


def test_losses_are_stable_for_extreme_logits(dtype):
    z = np.array([[-1e4, 0, 1e4], [88, -88, 30]], dtype)
    y = np.array([[1, 0, 0], [0, 1, 1]], dtype)
    loss, dz = ops.sigmoid_cross_entropy(z, y)
    assert np.isfinite(loss) and np.isfinite(dz).all()
    np.testing.assert_allclose(loss, ref.sigmoid_cross_entropy(z, y)[0], rtol=1e-5)
    loss, dz = ops.mse(z, y)
    assert np.isfinite(loss)


def test_two_classes_softmax_is_the_sigmoid_of_the_difference(rng):
    # softmax([a, b])[1] = sigmoid(b - a): the two losses agree on binary data
    z = rng.standard_normal((50, 2))
    y = rng.integers(0, 2, 50)
    soft, _ = ops.softmax_cross_entropy(z, y)
    sig, _ = ops.sigmoid_cross_entropy(z[:, 1] - z[:, 0], y.astype(np.float64))
    assert soft == pytest.approx(sig, rel=1e-12)


def test_a_zero_weight_is_a_missing_row(rng, dtype):
    z = _data(rng, (30, 4), dtype)
    labels = rng.integers(0, 4, 30)
    yreal = _data(rng, (30, 4), dtype)
    w = rng.uniform(0.5, 2, 30)
    w[::3] = 0
    keep = w > 0
    for name, target in (("softmax_cross_entropy", labels), ("mse", yreal),
                         ("sigmoid_cross_entropy", (yreal > 0).astype(dtype))):
        loss, dz = getattr(ops, name)(z, target, sample_weight=w)
        loss_kept, dz_kept = getattr(ops, name)(z[keep], target[keep], sample_weight=w[keep])
        assert_close(loss, loss_kept, dtype)
        assert_close(dz[keep], dz_kept, dtype)
        assert not dz[~keep].any()


@pytest.mark.parametrize("bad, match", [(np.full(30, -1.0), "finite values >= 0"),
                                        (np.zeros(30), "sums to 0"),
                                        (np.ones(29), "shape"),
                                        (np.full(30, np.nan), "finite")])
def test_bad_sample_weights(rng, bad, match):
    z = rng.standard_normal((30, 3))
    with pytest.raises(ValueError, match=match):
        ops.mse(z, z, sample_weight=bad)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", DROPOUT_SHAPES, ids=str)
def test_dropout_matches_its_twin_bit_for_bit(rng, dtype, n_threads, shape, rate):
    x = _data(rng, shape, dtype)
    for seed, step, layer in ((0, 1, 0), (2**63 + 5, 77, 3)):
        y = ops.dropout(x, rate, seed, step, layer=layer, n_threads=n_threads)
        np.testing.assert_array_equal(y, ref.dropout(x, rate, seed, step, layer=layer))
        dy = _data(rng, shape, dtype)
        np.testing.assert_array_equal(
            ops.dropout_backward(dy, rate, seed, step, layer=layer, n_threads=n_threads),
            ref.dropout_backward(dy, rate, seed, step, layer=layer))


def test_dropout_masks_are_random_where_they_should_be():
    keep = ref.dropout_mask((2000, 500), 0.3, seed=1, step=1)
    assert abs(keep.mean() - 0.7) < 0.005
    assert abs(keep.mean(axis=0).std() - np.sqrt(0.21 / 2000)) < 0.002   # units independent
    others = [ref.dropout_mask((2000, 500), 0.3, seed, step, layer)
              for seed, step, layer in ((2, 1, 0), (1, 2, 0), (1, 1, 1))]
    for other in others:                            # each key draws a new mask
        assert abs((keep == other).mean() - (0.7**2 + 0.3**2)) < 0.005
    x = np.ones((2000, 500))
    assert ops.dropout(x, 0.3, 1, 1).mean() == pytest.approx(1.0, abs=0.01)   # inverted
    assert np.array_equal(ops.dropout(x, 0.0, 1, 1), x)


@pytest.mark.parametrize("rule", ["sgd", "momentum", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("shape", [(1,), (7, 3), (300, 200)], ids=str)
def test_weight_decay_and_adamw_match_their_twins(rng, dtype, n_threads, rule, shape):
    w, g = _data(rng, shape, dtype), _data(rng, shape, dtype)
    s1, s2 = _data(rng, shape, dtype) * 0.1, np.abs(_data(rng, shape, dtype)) * 0.1
    mine = [a.copy() for a in (w, s1, s2)]
    theirs = [a.copy() for a in (w, s1, s2)]
    wd = 0.3
    for step in (1, 2, 3):
        if rule == "sgd":
            ops.sgd_update(mine[0], g, 0.05, weight_decay=wd, n_threads=n_threads)
            ref.sgd_update(theirs[0], g, 0.05, weight_decay=wd)
        elif rule == "momentum":
            ops.momentum_update(mine[0], g, mine[1], 0.05, 0.8, weight_decay=wd,
                                n_threads=n_threads)
            ref.momentum_update(theirs[0], g, theirs[1], 0.05, 0.8, weight_decay=wd)
        elif rule == "rmsprop":
            ops.rmsprop_update(mine[0], g, mine[2], 0.01, 0.99, 1e-6, weight_decay=wd,
                               n_threads=n_threads)
            ref.rmsprop_update(theirs[0], g, theirs[2], 0.01, 0.99, 1e-6, weight_decay=wd)
        else:
            fn = getattr(ops, rule + "_update")
            fn(mine[0], g, mine[1], mine[2], 0.01, step, 0.9, 0.99, 1e-6, weight_decay=wd,
               n_threads=n_threads)
            getattr(ref, rule + "_update")(theirs[0], g, theirs[1], theirs[2], 0.01, step,
                                          0.9, 0.99, 1e-6, weight_decay=wd)
    for a, b in zip(mine, theirs):
        assert_close(a, b, dtype)


def test_aliased_optimizer_state_is_refused(rng):
    w, g, m = rng.standard_normal(10), rng.standard_normal(10), np.zeros(10)
    with pytest.raises(ValueError, match="must not overlap m"):
        ops.adam_update(w, g, m, m, 0.1, 1)
    with pytest.raises(ValueError, match="overlap"):
        ops.momentum_update(w, g, w, 0.1)


# ---------------------------------------------------------------- gradients (float64)

@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "sigmoid_cross_entropy", "mse"])
def test_loss_gradients(name, weighted):
    rng = np.random.default_rng(11)
    z = rng.standard_normal((6, 4)) * 2
    target = {"softmax_cross_entropy": rng.integers(0, 4, 6),
              "sigmoid_cross_entropy": (rng.random((6, 4)) < 0.5).astype(float),
              "mse": rng.standard_normal((6, 4))}[name]
    w = rng.uniform(0, 2, 6) if weighted else None
    fn = getattr(ops, name)
    _, dz = fn(z, target, sample_weight=w)
    numeric = numeric_grad(lambda: fn(z, target, sample_weight=w, compute_grad=False)[0], z)
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)


def test_dropout_gradient():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((7, 9))
    R = rng.standard_normal((7, 9))
    dx = ops.dropout_backward(R, 0.4, 3, 5)
    numeric = numeric_grad(lambda: float((ops.dropout(x, 0.4, 3, 5) * R).sum()), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)
    assert (dx == 0).any() and (dx != 0).any()
