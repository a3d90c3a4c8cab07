"""GEMM called from inside OpenMP threads, thousands of times: no hang, no wrong result.

Each run is a subprocess with a time limit, so a deadlock fails the test
instead of hanging the suite.
"""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys, threading
    import numpy as np
    from fastnn import ops

    n_threads, n_python_threads = int(sys.argv[1]), int(sys.argv[2])
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
    bad = []

    def work():
        y = np.empty_like(want_y)
        for i in range(1500):
            ops.dense_forward(x, W, b, out=y, n_threads=n_threads)
            got = ops.dense_backward(dy, x, W, n_threads=n_threads)
            # a numpy GEMM in between, on the process's other BLAS
            _ = x[:8] @ W
            if not np.array_equal(y, want_y) or not all(
                    np.array_equal(g, w) for g, w in zip(got, want)):
                bad.append(i)
                return

    threads = [threading.Thread(target=work) for _ in range(n_python_threads)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("bad", bad)
    sys.exit(1 if bad else 0)
""")


@pytest.mark.parametrize("n_threads, n_python_threads", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_gemm_inside_openmp_region(n_threads, n_python_threads):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(n_threads), str(n_python_threads)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
