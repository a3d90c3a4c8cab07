"""Every kernel against its NumPy twin in fastnn._reference.

Shapes cover n = 2, a single feature, and sizes below and above the
thresholds at which kernels fork threads (32,768 elements; 262,144
multiply-adds for a GEMM).
"""

import numpy as np
import pytest
from conftest import assert_close

from fastnn import _reference as ref
from fastnn import kinds, ops

BATCH_SHAPES = [(2, 1), (2, 7), (5, 1), (33, 3), (64, 600), (300, 257), (1025, 33)]
DENSE_SHAPES = [(1, 1, 1), (2, 3, 1), (7, 1, 5), (64, 128, 64), (300, 97, 130), (1000, 64, 10),
                (32, 256, 512), (17, 300, 70),  # these two split output columns
                (1, 40, 30), (1, 300, 600)]     # one row: GEMV
ACTIVATIONS = [row.name for row in kinds.ACTIVATIONS]


def _data(rng, shape, dtype, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense(rng, dtype, n_threads, shape):
    n, n_in, n_out = shape
    x, W, b = _data(rng, (n, n_in), dtype), _data(rng, (n_in, n_out), dtype), _data(rng, n_out, dtype)
    dy = _data(rng, (n, n_out), dtype)
    assert_close(ops.dense_forward(x, W, b, n_threads=n_threads), ref.dense_forward(x, W, b), dtype)
    assert_close(ops.dense_forward(x, W, n_threads=n_threads), ref.dense_forward(x, W), dtype)
    for got, want in zip(ops.dense_backward(dy, x, W, n_threads=n_threads),
                         ref.dense_backward(dy, x, W)):
        assert_close(got, want, dtype, scale=n)
    dx, dW, db = ops.dense_backward(dy, x, W, bias=False, compute_dx=False, n_threads=n_threads)
    assert dx is None and db is None
    assert_close(dW, x.T @ dy, dtype, scale=n)


@pytest.mark.parametrize("relu", [False, True], ids=["plain", "relu"])
@pytest.mark.parametrize("shape", BATCH_SHAPES, ids=str)
def test_batchnorm_forward_backward(rng, dtype, n_threads, shape, relu):
    x = _data(rng, shape, dtype, scale=3.0, shift=2.0)
    gamma, beta = _data(rng, shape[1], dtype), _data(rng, shape[1], dtype)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, relu=relu, n_threads=n_threads)
    for got, want in zip((y, mean, rstd), ref.batchnorm_forward(x, gamma, beta, relu=relu)):
        assert_close(got, want, dtype)
    dy = _data(rng, shape, dtype)
    mask = y if relu else None
    got = ops.batchnorm_backward(dy, x, mean, rstd, gamma, relu=relu, y=mask, n_threads=n_threads)
    want = ref.batchnorm_backward(dy, x, mean, rstd, gamma, relu=relu, y=mask)
    for g, w in zip(got, want):
        assert_close(g, w, dtype, scale=shape[0])


@pytest.mark.parametrize("shape", BATCH_SHAPES, ids=str)
def test_batchnorm_running_and_inference(rng, dtype, n_threads, shape):
    x = _data(rng, shape, dtype, scale=2.0, shift=-1.0)
    gamma, beta = _data(rng, shape[1], dtype), _data(rng, shape[1], dtype)
    rm, rv = _data(rng, shape[1], dtype), np.abs(_data(rng, shape[1], dtype)) + 0.5
    rm2, rv2 = rm.copy(), rv.copy()
    ops.batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv, momentum=0.8,
                          n_threads=n_threads)
    ref.batchnorm_forward(x, gamma, beta, running_mean=rm2, running_var=rv2, momentum=0.8)
    assert_close(rm, rm2, dtype)
    assert_close(rv, rv2, dtype)
    for relu in (False, True):
        assert_close(ops.batchnorm_inference(x, gamma, beta, rm, rv, relu=relu, n_threads=n_threads),
                     ref.batchnorm_inference(x, gamma, beta, rm, rv, relu=relu), dtype)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 10), (300, 10), (40, 1000)], ids=str)
def test_softmax_family(rng, dtype, n_threads, shape):
    z = _data(rng, shape, dtype, scale=4.0)
    labels = rng.integers(0, shape[1], shape[0])
    assert_close(ops.softmax(z, n_threads=n_threads), ref.softmax(z), dtype)
    assert_close(ops.log_softmax(z, n_threads=n_threads), ref.log_softmax(z), dtype)
    loss, dz = ops.softmax_cross_entropy(z, labels, n_threads=n_threads)
    loss_ref, dz_ref = ref.softmax_cross_entropy(z, labels)
    assert isinstance(loss, float)
    assert_close(loss, loss_ref, dtype)
    assert_close(dz, dz_ref, dtype)
    loss_only, none = ops.softmax_cross_entropy(z, labels, compute_grad=False, n_threads=n_threads)
    assert none is None and loss_only == loss


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1,), (3, 1), (17, 5), (200, 300), (4, 5, 6)], ids=str)
def test_activations(rng, dtype, n_threads, name, shape):
    x = _data(rng, shape, dtype, scale=3.0)
    dy = _data(rng, shape, dtype)
    y = getattr(ops, name)(x, n_threads=n_threads)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert_close(y, getattr(ref, name)(x), dtype)
    dx = getattr(ops, name + "_backward")(dy, y, x=x, n_threads=n_threads)
    assert_close(dx, getattr(ref, name + "_backward")(dy, y, x=x), dtype)


@pytest.mark.parametrize("rule", ["sgd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("shape", [(1,), (7, 3), (300, 200)], ids=str)
def test_optimizer_updates(rng, dtype, n_threads, rule, shape):
    w, g = _data(rng, shape, dtype), _data(rng, shape, dtype)
    s1, s2 = _data(rng, shape, dtype) * 0.1, np.abs(_data(rng, shape, dtype)) * 0.1
    mine = [a.copy() for a in (w, s1, s2)]
    theirs = [a.copy() for a in (w, s1, s2)]
    for step in (1, 2, 3):
        if rule == "sgd":
            ops.sgd_update(mine[0], g, 0.05, n_threads=n_threads)
            ref.sgd_update(theirs[0], g, 0.05)
        elif rule == "momentum":
            ops.momentum_update(mine[0], g, mine[1], 0.05, 0.8, n_threads=n_threads)
            ref.momentum_update(theirs[0], g, theirs[1], 0.05, 0.8)
        elif rule == "rmsprop":
            ops.rmsprop_update(mine[0], g, mine[2], 0.01, 0.99, 1e-6, n_threads=n_threads)
            ref.rmsprop_update(theirs[0], g, theirs[2], 0.01, 0.99, 1e-6)
        else:
            ops.adam_update(mine[0], g, mine[1], mine[2], 0.01, step, 0.9, 0.99, 1e-6,
                            n_threads=n_threads)
            ref.adam_update(theirs[0], g, theirs[1], theirs[2], 0.01, step, 0.9, 0.99, 1e-6)
    for a, b in zip(mine, theirs):
        assert_close(a, b, dtype)


def test_non_contiguous_and_read_only_inputs(rng, dtype):
    big = _data(rng, (40, 60), dtype)
    x = big[:, ::2]                       # strided view
    W = np.asfortranarray(_data(rng, (30, 20), dtype))
    b = _data(rng, 20, dtype)
    for arr in (big, W, b):
        arr.setflags(write=False)
    assert_close(ops.dense_forward(x, W, b), ref.dense_forward(x, W, b), dtype)
    gamma, beta = np.ones(30, dtype), np.zeros(30, dtype)
    gamma.setflags(write=False)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
    assert_close(y, ref.batchnorm_forward(x, gamma, beta)[0], dtype)
    assert_close(ops.softmax(x), ref.softmax(np.ascontiguousarray(x)), dtype)
    labels = np.arange(40) % 30
    labels.setflags(write=False)
    assert_close(ops.softmax_cross_entropy(x, labels)[1],
                 ref.softmax_cross_entropy(np.ascontiguousarray(x), labels)[1], dtype)
    assert_close(ops.tanh(x), np.tanh(x), dtype)


def test_thread_count_does_not_change_reductions(rng):
    # Reductions merge fixed chunks in order, so 1 and 2 threads give the same bits.
    x = _data(rng, (1000, 100), np.float32, scale=5.0, shift=3.0)
    gamma, beta = np.ones(100, np.float32), np.zeros(100, np.float32)
    one = ops.batchnorm_forward(x, gamma, beta, n_threads=1)
    two = ops.batchnorm_forward(x, gamma, beta, n_threads=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    dy = _data(rng, (1000, 100), np.float32)
    for a, b in zip(ops.batchnorm_backward(dy, x, one[1], one[2], gamma, n_threads=1),
                    ops.batchnorm_backward(dy, x, one[1], one[2], gamma, n_threads=2)):
        np.testing.assert_array_equal(a, b)
    labels = rng.integers(0, 100, 1000)
    assert (ops.softmax_cross_entropy(x, labels, n_threads=1)[0]
            == ops.softmax_cross_entropy(x, labels, n_threads=2)[0])


def test_out_buffers_are_used(rng, dtype):
    x, W = _data(rng, (8, 4), dtype), _data(rng, (4, 3), dtype)
    y = np.empty((8, 3), dtype)
    assert ops.dense_forward(x, W, out=y) is y
    dy = _data(rng, (8, 3), dtype)
    bufs = (np.empty_like(x), np.empty_like(W), np.empty(3, dtype))
    got = ops.dense_backward(dy, x, W, out=bufs)
    assert all(g is b for g, b in zip(got, bufs))
    z = x.copy()
    assert ops.relu(z, out=z) is z                      # in place is allowed
    assert_close(z, np.maximum(x, 0), dtype)
    assert ops.softmax(z, out=z) is z
    bn = (np.empty_like(x), np.empty(4, dtype), np.empty(4, dtype))
    got = ops.batchnorm_forward(x, np.ones(4, dtype), np.zeros(4, dtype), out=bn)
    assert all(g is b for g, b in zip(got, bn))
