import numpy as np
import pytest

DTYPES = (np.float32, np.float64)
N_THREADS = (1, 2)


def tolerance(dtype):
    """(rtol, atol) for comparing a kernel with its NumPy twin."""
    return (2e-4, 2e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-12)


def assert_close(actual, expected, dtype, scale=1.0):
    rtol, atol = tolerance(dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


def numeric_grad(f, x, eps=1e-6):
    """d f() / dx by central differences, perturbing each element of x in turn."""
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f()
        flat[i] = old - eps
        lo = f()
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return grad


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param


@pytest.fixture(params=N_THREADS, ids=lambda n: f"{n}thr")
def n_threads(request):
    return request.param
