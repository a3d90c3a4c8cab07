"""Plain-NumPy twins of every kernel in fastnn.ops: the oracle of the tests.

Each function has the signature of its namesake in fastnn.ops, without
``out=`` and ``n_threads=``, and computes the same thing in the most
direct way, with float64 accumulation where the kernel uses it. Each
activation of ``fastnn/kinds.py`` has its twins ``<name>`` and
``<name>_backward(dy, y, [alpha], *, x)``.
"""

import numpy as np
from scipy.special import erfc, expit


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


def _weights(sample_weight, n):
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return w, w.sum()


def softmax_cross_entropy(z, labels, *, sample_weight=None, compute_grad=True):
    n = z.shape[0]
    rows = np.arange(n)
    w, total = _weights(sample_weight, n)
    per_row = _logsumexp(z)[:, 0] - z[rows, labels]
    loss = float(np.sum(w * per_row) / total)
    if not compute_grad:
        return loss, None
    dz = softmax(z).astype(np.float64)
    dz[rows, labels] -= 1
    return loss, (dz * (w / total)[:, None]).astype(z.dtype)


def _as_2d(z, y):
    z = np.asarray(z)
    z2 = z.reshape(z.shape[0], -1) if z.ndim == 1 else z
    return z2, np.asarray(y).reshape(z2.shape)


def sigmoid_cross_entropy(z, y, *, sample_weight=None, compute_grad=True):
    z, y = _as_2d(z, y)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    w, total = _weights(sample_weight, z.shape[0])
    per = np.maximum(z64, 0) - z64 * y64 + np.log1p(np.exp(-np.abs(z64)))
    loss = float(np.sum(w * per.mean(axis=1)) / total)
    if not compute_grad:
        return loss, None
    p = 0.5 * (1 + np.tanh(0.5 * z64))
    dz = (p - y64) * (w / (total * z.shape[1]))[:, None]
    return loss, dz.astype(z.dtype)


def mse(z, y, *, sample_weight=None, compute_grad=True):
    z, y = _as_2d(z, y)
    e = z.astype(np.float64) - y.astype(np.float64)
    w, total = _weights(sample_weight, z.shape[0])
    loss = float(np.sum(w * (e * e).mean(axis=1)) / total)
    if not compute_grad:
        return loss, None
    return loss, (2 * e * (w / (total * z.shape[1]))[:, None]).astype(z.dtype)


def poisson(z, y, *, sample_weight=None, compute_grad=True):
    """Half the Poisson deviance with a log link, less terms free of z: exp(z) - y z."""
    z, y = _as_2d(z, y)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    mu = np.exp(z64)
    w, total = _weights(sample_weight, z.shape[0])
    loss = float(np.sum(w * (mu - y64 * z64).mean(axis=1)) / total)
    if not compute_grad:
        return loss, None
    return loss, ((mu - y64) * (w / (total * z.shape[1]))[:, None]).astype(z.dtype)


def huber(z, y, *, delta=1.0, sample_weight=None, compute_grad=True):
    """PyTorch's HuberLoss(delta): e**2 / 2 within delta of the target, delta (|e| - delta / 2)
    beyond; the mean over a row's outputs, then the weighted mean over rows."""
    z, y = _as_2d(z, y)
    e = z.astype(np.float64) - y.astype(np.float64)
    inside = np.abs(e) <= delta
    per = np.where(inside, 0.5 * e * e, delta * (np.abs(e) - 0.5 * delta))
    w, total = _weights(sample_weight, z.shape[0])
    loss = float(np.sum(w * per.mean(axis=1)) / total)
    if not compute_grad:
        return loss, None
    g = np.where(inside, e, delta * np.sign(e))
    return loss, (g * (w / (total * z.shape[1]))[:, None]).astype(z.dtype)


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_G1, _G2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03)


def _mix64(z):
    z = np.asarray(z, np.uint64)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def dropout_mask(shape, rate, seed, step, layer=0):
    """The keep mask of fastnn's dropout (fastnn/_kernels/_dropout.pxd), in NumPy."""
    n, d = shape
    with np.errstate(over="ignore"):
        k = _mix64(np.uint64(seed) + np.uint64(step) * _G1 + np.uint64(layer))
        rows = _mix64(k ^ (np.arange(n, dtype=np.uint64) * _G2))
        h = _mix64(rows[:, None] + np.arange(d, dtype=np.uint64)[None, :] * _G1)
    threshold = np.uint64(int(rate * 2.0**32))
    return (h >> np.uint64(32)) >= threshold


def dropout(x, rate, seed, step, *, layer=0):
    keep = dropout_mask(x.shape, rate, seed, step, layer)
    return (x * (keep * x.dtype.type(1.0 / (1.0 - rate)))).astype(x.dtype)


def dropout_backward(dy, rate, seed, step, *, layer=0):
    return dropout(dy, rate, seed, step, layer=layer)


def relu(x):
    return np.where(x < 0, 0, x).astype(x.dtype)


def relu_backward(dy, y, *, x=None):
    return np.where(y > 0, dy, 0).astype(y.dtype)


def leaky_relu(x, alpha=0.01):
    return np.where(x < 0, alpha * x, x).astype(x.dtype)


def leaky_relu_backward(dy, y, alpha=0.01, *, x=None):
    return np.where(y > 0, dy, alpha * dy).astype(y.dtype)


def tanh(x):
    return np.tanh(x)


def tanh_backward(dy, y, *, x=None):
    return dy * (1 - y * y)


def sigmoid(x):
    x64 = x.astype(np.float64)
    return (0.5 * (1 + np.tanh(0.5 * x64))).astype(x.dtype)


def sigmoid_backward(dy, y, *, x=None):
    return dy * y * (1 - y)


def gelu(x):
    x64 = x.astype(np.float64)
    return (0.5 * x64 * erfc(-x64 * np.sqrt(0.5))).astype(x.dtype)


def gelu_backward(dy, y, *, x):
    x64 = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        pdf = np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
    return (dy * (0.5 * erfc(-x64 * np.sqrt(0.5)) + x64 * pdf)).astype(dy.dtype)


def silu(x):
    x64 = x.astype(np.float64)
    return (x64 * expit(x64)).astype(x.dtype)


def silu_backward(dy, y, *, x):
    s = expit(np.asarray(x, np.float64))
    return (dy * s * (1 + x * (1 - s))).astype(dy.dtype)


def nesterov_update(param, grad, velocity, lr, momentum=0.9, *, weight_decay=0.0):
    g = grad + weight_decay * param
    velocity[...] = momentum * velocity + g
    param -= lr * (g + momentum * velocity)
    return param


def nadam_update(param, grad, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
                 momentum_decay=4e-3, *, weight_decay=0.0):
    def mu(t):
        return beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    product = np.prod([mu(t) for t in range(1, step + 1)])
    g = grad + weight_decay * param
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    d = np.sqrt(v / (1 - beta2 ** step)) + eps
    param -= lr * (1 - mu(step)) / (1 - product) * g / d
    param -= lr * mu(step + 1) / (1 - product * mu(step + 1)) * m / d
    return param


def sgd_update(param, grad, lr, *, weight_decay=0.0):
    param -= lr * (grad + weight_decay * param)
    return param


def momentum_update(param, grad, velocity, lr, beta=0.9, *, weight_decay=0.0):
    velocity[...] = beta * velocity + (1 - beta) * (grad + weight_decay * param)
    param -= lr * velocity
    return param


def rmsprop_update(param, grad, sq_avg, lr, beta2=0.999, eps=1e-8, *, weight_decay=0.0):
    g = grad + weight_decay * param
    sq_avg[...] = beta2 * sq_avg + (1 - beta2) * g * g
    param -= lr * g / (np.sqrt(sq_avg) + eps)
    return param


def adam_update(param, grad, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, *,
                weight_decay=0.0):
    g = grad + weight_decay * param
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return param


def adamw_update(param, grad, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, *,
                 weight_decay=0.01):
    param *= 1 - lr * weight_decay
    return adam_update(param, grad, m, v, lr, step, beta1, beta2, eps)
