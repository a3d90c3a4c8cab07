import io
import os

import fastnn
from fastnn._kernels import _info


def test_openmp_is_enabled_in_a_normal_build():
    # A build made with FASTNN_NO_OPENMP=1 must say so; any other build
    # on this platform (gcc with libgomp) must have OpenMP on.
    if os.environ.get("FASTNN_NO_OPENMP") == "1":
        assert not _info.openmp_enabled()
    else:
        assert _info.openmp_enabled(), "fastnn was built without OpenMP"
        assert fastnn.config()["openmp"] is True


def test_config_reports_version_threads_and_blas():
    cfg = fastnn.config()
    assert cfg["version"] == fastnn.__version__
    assert cfg["n_threads"] == fastnn.get_num_threads() >= 1
    assert cfg["isa"] in ("avx512", "avx2", "baseline")
    assert cfg["blas_backend"] in ("openblas", "mkl") and cfg["blas_choice"]
    assert len(cfg["blas"]) == 1, cfg["blas"]
    for lib in cfg["blas"]:
        assert lib["internal_api"] == cfg["blas_backend"]
        assert {"internal_api", "version", "threading_layer", "filepath"} <= set(lib)
    out = io.StringIO()
    fastnn.show_config(file=out)
    text = out.getvalue()
    assert f"fastnn {fastnn.__version__}" in text and "openmp:" in text and "blas:" in text
    assert f"kernels:   {cfg['isa']}" in text


def test_import_is_light(fresh_python):
    # import fastnn, training and prediction load no scipy at all: the kernels call the
    # BLAS library fastnn._kernels._backends loads (scipy-openblas32 or MKL), not scipy's
    code = ("import sys, fastnn, numpy as np; assert 'scipy' not in sys.modules\n"
            "m = fastnn.MLP(hidden=(4,), seed=0); m.fit(np.eye(6), np.arange(6) % 2, epochs=2)\n"
            "assert m.predict(np.eye(6)).shape == (6,)\n"
            "assert fastnn._kernels._backends.current is not None\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'scipy'], 'scipy loaded'")
    proc = fresh_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr
