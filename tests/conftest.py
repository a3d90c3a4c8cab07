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


@pytest.fixture
def in_process():
    """Run a script (bench/compare.py) in this process, as ``python script ...`` would,
    and put things back afterwards.

    Yields ``run(path, argv)``, which runs ``path`` as ``__main__`` with ``sys.argv``
    set and returns its exit status. A child interpreter would spend seconds loading
    NumPy, fastnn and PyTorch, which the test session has loaded already. Afterwards
    ``sys.path`` and ``sys.argv`` are as they were, the modules imported from folders
    put on ``sys.path`` meanwhile (bench/'s flat ``timing``, ``report``...) are
    forgotten, and PyTorch's thread count (which the benchmarks set) is restored.
    """
    import os
    import runpy
    import sys

    saved_path, saved_argv, saved_modules = list(sys.path), list(sys.argv), set(sys.modules)
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None

    def run(path, argv):
        sys.argv[:] = [str(path), *map(str, argv)]
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return 0

    try:
        yield run
    finally:
        added = {os.path.realpath(p) for p in sys.path if p not in saved_path}
        sys.path[:], sys.argv[:] = saved_path, saved_argv
        for name in set(sys.modules) - saved_modules:
            where = getattr(sys.modules[name], "__file__", None)
            if where and os.path.dirname(os.path.realpath(where)) in added:
                del sys.modules[name]
        if torch_threads is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
