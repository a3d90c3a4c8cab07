"""GEMM called from inside OpenMP threads, thousands of times: no hang, no wrong result.

One subprocess, with a time limit (a deadlock fails the tests instead of hanging
the suite), runs the four configurations one after the other, each 500 rounds of
forward, backward and a NumPy GEMM per Python thread; each test reads its line.
"""

import subprocess
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys, threading
    import numpy as np
    from fastnn import ops

    rng = np.random.default_rng(0)
    # above the threshold at which GEMMs split across OpenMP threads
    x = rng.standard_normal((64, 256)).astype(np.float32)
    W = rng.standard_normal((256, 128)).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    dy = rng.standard_normal((64, 128)).astype(np.float32)
    want_y = ops.dense_forward(x, W, b, n_threads=1)
    want = ops.dense_backward(dy, x, W, n_threads=1)
    ref_y = x.astype(np.float64) @ W + b
    assert np.allclose(want_y, ref_y, rtol=1e-4, atol=1e-3)

    def work(n_threads, bad):
        y = np.empty_like(want_y)
        try:
            for i in range(500):
                ops.dense_forward(x, W, b, out=y, n_threads=n_threads)
                got = ops.dense_backward(dy, x, W, n_threads=n_threads)
                # a numpy GEMM in between, on the process's other BLAS
                _ = x[:8] @ W
                if not np.array_equal(y, want_y) or not all(
                        np.array_equal(g, w) for g, w in zip(got, want)):
                    bad.append(i)
                    return
        except Exception as exc:              # an error in a thread fails its configuration
            bad.append(repr(exc))

    for config in sys.argv[1:]:
        n_threads, n_python_threads = map(int, config.split("-"))
        bad = []
        threads = [threading.Thread(target=work, args=(n_threads, bad))
                   for _ in range(n_python_threads)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(config, "bad", bad, flush=True)
""")
CONFIGS = [(1, 1), (2, 1), (1, 2), (2, 2)]          # (n_threads, Python threads)


@pytest.fixture(scope="module")
def stress_run(fresh_python):
    configs = [f"{n}-{p}" for n, p in CONFIGS]
    try:
        proc = fresh_python(SCRIPT, configs, timeout=300)
    except subprocess.TimeoutExpired as exc:       # a deadlock: every test says so
        return f"timed out after {exc.timeout} s; output so far:\n{exc.stdout or ''}"
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("n_threads, n_python_threads", CONFIGS)
def test_gemm_inside_openmp_region(stress_run, n_threads, n_python_threads):
    assert f"{n_threads}-{n_python_threads} bad []\n" in stress_run, stress_run
