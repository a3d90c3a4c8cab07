"""The Poisson loss (log link), and optimizer updates fused into the backward pass."""

import numpy as np
import pytest
import torch

from conftest import DTYPES, N_THREADS, assert_close, numeric_grad
from fastnn import (MLP, SGD, Adam, AdamW, BatchNorm, Dense, Dropout, Momentum, ReLU, RMSprop,
                    Sequential, Softmax, ops)
from fastnn import _reference as ref


# ---------------------------------------------------------------- poisson

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n_threads", N_THREADS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 1), (9, 3), (5000, 2)], ids=str)
def test_poisson_matches_its_twin(dtype, n_threads, shape):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(shape) * 2).astype(dtype)
    y = rng.poisson(3.0, shape).astype(dtype)
    w = rng.uniform(0, 2, shape[0])
    for weight in (None, w):
        loss, dz = ops.poisson(z, y, sample_weight=weight, n_threads=n_threads)
        want, dz_want = ref.poisson(z, y, sample_weight=weight)
        assert loss == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-12)
        assert_close(dz, dz_want, dtype)


def test_poisson_gradient_is_the_derivative_of_its_loss():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((6, 2)), rng.poisson(2.0, (6, 2)).astype(float)
    w = rng.uniform(0.5, 2, 6)
    _, dz = ops.poisson(z, y, sample_weight=w)
    num = numeric_grad(lambda: ops.poisson(z, y, sample_weight=w, compute_grad=False)[0], z)
    np.testing.assert_allclose(dz, num, rtol=1e-7, atol=1e-10)


def test_poisson_matches_torch():
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((40, 3)), rng.poisson(4.0, (40, 3)).astype(float)
    zt = torch.tensor(z, requires_grad=True)
    loss_t = torch.nn.PoissonNLLLoss(log_input=True, full=False)(zt, torch.tensor(y))
    loss_t.backward()
    loss, dz = ops.poisson(z, y)
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-11, atol=1e-15)


def test_poisson_refuses_negative_targets():
    with pytest.raises(ValueError, match=">= 0"):
        ops.poisson(np.zeros((2, 1)), -np.ones((2, 1)))
    with pytest.raises(ValueError, match=">= 0"):
        MLP(hidden=(4,), loss="poisson").fit(np.zeros((4, 2)), np.array([1.0, -1, 2, 3]),
                                             epochs=1)


def test_poisson_mlp_learns_counts():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (4000, 3))
    mu = np.exp(0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2] * X[:, 0] + 0.5)
    y = rng.poisson(mu).astype(float)
    model = MLP(hidden=(32,), loss="poisson", batch_norm=False, activation="tanh", seed=0,
                dtype="float64")
    model.fit(X[:3000], y[:3000], epochs=40, batch_size=64, optimizer=Adam(3e-3))
    pred = model.predict(X[3000:])
    assert pred.shape == (1000,) and np.all(pred > 0)
    # the means it predicts are close to the true ones, far closer than a constant
    err, const = np.mean((pred - mu[3000:]) ** 2), np.mean((mu[:3000].mean() - mu[3000:]) ** 2)
    assert err < 0.1 * const, (err, const)
    scores = model.evaluate(X[3000:], y[3000:])
    assert set(scores) == {"loss", "r2"}
    z = np.log(pred)
    assert scores["loss"] == pytest.approx(np.mean(pred - y[3000:] * z), rel=1e-9)


# ---------------------------------------------------------------- fused updates

def _models():
    return [
        ("mlp-bn-adam", lambda: MLP(hidden=(33, 17), seed=0, dtype="float32"),
         lambda: Adam(1e-2, weight_decay=1e-3)),
        ("mlp-after-dropout-adamw", lambda: MLP(hidden=(40, 9), bn_position="after",
                                                dropout=0.2, seed=1, dtype="float64"),
         lambda: AdamW(1e-2, weight_decay=1e-2)),
        ("seq-momentum", lambda: Sequential([Dense(70), ReLU(), Dense(50), BatchNorm(), ReLU(),
                                              Dropout(0.1), Dense(5), Softmax()], seed=2),
         lambda: Momentum(0.05, weight_decay=1e-4)),
        ("mlp-rmsprop-mse", lambda: MLP(hidden=(20,), loss="mse", seed=3), lambda: RMSprop(1e-3)),
        ("mlp-sgd-poisson", lambda: MLP(hidden=(20,), loss="poisson", seed=4), lambda: SGD(1e-3)),
    ]


@pytest.mark.parametrize("name, make, opt", _models(), ids=[m[0] for m in _models()])
@pytest.mark.parametrize("n_threads", N_THREADS)
def test_fused_updates_give_the_bits_of_one_update_after_the_backward_pass(name, make, opt,
                                                                        n_threads):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((530, 40))
    if "mse" in name:
        y = X[:, 0] - X[:, 1]
    elif "poisson" in name:
        y = rng.poisson(np.exp(0.3 * X[:, 0]))
    else:
        y = rng.integers(0, 5, 530)
    w = rng.uniform(0, 2, 530)
    w[:70] = 0                     # some batches weigh nothing at all
    fused, plain = make(), make()
    for model in (fused, plain):
        model.n_threads = n_threads
        model.fit(X[:64], y[:64], epochs=1, batch_size=64, optimizer=opt(), shuffle=False)
    assert fused.engine.fuse_updates
    plain.engine.fuse_updates = False
    for model in (fused, plain):
        model.fit(X, y, epochs=2, batch_size=35, sample_weight=w, shuffle=False)
        model.fit(X, y, epochs=2, batch_size=35, seed=7)
    assert fused.engine.last_fused and not plain.engine.last_fused
    a, b = fused.get_weights(), plain.get_weights()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(fused.predict(X), plain.predict(X))


def test_a_layer_written_in_python_waits_for_the_whole_backward_pass():
    from fastnn import Layer

    class Twice(Layer):
        def forward(self, x, training):
            return 2 * x

        def backward(self, x, y, dy):
            return 2 * dy

    model = Sequential([Dense(8), Twice(), ReLU(), Dense(3), Softmax()], seed=0)
    X, y = np.random.default_rng(0).standard_normal((64, 5)), np.arange(64) % 3
    model.fit(X, y, epochs=1, batch_size=16, optimizer=Adam(1e-2))
    assert not model.engine.last_fused


# ---------------------------------------------------------------- 1 - beta in double

@pytest.mark.parametrize("update, n_states", [(ops.adam_update, 2), (ops.adamw_update, 2)])
def test_adams_first_step_is_lr_in_float32(update, n_states):
    # m_hat / sqrt(v_hat) is exactly 1 on the first step; 1 - beta2 rounded from a float32
    # beta2 = 0.999 made it 1.0000066
    p, g = np.zeros(1000, np.float32), np.ones(1000, np.float32)
    states = [np.zeros(1000, np.float32) for _ in range(n_states)]
    update(p, g, *states, 1.0, 1, eps=1e-30)
    np.testing.assert_allclose(p, -1.0, rtol=2 * np.finfo(np.float32).eps)


# ---------------------------------------------------------------- one-row prediction

def test_the_fast_prediction_path_gives_the_checked_paths_answers():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((300, 12)), rng.integers(0, 4, 300)
    model = MLP(hidden=(16, 8), seed=0)
    model.fit(X, y, epochs=2)
    X32 = X.astype(np.float32)
    fast = model.predict_proba(X32[:1])                      # C-contiguous float32: fast
    slow = model.predict_proba(X[:1])                        # float64: converted, checked
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(model.predict_proba(np.asfortranarray(X32[:5])),
                                  model.predict_proba(X32[:5]))
    assert model.engine.forward(X32[:1], True, 1, check_finite=True) is not None
    for bad in (np.nan, np.inf, -np.inf):
        row = X32[:2].copy()
        row[1, 3] = bad
        assert model.engine.forward(row, True, 1, check_finite=True) is None
        with pytest.raises(ValueError, match="NaN or infinite"):
            model.predict(row)
        with pytest.raises(ValueError, match="NaN or infinite"):
            model.predict_proba(row)
    with pytest.raises(ValueError, match="features"):
        model.predict(X32[:1, :11])
