"""Microbenchmarks of fastnn's main kernels (pytest-benchmark), float32, 1 and 2 threads.

Run from the repository root: ``python -m pytest bench/ --benchmark-only``.
The normal test suite does not collect this file (``testpaths = ["tests"]``).
Every call goes through ``fastnn.ops`` with preallocated ``out=`` buffers.
"""

import numpy as np
import pytest

from fastnn import ops

pytest.importorskip("pytest_benchmark")

ROWS = (256, 8192)
THREADS = (1, 2)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


@pytest.fixture(params=ROWS, ids=lambda n: f"n{n}")
def rows(request):
    return request.param


@pytest.fixture(params=THREADS, ids=lambda t: f"{t}t")
def n_threads(request):
    return request.param


def bn_inputs(n, d=1024):
    x, dy = rand(n, d), rand(n, d, seed=1)
    gamma, beta = np.ones(d, np.float32), np.zeros(d, np.float32)
    _, mean, rstd = ops.batchnorm_forward(x, gamma, beta)
    return x, dy, gamma, beta, mean, rstd


def test_batchnorm_forward(benchmark, rows, n_threads):
    x, _, gamma, beta, _, _ = bn_inputs(rows)
    out = (np.empty_like(x), np.empty_like(gamma), np.empty_like(gamma))
    benchmark.group = f"batchnorm_forward {rows}x1024"
    benchmark(ops.batchnorm_forward, x, gamma, beta, out=out, n_threads=n_threads)


def test_batchnorm_backward(benchmark, rows, n_threads):
    x, dy, gamma, _, mean, rstd = bn_inputs(rows)
    out = (np.empty_like(x), np.empty_like(gamma), np.empty_like(gamma))
    benchmark.group = f"batchnorm_backward {rows}x1024"
    benchmark(ops.batchnorm_backward, dy, x, mean, rstd, gamma, out=out, n_threads=n_threads)


@pytest.mark.parametrize("n_classes", (10, 1000))
def test_softmax_cross_entropy(benchmark, rows, n_classes, n_threads):
    z = rand(rows, n_classes)
    labels = np.random.default_rng(0).integers(0, n_classes, rows)
    benchmark.group = f"softmax_cross_entropy {rows}x{n_classes}"
    benchmark(ops.softmax_cross_entropy, z, labels, out=np.empty_like(z), n_threads=n_threads)


def test_dense_forward(benchmark, rows, n_threads):
    x, W = rand(rows, 784), rand(784, 512, seed=1)
    benchmark.group = f"dense_forward {rows}x784 @ 784x512"
    benchmark(ops.dense_forward, x, W, out=np.empty((rows, 512), np.float32),
              n_threads=n_threads)


def test_dense_backward(benchmark, rows, n_threads):
    x, W, dy = rand(rows, 512), rand(512, 256, seed=1), rand(rows, 256, seed=2)
    out = (np.empty_like(x), np.empty_like(W), None)
    benchmark.group = f"dense_backward {rows}x512 -> 256"
    benchmark(ops.dense_backward, dy, x, W, bias=False, out=out, n_threads=n_threads)


@pytest.mark.parametrize("size", (535_040, 4_000_000), ids=("w1-params", "4M"))
def test_adam_update(benchmark, size, n_threads):
    param, grad = rand(size), rand(size, seed=1)
    m, v = np.zeros_like(param), np.zeros_like(param)
    benchmark.group = f"adam_update {size:,}"
    benchmark(ops.adam_update, param, grad, m, v, 1e-3, 10, n_threads=n_threads)
