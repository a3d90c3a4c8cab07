"""The BLAS backends (fastnn._kernels._backends): OpenBLAS from scipy-openblas32, MKL from the
``mkl`` extra, chosen by FASTNN_BLAS, bound at run time.

Each backend is tested in a fresh process of its own (FASTNN_BLAS is read once, when the
kernels first load). Tests that need MKL skip when it is not installed, unless
FASTNN_TEST_MKL=1 (set by .ci/run, which installs the extra) makes its absence a failure.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn
from fastnn._kernels import _backends, _blas
from fastnn._threads import blas_held

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mkl_installed() -> bool:
    try:
        _backends.load("mkl")
    except ImportError:
        return False
    return True


MKL = _mkl_installed()
if not MKL and os.environ.get("FASTNN_TEST_MKL") == "1":
    raise RuntimeError("FASTNN_TEST_MKL=1 but MKL does not load here: pip install mkl")
needs_mkl = pytest.mark.skipif(not MKL, reason="MKL is not installed (pip install mkl; "
                                               "FASTNN_TEST_MKL=1 makes this a failure)")
BACKENDS = ["openblas", pytest.param("mkl", marks=needs_mkl)]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTNN_BLAS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra)
    return env


def _run(fresh_python, code, **env):
    proc = fresh_python(textwrap.dedent(code), env=_env(**env), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


# ------------------------------------------------------------------ choosing, and saying so


@pytest.mark.parametrize("backend", BACKENDS)
def test_fastnn_blas_picks_the_backend_and_config_and_threadpoolctl_say_so(fresh_python,
                                                                            backend):
    proc = _run(fresh_python, """
        import json, os, fastnn, numpy as np
        from threadpoolctl import threadpool_info
        fastnn.ops.dense_forward(np.ones((3, 4)), np.ones((4, 5)))
        cfg = fastnn.config()
        info = threadpool_info()
        mine = [lib for lib in info if lib["internal_api"] == "fastnn"]
        path = os.path.realpath(cfg["blas"][0]["filepath"])
        blas = [lib for lib in info if lib["user_api"] == "blas"
                and os.path.realpath(lib["filepath"]) == path]
        print(json.dumps({"cfg": cfg, "mine": mine, "blas": blas,
                          "maps": open("/proc/self/maps").read()}))
    """, FASTNN_BLAS=backend)
    out = json.loads(proc.stdout)
    cfg, mine, blas = out["cfg"], out["mine"], out["blas"]
    assert cfg["blas_backend"] == backend and cfg["blas_choice"] == f"FASTNN_BLAS={backend}"
    assert [lib["internal_api"] for lib in cfg["blas"]] == [backend]
    assert len(mine) == 1 and mine[0]["blas_backend"] == backend
    assert mine[0]["blas_filepath"] == cfg["blas"][0]["filepath"]
    assert len(blas) == 1 and blas[0]["internal_api"] == backend
    if backend == "mkl":
        # the sequential layer: no second OpenMP runtime (libiomp5) beside libgomp
        assert blas[0]["threading_layer"] == "sequential" and blas[0]["num_threads"] == 1
        assert "libiomp" not in out["maps"] and "libgomp" in out["maps"]
    else:
        assert "scipy_openblas32" in blas[0]["filepath"]


def test_auto_follows_the_measured_rule(fresh_python):
    proc = _run(fresh_python, """
        import fastnn
        from fastnn._kernels import _backends, _blas
        print(fastnn.config()["blas_backend"], _blas.cpu_is_intel())
    """)
    name, intel = proc.stdout.split()
    assert name == ("mkl" if intel == "True" and MKL else "openblas")


def test_the_vendor_check_agrees_with_the_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            vendors = {line.split(":")[1].strip() for line in f if line.startswith("vendor_id")}
    except OSError:
        pytest.skip("no /proc/cpuinfo to compare with")
    if not vendors:
        pytest.skip("/proc/cpuinfo names no vendor (not x86-64)")
    assert _blas.cpu_is_intel() == (vendors == {"GenuineIntel"})


def test_bound_addresses_are_the_backend_in_use():
    fastnn.ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))
    assert _blas.bound() == _backends.current.addresses
    assert all(_blas.bound())


def test_a_kernel_called_before_the_blas_is_bound_stops_with_a_message(fresh_python, tmp_path):
    # the kernel modules are loaded through fastnn._kernels, which binds first; one imported
    # around it must not jump to a null pointer
    proc = fresh_python(textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))     # the abort leaves no core file
        import numpy as np
        from fastnn._kernels import _ops
        x = np.ones((4, 3), np.float32)
        _ops.dense_forward(x, np.ones((3, 2), np.float32), None, np.empty((4, 2), np.float32), 1)
    """), env=_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "fastnn: a kernel called BLAS before fastnn._kernels bound it" in proc.stderr


# ------------------------------------------------------------------ bad input


def test_an_unknown_value_is_one_clear_error(fresh_python, tmp_path):
    proc = fresh_python(textwrap.dedent("""
        import fastnn, numpy as np
        try:
            fastnn.ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no error")
    """), env=_env(FASTNN_BLAS="openblass"), timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = proc.stdout
    assert "FASTNN_BLAS='openblass'" in text and "auto, openblas, mkl" in text
    assert "pip install mkl" in text
    # the command line says it in one line, exit 2
    cli = subprocess.run([sys.executable, "-m", "fastnn", "info"], capture_output=True,
                         text=True, env=_env(FASTNN_BLAS="MKL2"), timeout=120, cwd=tmp_path)
    assert cli.returncode == 2
    assert cli.stderr.startswith("fastnn info: error: FASTNN_BLAS='MKL2': expected one of")
    assert len(cli.stderr.strip().splitlines()) == 1


MISSING = """
    import fastnn, numpy as np
    from fastnn._kernels import _backends
    if {hide}:
        # look where no MKL is (the loader's search for a name no library has), as on a
        # machine without the extra
        _backends.mkl_paths = lambda: ["libmkl_rt_not_here.so.3"]
    try:
        fastnn.ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))
    except ImportError as exc:
        print(exc)
    else:
        raise SystemExit("no error")
"""


def test_mkl_without_mkl_installed_says_what_to_install(fresh_python):
    proc = fresh_python(textwrap.dedent(MISSING.format(hide=MKL)),
                        env=_env(FASTNN_BLAS="mkl"), timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = proc.stdout
    assert text.startswith("FASTNN_BLAS=mkl: MKL is not installed")
    assert "pip install mkl" in text and "auto or openblas" in text


BROKEN = """
    import json, warnings, fastnn, numpy as np
    from fastnn._kernels import _backends
    _backends.mkl_paths = lambda: [{path!r}]         # the broken install, where MKL would be
    out = {{}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend, why = _backends.choose("auto", intel=True)
    out["auto"] = [backend.name, why, [str(w.message) for w in caught]]
    try:
        _backends.choose("mkl", intel=True)
    except ImportError as exc:
        out["forced"] = str(exc)
    print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", ["not a library", "not MKL"])
def test_a_broken_mkl_fails_when_asked_for_and_falls_back_under_auto(fresh_python, tmp_path,
                                                                     kind):
    path = tmp_path / "libmkl_rt.so.3"
    if kind == "not a library":
        path.write_bytes(b"\x7fELF truncated")
    else:                      # a real shared library without MKL's functions
        shutil.copy(_backends.openblas_path(), path)
    proc = fresh_python(textwrap.dedent(BROKEN.format(path=str(path))), env=_env(),
                        timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    said = "does not load" if kind == "not a library" else "lacks a function fastnn needs"
    assert out["forced"].startswith(f"FASTNN_BLAS=mkl: MKL at {path} {said} (")
    assert out["forced"].endswith("; reinstall it: pip install --force-reinstall mkl")
    name, why, warned = out["auto"]
    assert (name, why) == ("openblas", "auto: OpenBLAS, MKL does not work here")
    assert len(warned) == 1 and str(path) in warned[0] and "uses OpenBLAS" in warned[0]


@needs_mkl
def test_an_mkl_another_library_started_threaded_is_refused(fresh_python):
    # another library loaded libmkl_rt first and fixed its threading layer (Intel's OpenMP,
    # libiomp5): fastnn cannot make it sequential, so it does not use it
    proc = _run(fresh_python, """
        import ctypes
        from fastnn._kernels import _backends
        first = ctypes.CDLL(next(p for p in _backends.mkl_paths() if "/" in p))
        assert first.MKL_Set_Threading_Layer(0) == 0         # MKL_THREADING_INTEL
        try:
            _backends.choose("mkl", intel=True)
        except ImportError as exc:
            print(exc)
    """)
    assert proc.stdout.startswith("FASTNN_BLAS=mkl: MKL at ")
    assert "was started with its intel threading layer" in proc.stdout
    assert "MKL_THREADING_LAYER=SEQUENTIAL" in proc.stdout


@needs_mkl
def test_auto_leaves_an_mkl_another_library_loaded_to_that_library(fresh_python):
    # making it sequential would make the other library's own MKL calls single-threaded
    proc = _run(fresh_python, """
        import ctypes
        from fastnn._kernels import _backends
        other = ctypes.CDLL(next(p for p in _backends.mkl_paths() if "/" in p))
        backend, why = _backends.choose("auto", intel=True)
        print(backend.name, "|", why, "|", other.MKL_Set_Threading_Layer(-1))
    """)
    name, why, layer = proc.stdout.strip().split(" | ")
    assert (name, why) == ("openblas", "auto: OpenBLAS, as another library here uses MKL")
    assert layer == "-1"                  # its threading layer: not set by fastnn


def test_a_missing_openblas_says_what_to_install(fresh_python):
    proc = fresh_python(textwrap.dedent("""
        import sys, fastnn, numpy as np
        sys.modules["scipy_openblas32"] = None       # as if not installed
        try:
            fastnn.ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)))
        except ImportError as exc:
            print(exc)
    """), env=_env(FASTNN_BLAS="openblas"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("FASTNN_BLAS=openblas: scipy-openblas32 is not installed")
    assert "pip install scipy-openblas32" in proc.stdout


# ------------------------------------------------------------------ the same bits, parity


SAME_BITS = """
    import json, numpy as np, fastnn
    from fastnn._kernels import _backends
    rng = np.random.default_rng(0)

    def at(a, offset):                  # a copy starting `offset` bytes past 64-byte alignment
        buf = np.empty(a.nbytes + 128, np.uint8)
        start = (-buf.ctypes.data) % 64 + offset
        out = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
        out[...] = a
        return out

    bad = []
    for dtype in (np.float32, np.float64):
        for n, k, m in [(32, 784, 512), (512, 256, 10), (7, 33, 65), (1, 300, 200), (300, 64, 1)]:
            x = rng.standard_normal((n, k)).astype(dtype)
            W = rng.standard_normal((k, m)).astype(dtype)
            ref = fastnn.ops.dense_forward(x, W, n_threads=1)
            want = x.astype(np.float64) @ W.astype(np.float64)
            tol = 1e-4 if dtype == np.float32 else 1e-12
            if not np.allclose(ref, want, rtol=tol, atol=tol * np.sqrt(k)):
                bad.append(["parity", dtype.__name__, n, k, m])
            for t in (1, 2, 3, 4):
                for ox, ow in [(0, 0), (4, 8), (16, 4), (32, 0)]:
                    y = fastnn.ops.dense_forward(at(x, ox), at(W, ow), n_threads=t)
                    if not np.array_equal(y, ref):
                        bad.append(["bits", dtype.__name__, n, k, m, t, ox, ow])
    X = rng.standard_normal((600, 20)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    fits = []
    for t in (1, 2, 3, 4):
        model = fastnn.MLP(hidden=(64, 32), seed=0, n_threads=t)
        model.fit(X, y, epochs=2, batch_size=128)
        fits.append(model.predict_proba(X))
    bad += [["fit", t + 1] for t, p in enumerate(fits) if not np.array_equal(p, fits[0])]
    print(json.dumps({"backend": _backends.current.name, "bad": bad}))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_gives_the_same_bits_at_1_to_4_threads_and_any_alignment(fresh_python,
                                                                               backend):
    out = json.loads(_run(fresh_python, SAME_BITS, FASTNN_BLAS=backend).stdout)
    assert out == {"backend": backend, "bad": []}


def _other_backends():
    """The backends this test run's own process does not use (it runs the suite on its own):
    the existing parity and same-bits tests run again on each of them."""
    default = _backends.select().name
    return [b if b != "mkl" else pytest.param(b, marks=needs_mkl)
            for b in ("openblas", "mkl") if b != default]


@pytest.mark.parametrize("backend", _other_backends())
def test_the_suite_s_parity_and_same_bits_tests_pass_on_the_other_backend(backend):
    # float64 parity with PyTorch (1e-9), same bits at 1 to 4 threads, the BLAS hold, GEMMs
    # inside OpenMP regions, gradients, the build's report: the suite's own tests, again
    tests = ["tests/model/test_torch_parity.py", "tests/kernels/test_threads.py", "tests/kernels/test_gradients.py",
             "tests/kernels/test_gemm_stress.py", "tests/kernels/test_ops_parity.py::test_dense",
             "tests/kernels/test_build.py", "tests/model/test_embedding.py"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *tests], capture_output=True, text=True, cwd=ROOT,
                          env=_env(FASTNN_BLAS=backend), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_is_held_at_one_thread_while_kernels_run(fresh_python, backend):
    proc = _run(fresh_python, """
        import json, os, fastnn, numpy as np
        from threadpoolctl import threadpool_info
        from fastnn._threads import blas_held
        fastnn.ops.dense_forward(np.ones((3, 4)), np.ones((4, 5)))
        path = os.path.realpath(fastnn.config()["blas"][0]["filepath"])
        def count():
            return [lib["num_threads"] for lib in threadpool_info()
                    if os.path.realpath(lib["filepath"]) == path]
        before = count()
        with blas_held:
            during = count()
        print(json.dumps([before, during, count()]))
    """, FASTNN_BLAS=backend)
    before, during, after = json.loads(proc.stdout)
    assert during == [1] and after == before and len(before) == 1
    assert before == ([1] if backend == "mkl" else [len(os.sched_getaffinity(0))])


# ------------------------------------------------------------------ no scipy at run time


def test_training_predicting_and_searching_need_no_scipy(fresh_python, tmp_path):
    proc = _run(fresh_python, f"""
        import sys
        sys.modules["scipy"] = None                  # as if scipy were not installed
        import numpy as np, fastnn
        X = np.random.default_rng(0).standard_normal((200, 8))
        y = (X[:, 0] > 0).astype(int)
        model = fastnn.MLP(hidden=(16,), seed=0)
        model.fit(X, y, epochs=2)
        assert model.predict(X).shape == (200,)
        model.save({str(tmp_path / "m.fnn")!r})
        assert (fastnn.load({str(tmp_path / "m.fnn")!r}).predict(X) == model.predict(X)).all()
        from fastnn.search.sampling import Sampler
        Sampler("random", 0, 3).raw(0)
        try:
            Sampler("sobol", 0, 3)
        except ImportError as exc:
            print(exc)
    """)
    assert proc.stdout.startswith("sampler 'sobol' needs scipy")
    assert "pip install scipy" in proc.stdout


def test_the_runtime_dependencies_are_numpy_scipy_openblas32_and_threadpoolctl():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    names = [dep.split(">")[0].split("=")[0].split(";")[0].strip()
             for dep in project["project"]["dependencies"]]
    assert names == ["numpy", "scipy-openblas32", "threadpoolctl"]
    assert not any(req.startswith("scipy") for req in project["build-system"]["requires"])
    assert any(req.startswith("mkl") for req in project["project"]["optional-dependencies"]["mkl"])
    assert any(req.startswith("mkl") for req in project["project"]["optional-dependencies"]["test"])


# ------------------------------------------------------------------ the benchmark's GEMM step


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 40, 300])
def test_gemm_step_makes_a_dense_network_s_products_in_its_block_scheme(batch, n_threads):
    rng = np.random.default_rng(batch)
    widths = (70, 48, 33, 5)
    pairs = list(zip(widths[:-1], widths[1:]))
    xs = [rng.standard_normal((batch, a), dtype=np.float32) for a, _ in pairs]
    Ws = [rng.standard_normal((a, b), dtype=np.float32) for a, b in pairs]
    dys = [rng.standard_normal((batch, b), dtype=np.float32) for _, b in pairs]
    ys = [np.full((batch, b), np.nan, np.float32) for _, b in pairs]
    dWs = [np.full_like(W, np.nan) for W in Ws]
    dxs = [np.full_like(x, np.nan) for x in xs]
    fastnn.ops.dense_forward(xs[0], Ws[0])                   # the BLAS bound
    with blas_held:                                          # as the layers run it
        _blas.gemm_step(xs, Ws, ys, dys, dWs, dxs, n_threads, 2)
    for i in range(len(pairs)):
        # the forward products are a Dense layer's own, bit for bit
        assert np.array_equal(ys[i], fastnn.ops.dense_forward(xs[i], Ws[i], n_threads=1))
        np.testing.assert_allclose(dWs[i], xs[i].T @ dys[i], rtol=1e-4, atol=1e-4)
        if i:
            np.testing.assert_allclose(dxs[i], dys[i] @ Ws[i].T, rtol=1e-4, atol=1e-4)
    assert np.isnan(dxs[0]).all()                            # the input needs no gradient
    bad = [x.copy() for x in xs]
    bad[1] = np.zeros((batch, 47), np.float32)
    with pytest.raises(ValueError, match="layer 1's shapes do not agree"):
        _blas.gemm_step(bad, Ws, ys, dys, dWs, dxs, 1, 1)
    with pytest.raises(ValueError, match="one array per layer"):
        _blas.gemm_step(xs[:2], Ws, ys, dys, dWs, dxs, 1, 1)


def test_gemm_limit_has_a_column_per_backend(tmp_path):
    # in a process of its own: stepping through every backend loads them all, and a BLAS
    # loaded after fastnn's hold was set up is not held (tests/kernels/test_threads.py counts them)
    out = tmp_path / "gemm.md"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compare.py"), "--quick",
                           "--no-torch", "--workloads", "GEMM", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env=_env(**{k: v for k, v in os.environ.items() if k == "FASTNN_BLAS"}))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    header = next(line for line in text.splitlines()
                  if line.startswith("| batch |") and "samples/s" in line)
    in_use = _backends.select().name
    names = [in_use] + [b for b in (["openblas", "mkl"] if MKL else ["openblas"]) if b != in_use]
    for t in (1, 2):
        assert f"| {' samples/s | '.join(f'{n} {t}t' for n in names)} samples/s |" in header
        assert f"| W1 / fastest {t}t |" in header and f"| ceiling {t}t samples/s |" in header
    assert ("mkl 1t" in header) == MKL
    rows = [line for line in text.splitlines() if line.startswith(("| 32 |", "| 512 |"))]
    assert len(rows) == 2 and out.read_text().strip() == text.strip()
    assert f"W1 runs through the backend in use, {in_use} ({_backends.reason})" in text
