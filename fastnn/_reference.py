"""Plain-NumPy twins of every kernel in fastnn.ops: the oracle of the tests.

Each function has the signature of its namesake in fastnn.ops, without
``out=`` and ``n_threads=``, and computes the same thing in the most
direct way, with float64 accumulation where the kernel uses it.
"""

import numpy as np


def dense_forward(x, W, b=None):
    y = x @ W
    return y if b is None else y + b


def dense_backward(dy, x, W, *, bias=True, compute_dx=True):
    dx = dy @ W.T if compute_dx else None
    db = dy.sum(axis=0, dtype=np.float64).astype(x.dtype) if bias else None
    return dx, x.T @ dy, db


def _relu(y, relu):
    return np.maximum(y, 0) if relu else y


def batchnorm_forward(x, gamma, beta, eps=1e-5, *, relu=False, running_mean=None,
                      running_var=None, momentum=0.9):
    n = x.shape[0]
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0)
    var = ((x64 - mean) ** 2).mean(axis=0)
    rstd = 1.0 / np.sqrt(var + eps)
    y = _relu(gamma * ((x64 - mean) * rstd) + beta, relu)
    if running_mean is not None:
        running_mean[...] = momentum * running_mean + (1 - momentum) * mean
        running_var[...] = momentum * running_var + (1 - momentum) * var * n / (n - 1)
    dt = x.dtype
    return y.astype(dt), mean.astype(dt), rstd.astype(dt)


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5, *, relu=False):
    x64 = x.astype(np.float64)
    y = (x64 - running_mean) / np.sqrt(running_var.astype(np.float64) + eps) * gamma + beta
    return _relu(y, relu).astype(x.dtype)


def batchnorm_backward(dy, x, mean, rstd, gamma, *, relu=False, y=None):
    n = x.shape[0]
    g = dy.astype(np.float64)
    if relu:
        g = np.where(y > 0, g, 0.0)
    xhat = (x.astype(np.float64) - mean) * rstd
    dbeta = g.sum(axis=0)
    dgamma = (g * xhat).sum(axis=0)
    dx = gamma * rstd / n * (n * g - dbeta - xhat * dgamma)
    dt = x.dtype
    return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)


def _logsumexp(z):
    m = z.max(axis=1, keepdims=True)
    return np.log(np.exp(z.astype(np.float64) - m).sum(axis=1, keepdims=True)) + m


def softmax(z):
    e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(z.dtype)


def log_softmax(z):
    return (z - _logsumexp(z)).astype(z.dtype)


def softmax_cross_entropy(z, labels, *, compute_grad=True):
    n = z.shape[0]
    rows = np.arange(n)
    loss = float(np.mean(_logsumexp(z)[:, 0] - z[rows, labels]))
    if not compute_grad:
        return loss, None
    dz = softmax(z).astype(np.float64)
    dz[rows, labels] -= 1
    return loss, (dz / n).astype(z.dtype)


def relu(x):
    return np.where(x < 0, 0, x).astype(x.dtype)


def relu_backward(dy, y):
    return np.where(y > 0, dy, 0).astype(y.dtype)


def leaky_relu(x, alpha=0.01):
    return np.where(x < 0, alpha * x, x).astype(x.dtype)


def leaky_relu_backward(dy, y, alpha=0.01):
    return np.where(y > 0, dy, alpha * dy).astype(y.dtype)


def tanh(x):
    return np.tanh(x)


def tanh_backward(dy, y):
    return dy * (1 - y * y)


def sigmoid(x):
    x64 = x.astype(np.float64)
    return (0.5 * (1 + np.tanh(0.5 * x64))).astype(x.dtype)


def sigmoid_backward(dy, y):
    return dy * y * (1 - y)


def sgd_update(param, grad, lr):
    param -= lr * grad
    return param


def momentum_update(param, grad, velocity, lr, beta=0.9):
    velocity[...] = beta * velocity + (1 - beta) * grad
    param -= lr * velocity
    return param


def rmsprop_update(param, grad, sq_avg, lr, beta2=0.999, eps=1e-8):
    sq_avg[...] = beta2 * sq_avg + (1 - beta2) * grad * grad
    param -= lr * grad / (np.sqrt(sq_avg) + eps)
    return param


def adam_update(param, grad, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8):
    m[...] = beta1 * m + (1 - beta1) * grad
    v[...] = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return param
