import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn import ops
from fastnn._threads import blas_held


def _blas_threads():
    return sorted(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def test_default_and_set_num_threads():
    default = fastnn.get_num_threads()
    assert default >= 1
    try:
        fastnn.set_num_threads(1)
        assert fastnn.get_num_threads() == 1
        with pytest.raises(ValueError):
            fastnn.set_num_threads(0)
    finally:
        fastnn.set_num_threads(None)
    assert fastnn.get_num_threads() == default


def test_blas_is_held_at_one_thread_and_restored():
    ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))      # loads scipy's BLAS
    before = _blas_threads()
    with blas_held:
        assert all(n == 1 for n in _blas_threads())
        with blas_held:                                      # nested holders share it
            assert all(n == 1 for n in _blas_threads())
        assert all(n == 1 for n in _blas_threads())
    assert _blas_threads() == before


def test_concurrent_holders_restore_once_all_are_out():
    ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))
    before = _blas_threads()
    inside, release = threading.Barrier(3, timeout=30), threading.Event()
    seen = []

    def hold():
        with blas_held:
            inside.wait()
            release.wait(timeout=30)
            seen.append(_blas_threads())

    workers = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        inside.wait()
        during = _blas_threads()
    finally:
        release.set()
        for w in workers:
            w.join(timeout=30)
    assert all(n == 1 for n in during)
    assert len(seen) == 2 and all(all(n == 1 for n in s) for s in seen)
    assert _blas_threads() == before


@pytest.mark.parametrize("shape", [(64, 256, 128), (32, 784, 512), (1031, 45, 257), (512, 300, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemms_give_the_same_bits_at_any_thread_count(shape, dtype):
    # GEMMs are cut into blocks by shape alone: 1, 2, 3 or 4 threads, same bits.
    n, n_in, n_out = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    dy = rng.standard_normal((n, n_out)).astype(dtype)
    runs = [(ops.dense_forward(x, W, b, n_threads=t),) + ops.dense_backward(dy, x, W, n_threads=t)
            for t in (1, 2, 3, 4)]
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            np.testing.assert_array_equal(got, want)
