"""Central finite-difference checks, in float64, of every backward kernel.

Each op is wrapped as a scalar loss L = sum(output * R) for a fixed random
R, so the analytic input gradient is the op's backward pass applied to R.
"""

import numpy as np
import pytest

from conftest import numeric_grad

from fastnn import kinds, ops



def check(analytic, f, x):
    np.testing.assert_allclose(analytic, numeric_grad(f, x), rtol=1e-6, atol=1e-8)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_dense_gradients(rng, n_threads):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    R = rng.standard_normal((5, 3))

    def loss():
        return float(np.sum(ops.dense_forward(x, W, b, n_threads=n_threads) * R))

    dx, dW, db = ops.dense_backward(R, x, W, n_threads=n_threads)
    check(dx, loss, x)
    check(dW, loss, W)
    check(db, loss, b)


@pytest.mark.parametrize("relu", [False, True], ids=["plain", "relu"])
@pytest.mark.parametrize("shape", [(2, 1), (6, 3), (40, 2)], ids=str)
def test_batchnorm_gradients(rng, shape, relu):
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    R = rng.standard_normal(shape)

    def loss():
        return float(np.sum(ops.batchnorm_forward(x, gamma, beta, relu=relu)[0] * R))

    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, relu=relu)
    dx, dgamma, dbeta = ops.batchnorm_backward(R, x, mean, rstd, gamma, relu=relu,
                                               y=y if relu else None)
    check(dx, loss, x)
    check(dgamma, loss, gamma)
    check(dbeta, loss, beta)


@pytest.mark.parametrize("name", [row.name for row in kinds.ACTIVATIONS])
def test_activation_gradients(rng, name):
    x = rng.standard_normal((4, 5)) * 3
    x[np.abs(x) < 1e-3] = 0.5           # keep away from the ReLU kink
    R = rng.standard_normal(x.shape)
    forward, backward = getattr(ops, name), getattr(ops, name + "_backward")

    def loss():
        return float(np.sum(forward(x) * R))

    check(backward(R, forward(x), x=x), loss, x)


@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (8, 10)], ids=str)
def test_softmax_cross_entropy_gradient(rng, shape):
    z = rng.standard_normal(shape) * 3
    labels = rng.integers(0, shape[1], shape[0])

    def loss():
        return ops.softmax_cross_entropy(z, labels, compute_grad=False)[0]

    check(ops.softmax_cross_entropy(z, labels)[1], loss, z)


def test_softmax_and_log_softmax_gradients(rng):
    # d/dz sum(softmax(z) * R) = s * (R - sum(s * R)), checked against differences.
    z, R = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    s = ops.softmax(z)
    check(s * (R - np.sum(s * R, axis=1, keepdims=True)),
          lambda: float(np.sum(ops.softmax(z) * R)), z)
    check(R - s * R.sum(axis=1, keepdims=True),
          lambda: float(np.sum(ops.log_softmax(z) * R)), z)
