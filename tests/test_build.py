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
    assert cfg["blas"], "no BLAS library found"
    for lib in cfg["blas"]:
        assert {"internal_api", "version", "threading_layer", "filepath"} <= set(lib)
    out = io.StringIO()
    fastnn.show_config(file=out)
    text = out.getvalue()
    assert f"fastnn {fastnn.__version__}" in text and "openmp:" in text and "blas:" in text
    assert f"kernels:   {cfg['isa']}" in text


def test_import_is_light():
    # import fastnn must not load scipy.linalg (a third of a second): the
    # kernels, which need its BLAS, load on first use.
    import subprocess
    import sys

    code = ("import sys, fastnn; assert 'scipy.linalg' not in sys.modules; "
            "fastnn.MLP(hidden=(4,)).build(3, 2); assert 'scipy.linalg' in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
