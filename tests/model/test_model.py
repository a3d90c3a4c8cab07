import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import (MLP, SGD, Adam, BatchNorm, Dense, DivergedError, EarlyStopping,
                    ExponentialDecay, InverseTimeDecay, Momentum, ReLU, RMSprop, Sequential,
                    Softmax, StepDecay, Tanh)
from fastnn._threads import blas_held
from fastnn.datasets import load_digits, train_test_split
from fastnn.train import batch_bounds


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _blobs(n=200, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 4
    y = rng.integers(0, k, n)
    return centers[y] + rng.standard_normal((n, d)), y


def test_default_mlp_on_digits(digits):
    # The default MLP, default fit settings but 30 epochs, on stratified 25% test splits.
    X, y = digits
    accs = []
    for split in range(3):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=split)
        assert abs(np.bincount(y_te).min() - np.bincount(y_te).max()) <= 2   # stratified
        model = MLP(seed=split)
        model.fit(X_tr, y_tr, epochs=30)
        accs.append(model.evaluate(X_te, y_te)["accuracy"])
    assert np.mean(accs) >= 0.97, accs
    assert min(accs) >= 0.96, accs


def test_mlp_architecture():
    m = MLP(hidden=(8, 6), n_classes=4).build(5)
    kinds = [type(x).__name__ for x in m.layers]
    assert kinds == ["Dense", "BatchNorm", "ReLU", "Dense", "BatchNorm", "ReLU", "Dense", "Softmax"]
    dense = [p for x, p in zip(m.layers, m.plan) if isinstance(x, Dense)]
    assert [d.use_bias for d in dense] == [False, False, True]     # beta replaces the bias
    assert m.plan[1].fused_relu and m.plan[2].absorbed
    assert m.plan[-1].absorbed                                      # softmax fused with the loss
    assert m.n_params == (5 * 8 + 2 * 8) + (8 * 6 + 2 * 6) + (6 * 4 + 4)
    after = MLP(hidden=(8,), n_classes=2, bn_position="after").build(3)
    assert [type(x).__name__ for x in after.layers] == ["Dense", "ReLU", "BatchNorm", "Dense", "Softmax"]
    assert after.plan[0].use_bias and not after.plan[2].fused_relu
    assert "fused into BatchNorm" in m.summary()


def test_same_seed_same_model_and_fit_continues():
    X, y = _blobs()
    a, b = MLP(hidden=(16,), seed=5), MLP(hidden=(16,), seed=5)
    a.fit(X, y, epochs=6, batch_size=16, lr_decay=InverseTimeDecay(0.5))
    b.fit(X, y, epochs=2, batch_size=16, lr_decay=InverseTimeDecay(0.5))
    b.fit(X, y, epochs=4, batch_size=16, lr_decay=InverseTimeDecay(0.5))   # continues
    np.testing.assert_array_equal(a.get_weights()["params"], b.get_weights()["params"])
    np.testing.assert_array_equal(a.get_weights()["state"], b.get_weights()["state"])
    assert b.epochs_trained_ == 6 and len(b.history_) == 6
    assert b.history_["lr"] == pytest.approx([1e-3 / (1 + 0.5 * e) for e in range(6)])
    assert b.history_["epoch"] == [1, 2, 3, 4, 5, 6]


def test_batches_never_have_one_row():
    assert batch_bounds(33, 32) == [(0, 33)]
    assert batch_bounds(65, 32) == [(0, 32), (32, 65)]
    assert batch_bounds(64, 32) == [(0, 32), (32, 64)]
    assert batch_bounds(2, 32) == [(0, 2)]
    X, y = _blobs(n=33)
    MLP(hidden=(4,)).fit(X, y, epochs=2, batch_size=32)         # would fail on a 1-row batch


def test_running_averages_follow_the_ewma():
    # BatchNorm first sees X itself, so each step's batch statistics are known.
    X, y = _blobs(n=40, d=3)
    model = Sequential([BatchNorm(momentum=0.8), Dense(3), Softmax()], dtype="float64", seed=0)
    model.fit(X, y, epochs=3, batch_size=20, shuffle=False, optimizer=SGD(0.01))
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        for half in (X[:20], X[20:]):
            mean = 0.8 * mean + 0.2 * half.mean(axis=0)
            var = 0.8 * var + 0.2 * half.var(axis=0, ddof=1)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)
    # predict uses them: the test-time output, computed by hand
    xhat = (X - mean) / np.sqrt(var + 1e-5) * bn.gamma + bn.beta
    dense = model.layers[1]
    z = xhat @ dense.params["W"] + dense.params["b"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(model.predict_proba(X), p / p.sum(axis=1, keepdims=True), rtol=1e-10)


def test_train_and_test_outputs_agree_with_momentum_zero():
    X, y = _blobs(n=2000, d=5)
    model = MLP(hidden=(8,), n_classes=3, bn_momentum=0.0, dtype="float64", seed=0).build(5)
    model.classes_ = np.arange(3)
    ws = model.engine.workspace(2000)
    ws.x[...] = X
    ws.target[...] = y
    model.engine.train_step(ws, 1)                     # training mode, whole set as the batch
    train_logits = ws.acts[-1].copy()
    test_logits = model.engine.forward(np.ascontiguousarray(X), False, 1)
    # equal up to the running variance being the unbiased one: a factor sqrt(n / (n - 1))
    np.testing.assert_allclose(test_logits, train_logits, rtol=1e-3, atol=1e-3)
    assert np.array_equal(test_logits.argmax(1), train_logits.argmax(1))


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1, beta=0.9), RMSprop(0.01, beta2=0.9),
                                 Adam(0.1)], ids=lambda o: type(o).__name__)
def test_optimizers_minimize_a_parabola(opt):
    # J(w) = w^2 - 10 w + 25 = (w - 5)^2, from w = 0
    w = np.zeros(1)
    for _ in range(2000):
        opt.step([w], [2 * w - 10])
    assert w[0] == pytest.approx(5, abs=1e-2)


def test_optimizer_state_round_trip_and_misuse():
    opt = Adam(0.1)
    w = np.zeros(3)
    opt.step([w], [np.ones(3)])
    state = opt.state_dict()
    other = Adam(0.1)
    other.load_state_dict(state)
    a, b = w.copy(), w.copy()
    opt.step([a], [np.ones(3)])
    other.step([b], [np.ones(3)])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="other parameters"):
        opt.step([np.zeros(4)], [np.ones(4)])
    with pytest.raises(TypeError, match="lists of arrays"):
        opt.step(w, np.ones(3))
    with pytest.raises(ValueError, match="lr"):
        Adam(lr=-1)
    assert fastnn.optim.optimizer_from_config(opt.get_config()).get_config() == opt.get_config()


def test_decay_schedules():
    assert InverseTimeDecay(1.0)(3, 0.4) == pytest.approx(0.1)
    assert ExponentialDecay(0.5)(2, 1.0) == pytest.approx(0.25)
    assert StepDecay(10, 0.1)(25, 1.0) == pytest.approx(0.01)
    X, y = _blobs(n=40)
    h = MLP(hidden=(4,)).fit(X, y, epochs=3, optimizer=SGD(0.1), lr_decay=lambda e, lr0: lr0 / 2 ** e)
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(TypeError, match="lr_decay"):
        MLP(hidden=(4,)).fit(X, y, lr_decay=0.1)


def test_string_labels_and_predict(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = MLP(hidden=(32,), seed=0)
    model.fit(X[:600], names[y[:600]], epochs=10)
    assert list(model.classes_) == sorted(names)
    pred = model.predict(X[600:700])
    assert pred.dtype.kind == "U" and np.mean(pred == names[y[600:700]]) > 0.85
    proba = model.predict_proba(X[600:700])
    assert proba.shape == (100, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert model.evaluate(X[600:700], names[y[600:700]])["accuracy"] == np.mean(pred == names[y[600:700]])


def test_validation_of_fit_and_predict_inputs():
    X, y = _blobs(n=30)
    model = MLP(hidden=(4,))
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(X)
    with pytest.raises(ValueError, match="2-dimensional"):
        model.fit(X[:, 0], y)
    with pytest.raises(ValueError, match=r"shape \(30,\)"):
        model.fit(X, y[:10])
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.where(X > 3, np.nan, X), y)
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        model.fit(X, y, batch_size=1)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(X, y, epochs=0)
    with pytest.raises(TypeError, match="optimizer"):
        model.fit(X, y, optimizer="adam")
    with pytest.raises(ValueError, match="X_val has 3 features"):
        model.fit(X, y, validation_data=(X[:, :3], y))
    assert model.classes_ is None and not model.built      # failed fits changed nothing
    model.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="3 features but the model takes 4"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="does not know"):
        model.evaluate(X, y + 10)
    with pytest.raises(ValueError, match="does not know"):
        model.fit(X, y, validation_data=(X, y + 10))
    with pytest.raises(ValueError, match="single sample"):
        model.predict(X[0])
    with pytest.raises(ValueError, match="Softmax can only be the last layer"):
        Sequential([Dense(3), Softmax(), Dense(2)])
    with pytest.raises(ValueError, match="at least one layer before"):
        Sequential([Softmax()])
    with pytest.raises(ValueError, match="hidden"):
        MLP(hidden=(0,))
    with pytest.raises(ValueError, match="activation"):
        MLP(activation="elu")
    # no batch norm: batches of one row are plain stochastic gradient descent
    MLP(hidden=(4,), batch_norm=False).fit(X, y, epochs=1, batch_size=1)


def test_divergence_raises():
    X, y = _blobs(n=64)
    model = MLP(hidden=(8,), batch_norm=False, seed=0)
    with pytest.raises(DivergedError, match="lower the learning rate") as info:
        model.fit(X * 1e3, y, epochs=50, optimizer=SGD(1e12))
    assert info.value.epoch >= 1


def test_early_stopping_restores_the_best_epoch():
    X, y = _blobs(n=200, seed=1)
    X_val, y_val = _blobs(n=100, seed=2)
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    model = MLP(hidden=(32,), seed=0)
    h = model.fit(X, y, epochs=200, optimizer=Adam(0.05), validation_data=(X_val, y_val),
                  callbacks=[stopper])
    assert len(h) < 200
    assert model.evaluate(X_val, y_val)["loss"] == pytest.approx(stopper.best, rel=1e-6)
    calls = []
    MLP(hidden=(4,)).fit(X, y, epochs=5, callbacks=lambda m, e, logs: calls.append(e) or e == 2)
    assert calls == [1, 2]


def test_training_step_allocates_nothing():
    X, y = _blobs(n=512, d=64)
    model = MLP(hidden=(256, 128), seed=0)
    model.fit(X, y, epochs=1, batch_size=128)
    ws = model.engine.workspace(128)
    opt = model.optimizer
    # BLAS held at one thread as fit holds it (OpenBLAS's own threads, left spinning
    # between steps, make each step 100x slower on a busy machine)
    with blas_held:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for _ in range(20):
                model.engine.train_step(ws, 1)
                opt.step([model.engine.params], [model.engine.grads])
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    # the step touches ~1 MB of buffers; what it allocates is a few small Python objects
    assert peak < 8192, peak


def test_other_activations_and_plain_sequential():
    X, y = _blobs(n=300, d=4, k=3, seed=3)
    for act in ("tanh", "sigmoid", "leaky_relu"):
        m = MLP(hidden=(16,), activation=act, seed=0)
        m.fit(X, y, epochs=20)
        assert m.evaluate(X, y)["accuracy"] > 0.9, act
    m = Sequential([Dense(16), Tanh(), Dense(16), ReLU(), Dense(None), Softmax()], seed=0)
    m.fit(X, y, epochs=20)
    assert m.evaluate(X, y)["accuracy"] > 0.9
    assert m.plan[0].use_bias and not m.plan[0].he_init and m.plan[2].he_init


@pytest.mark.parametrize("opt", [SGD(0.05), Momentum(0.05), RMSprop(0.01), Adam(0.01)],
                         ids=lambda o: type(o).__name__)
def test_compiled_epoch_equals_steps_driven_from_python(opt):
    # fit runs a whole epoch in compiled code; the same batches, stepped one by
    # one through train_step and Optimizer.step, must give the same weights.
    X, y = _blobs(n=100, d=6)
    a = MLP(hidden=(8, 5), seed=0, dtype="float64")
    a.fit(X, y, epochs=2, batch_size=16, optimizer=opt, shuffle=False)
    b = MLP(hidden=(8, 5), n_classes=3, seed=0, dtype="float64").build(6)   # a's initial weights
    fresh = type(opt)(**{k: v for k, v in opt.get_config().items() if k != "name"})
    Xc = np.ascontiguousarray(X)
    for _ in range(2):
        for lo, hi in batch_bounds(100, 16):
            ws = b.engine.workspace(hi - lo)
            ws.x[...] = Xc[lo:hi]
            ws.target[...] = y[lo:hi]
            b.engine.train_step(ws, 1)
            fresh.step([b.engine.params], [b.engine.grads])
    np.testing.assert_array_equal(a.get_weights()["params"], b.get_weights()["params"])
    np.testing.assert_array_equal(a.get_weights()["state"], b.get_weights()["state"])
