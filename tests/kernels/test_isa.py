"""Every instruction-set variant of the kernels passes the kernel tests.

The process loads one variant (the best the CPU runs, or FASTNN_ISA's), so
each variant runs the parity and gradient tests in a process of its own
(a fresh one from the fresh_python fixture: FASTNN_ISA is read when the
kernels load).
"""

import os
from pathlib import Path

import pytest

from fastnn import _kernels

ROOT = Path(__file__).resolve().parents[2]
KERNEL_TESTS = ["tests/kernels/test_ops_parity.py", "tests/kernels/test_gradients.py", "tests/kernels/test_softmax.py",
                "tests/kernels/test_batchnorm.py", "tests/model/test_model_gradients.py"]


PYTEST = "import sys, pytest; sys.exit(pytest.main())"     # python -m pytest, in short


def _run(fresh_python, code, isa, args=()):
    env = dict(os.environ, FASTNN_ISA=isa)
    return fresh_python(code, args, env=env, cwd=ROOT, timeout=600)


def test_the_best_available_variant_is_loaded():
    if not os.environ.get("FASTNN_ISA"):
        assert _kernels.isa == _kernels.available_isas()[0]
    assert _kernels.available_isas()[-1] == "baseline"


@pytest.mark.parametrize("isa", _kernels.ISAS)
def test_each_variant(isa, fresh_python):
    if isa not in _kernels.available_isas():
        proc = _run(fresh_python, "import fastnn; fastnn.config()", isa)
        assert proc.returncode != 0 and f"FASTNN_ISA={isa}" in proc.stderr or "not in this build" in proc.stderr
        return
    proc = _run(fresh_python, "import fastnn._kernels as k; print(k.isa)", isa)
    assert proc.stdout.strip() == isa, proc.stderr
    if isa == _kernels.isa:
        return                     # this process ran the kernel tests on it already
    # the kernel tests use no hypothesis: its plugin would only add a quarter second
    proc = _run(fresh_python, PYTEST, isa, ["-q", "-x", "-p", "no:cacheprovider",
                                            "-p", "no:hypothesispytest", *KERNEL_TESTS])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_an_unknown_variant_is_refused(fresh_python):
    proc = _run(fresh_python, "import fastnn; fastnn.config()", "sse9")
    assert proc.returncode != 0 and "FASTNN_ISA='sse9'" in proc.stderr
