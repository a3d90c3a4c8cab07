"""A layer written in NumPy trains inside a Sequential, through the compiled epoch."""

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Dense, Layer, ReLU, Sequential, Softmax
from fastnn.datasets import load_digits, train_test_split


class Scale(Layer):
    """y = x * s, one learned scale per feature."""

    def param_shapes(self, place):
        return {"s": (self.n_in,)}

    def initialize(self, params, state, rng, place):
        params["s"][...] = 1 + 0.1 * rng.standard_normal(self.n_in)

    def forward(self, x, training):
        return x * self.params["s"]

    def backward(self, x, y, dy):
        self.grads["s"][...] = (dy * x).sum(axis=0)
        return dy * self.params["s"]


class PyDense(Layer):
    """A dense layer in NumPy: widens or narrows like the compiled one."""

    decayed = ("W",)

    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, n_in):
        self.n_in, self.n_out = n_in, self.units
        return self.units

    def param_shapes(self, place):
        return {"W": (self.n_in, self.n_out), "b": (self.n_out,)}

    def initialize(self, params, state, rng, place):
        params["W"][...] = rng.standard_normal(params["W"].shape) / np.sqrt(self.n_in)
        params["b"][...] = 0

    def forward(self, x, training):
        return x @ self.params["W"] + self.params["b"]

    def backward(self, x, y, dy):
        self.grads["W"][...] = x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class Broken(Scale):
    def forward(self, x, training):
        if training:
            raise ArithmeticError("broken on purpose")
        return x


def test_python_layer_gradient_check():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    model = Sequential([Scale(), PyDense(6), ReLU(), Dense(3), Softmax()], dtype="float64", seed=0)
    model.prepare(X, y)
    ws = model.engine.workspace(10)
    ws.x[...] = X
    ws.target[...] = y
    model.engine.train_step(ws, 1)
    analytic = model.engine.grads.copy()
    numeric = np.empty_like(analytic)
    for i in range(model.engine.params.size):
        old = model.engine.params[i]
        model.engine.params[i] = old + 1e-6
        hi = model.engine.train_step(ws, 1)[0]
        model.engine.params[i] = old - 1e-6
        lo = model.engine.train_step(ws, 1)[0]
        model.engine.params[i] = old
        numeric[i] = (hi - lo) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    assert np.abs(analytic[:4]).max() > 1e-4          # Scale's own gradient is checked too


def test_python_layers_train_on_digits():
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    model = Sequential([Scale(), PyDense(64), ReLU(), Dense(None), Softmax()], seed=0)
    model.fit(X_tr / 16, y_tr, epochs=15, optimizer=fastnn.Adam(3e-3, weight_decay=1e-4))
    assert model.evaluate(X_te / 16, y_te)["accuracy"] > 0.95
    assert model.predict(X_te[:3] / 16).shape == (3,)


def test_python_layer_matches_the_compiled_dense():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    a = Sequential([PyDense(8), ReLU(), Dense(3), Softmax()], dtype="float64", seed=0)
    b = Sequential([Dense(8, init="xavier"), ReLU(), Dense(3), Softmax()], dtype="float64", seed=0)
    a.prepare(X, y), b.prepare(X, y)
    b.set_weights(a.get_weights())
    a.fit(X, y, epochs=3, batch_size=16, optimizer=SGD(0.1, weight_decay=0.01), seed=1)
    b.fit(X, y, epochs=3, batch_size=16, optimizer=SGD(0.1, weight_decay=0.01), seed=1)
    np.testing.assert_allclose(a.get_weights()["params"], b.get_weights()["params"], rtol=1e-10)


def test_python_layer_errors_surface(tmp_path):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    model = Sequential([Broken(), Dense(None), Softmax()], seed=0)
    model.prepare(X, y)
    before = model.get_weights()["params"]
    with pytest.raises(ArithmeticError, match="broken on purpose"):
        model.fit(X, y, epochs=1)
    np.testing.assert_array_equal(model.get_weights()["params"], before)   # no update made
    assert model.predict(X).shape == (20,)                                  # test time works

    class Wrong(Scale):
        def forward(self, x, training):
            return x[:, :1]

    bad = Sequential([Wrong(), Dense(None), Softmax()])
    with pytest.raises(ValueError, match=r"Wrong.forward returned shape \(20, 1\)"):
        bad.fit(X, y)
    Sequential([Scale(), Dense(None), Softmax()]).fit(X, y, epochs=1)      # a good one fits
    with pytest.raises(TypeError, match="cannot be saved"):
        Sequential([Scale(), Dense(None), Softmax()]).prepare(X, y).save(tmp_path / "m.fnn")
