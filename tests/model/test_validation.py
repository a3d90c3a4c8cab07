"""Public functions reject bad input with a message that says what was wrong."""

import numpy as np
import pytest

from fastnn import ops

X = np.ones((4, 3))
W = np.ones((3, 2))


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.dense_forward(np.ones(3), W), ValueError, "2-dimensional"),
    (lambda: ops.dense_forward(X, np.ones((4, 2))), ValueError, r"W must have shape \(3, n_out\)"),
    (lambda: ops.dense_forward(X, W, np.ones(3)), ValueError, r"b must have shape \(2,\)"),
    (lambda: ops.dense_forward(X.astype(np.float32), W), TypeError, "dtype float64 but x has dtype float32"),
    (lambda: ops.dense_forward(np.ones((0, 3)), W), ValueError, "must not be empty"),
    (lambda: ops.dense_forward(np.array([["a"]]), W), TypeError, "real numbers"),
    (lambda: ops.dense_forward(X, W, out=np.empty((4, 3))), ValueError, r"shape \(4, 2\)"),
    (lambda: ops.dense_forward(X, W, out=np.empty((4, 2), np.float32)), ValueError, "dtype float64"),
    (lambda: ops.dense_forward(X, W, out=np.empty((2, 4)).T), ValueError, "C-contiguous"),
    (lambda: ops.dense_forward(X, W, out=[0]), TypeError, "numpy array"),
    (lambda: ops.dense_forward(X, W, n_threads=0), ValueError, "at least 1"),
    (lambda: ops.dense_forward(X, W, n_threads=1.5), TypeError, "positive integer"),
    (lambda: ops.dense_forward(X, W, n_threads=True), TypeError, "positive integer"),
    (lambda: ops.dense_backward(np.ones((4, 5)), X, W), ValueError, "shapes do not match"),
    (lambda: ops.dense_backward(np.ones((4, 2)), X, W, out=(None,)), TypeError, "tuple of 3"),
    (lambda: ops.batchnorm_forward(X, np.ones(2), np.zeros(3)), ValueError, "gamma"),
    (lambda: ops.batchnorm_forward(X, np.ones(3), np.zeros(3), eps=0), ValueError, "eps must be > 0"),
    (lambda: ops.batchnorm_forward(X, np.ones(3), np.zeros(3), momentum=1.5), ValueError, "momentum"),
    (lambda: ops.batchnorm_forward(X, np.ones(3), np.zeros(3), running_mean=np.zeros(3)),
     ValueError, "both running_mean and running_var"),
    (lambda: ops.batchnorm_forward(X, np.ones(3), np.zeros(3), running_mean=[0, 0, 0],
                                   running_var=np.ones(3)), TypeError, "updated in place"),
    (lambda: ops.batchnorm_inference(X, np.ones(3), np.zeros(3), np.zeros(3), -np.ones(3)),
     ValueError, "non-negative"),
    (lambda: ops.batchnorm_backward(X, X, np.zeros(3), np.ones(3), np.ones(3), relu=True),
     ValueError, "needs y"),
    (lambda: ops.softmax_cross_entropy(X, [0, 1, 2, 3]), ValueError, r"in \[0, 2\]"),
    (lambda: ops.softmax_cross_entropy(X, [0, 1, -1, 0]), ValueError, r"in \[0, 2\]"),
    (lambda: ops.softmax_cross_entropy(X, [0.0, 1.0, 2.0, 0.0]), TypeError, "integer class"),
    (lambda: ops.softmax_cross_entropy(X, [0, 1]), ValueError, r"shape \(4,\)"),
    (lambda: ops.leaky_relu(X, alpha=-1), ValueError, "alpha"),
    (lambda: ops.relu_backward(np.ones(3), X), ValueError, "shape of y"),
    (lambda: ops.sgd_update([1.0, 2.0], [1.0, 1.0], 0.1), TypeError, "updated in place"),
    (lambda: ops.sgd_update(np.ones(3), np.ones(3), -0.1), ValueError, "lr must be >= 0"),
    (lambda: ops.sgd_update(np.ones(3), np.ones(3), float("nan")), ValueError, "finite"),
    (lambda: ops.momentum_update(np.ones(3), np.ones(3), np.zeros(3), 0.1, beta=1.0), ValueError, "beta"),
    (lambda: ops.adam_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 0.1, step=0),
     ValueError, "step"),
    (lambda: ops.rmsprop_update(np.ones(3), np.ones(3), np.zeros(2), 0.1), ValueError, "shape of param"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_output_overlapping_an_input_is_refused():
    x = np.ones((4, 4))
    with pytest.raises(ValueError, match="overlap"):
        ops.dense_forward(x, np.ones((4, 4)), out=x)
    p = np.ones(6)
    with pytest.raises(ValueError, match="overlap"):
        ops.sgd_update(p, p, 0.1)


def test_integer_inputs_are_converted():
    y = ops.dense_forward([[1, 2]], [[1], [1]])
    assert y.dtype == np.float64 and y[0, 0] == 3
