import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastnn
from fastnn import _threads, ops
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


def test_fit_and_predict_give_the_same_bits_at_1_to_4_threads():
    # float32 45-257-129-11 with batch norm, 5 SGD then 5 Adam steps at batch 1031
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1031, 45)).astype(np.float32)
    y = rng.integers(0, 11, 1031)
    runs = []
    for n_threads in (1, 2, 3, 4):
        m = fastnn.MLP(hidden=(257, 129), n_threads=n_threads, seed=0)
        m.fit(X, y, epochs=5, batch_size=1031, optimizer=fastnn.SGD(0.1))
        m.fit(X, y, epochs=5, batch_size=1031, optimizer=fastnn.Adam(1e-3))
        runs.append((m.get_weights(), m.predict_proba(X)))
    for weights, proba in runs[1:]:
        np.testing.assert_array_equal(weights["params"], runs[0][0]["params"])
        np.testing.assert_array_equal(weights["state"], runs[0][0]["state"])
        np.testing.assert_array_equal(proba, runs[0][1])


@pytest.fixture
def fresh(fresh_python):
    """``fresh(code, env=None)``: what ``code`` prints in a fresh process (fastnn and the
    OpenMP runtime not loaded yet), whose environment is this one's without the OpenMP
    variables, plus ``env``."""
    import os

    def run(code, env=None):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        full_env.update(env or {})
        out = fresh_python(code, env=full_env, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()
    return run


def test_the_default_is_fastnns_own_not_the_openmp_runtimes(fresh):
    from fastnn._threads import available_cores

    cores = available_cores()
    # another library setting the OpenMP default before fastnn loads does not change it
    code = ("import ctypes, ctypes.util; "
            "ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1').omp_set_num_threads(1); "
            "import fastnn; print(fastnn.get_num_threads())")
    assert fresh(code) == str(cores)
    code = "import torch; torch.set_num_threads(1); import fastnn; print(fastnn.get_num_threads())"
    assert fresh(code) == str(cores)
    assert fresh("import fastnn; print(fastnn.get_num_threads())", {"OMP_NUM_THREADS": "1"}) == "1"
    assert fresh("import fastnn; print(fastnn.get_num_threads())",
                 {"OMP_NUM_THREADS": "3,2"}) == "3"
    code = "import os; os.sched_setaffinity(0, {0}); import fastnn; print(fastnn.get_num_threads())"
    assert fresh(code) == "1"
    # OMP_NUM_THREADS set in this process after the count was found (Dask's nanny sets it for
    # the workers it starts) changes neither the count nor the thread chooser's freedom
    code = ("import os, fastnn; from fastnn import _threads; n = fastnn.get_num_threads(); "
            "os.environ['OMP_NUM_THREADS'] = '1'; "
            "print(fastnn.get_num_threads() == n, _threads.default_is_fixed())")
    assert fresh(code) == "True False"
    code = ("import fastnn; from fastnn import _threads; "
            "print(fastnn.get_num_threads(), _threads.default_is_fixed())")
    assert fresh(code, {"OMP_NUM_THREADS": "1"}) == "1 True"


def test_cgroup_quotas_cap_the_cores(tmp_path):
    from fastnn._threads import cgroup_cpu_limit

    v2 = tmp_path / "v2"
    (v2 / "app" / "job").mkdir(parents=True)
    (v2 / "app" / "cpu.max").write_text("150000 100000\n")
    (v2 / "app" / "job" / "cpu.max").write_text("max 100000\n")
    proc = tmp_path / "cgroup2"
    proc.write_text("0::/app/job\n")
    assert cgroup_cpu_limit(str(v2), str(proc)) == 2          # 1.5 CPUs, from the parent
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "box").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "box" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu,cpuacct" / "box" / "cpu.cfs_period_us").write_text("100000\n")
    proc1 = tmp_path / "cgroup1"
    proc1.write_text("4:memory:/box\n3:cpu,cpuacct:/box\n")
    assert cgroup_cpu_limit(str(v1), str(proc1)) == 1
    (v1 / "cpu,cpuacct" / "box" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(str(v1), str(proc1)) is None
    assert cgroup_cpu_limit(str(tmp_path / "none"), str(tmp_path / "missing")) is None


def test_threadpoolctl_lists_and_limits_fastnn():
    from threadpoolctl import threadpool_info, threadpool_limits

    default = fastnn.get_num_threads()
    mine = [lib for lib in threadpool_info() if lib["internal_api"] == "fastnn"]
    assert len(mine) == 1 and mine[0]["num_threads"] == default
    assert mine[0]["version"] == fastnn.__version__
    with threadpool_limits(limits=1):
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == default
    assert not _threads.default_is_fixed()                    # the chooser still runs
    with threadpool_limits(limits=1, user_api="openmp"):     # as scikit-learn limits OpenMP
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == default and not _threads.default_is_fixed()
    # a limit on BLAS alone restores every pool's count on exit, fastnn's too: that must not
    # fix fastnn's count (it would turn the thread chooser off)
    with threadpool_limits(limits=1, user_api="blas"):
        assert fastnn.get_num_threads() == default
    assert fastnn.get_num_threads() == default and not _threads.default_is_fixed()


def test_num_threads_context_manager():
    default = fastnn.get_num_threads()
    with fastnn.num_threads(1):
        assert fastnn.get_num_threads() == 1
        with fastnn.num_threads(3):
            assert fastnn.get_num_threads() == 3
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == default


def test_idle_threads_spin_briefly_unless_the_user_says_otherwise(fresh):
    code = ("import os, fastnn; from fastnn import _kernels; "
            "print(_kernels.wait_policy, '|', 'GOMP_SPINCOUNT' in os.environ)")
    out = fresh(code, {})
    assert out.startswith("GOMP_SPINCOUNT=1000") and out.endswith("| False")   # not inherited
    assert fresh(code, {"OMP_WAIT_POLICY": "active"}).startswith("as the environment sets it")
    out = fresh(code, {"GOMP_SPINCOUNT": "5"})
    assert out.startswith("as the environment sets it") and out.endswith("| True")
    code = ("import ctypes, ctypes.util; ctypes.CDLL(ctypes.util.find_library('gomp') or "
            "'libgomp.so.1'); from fastnn import _kernels; print(_kernels.wait_policy)")
    assert "loaded before fastnn" in fresh(code, {})


def test_a_default_fit_times_its_thread_counts_and_keeps_the_bits(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((3000, 20)).astype(np.float32), rng.integers(0, 3, 3000)
    from fastnn._threads import ThreadChooser

    auto = fastnn.MLP(hidden=(64,), seed=0)
    fixed = fastnn.MLP(hidden=(64,), seed=0, n_threads=1)
    counts = {1, fastnn.get_num_threads()}
    for _ in range(100):        # until each count ran ThreadChooser.MIN_MEASURE seconds
        auto.fit(X, y, epochs=3, batch_size=64)
        fixed.fit(X, y, epochs=3, batch_size=64)
        chooser = auto.engine.threads_for_training(64)
        if not isinstance(chooser, ThreadChooser) or set(chooser.rates) == counts:
            break
    assert isinstance(chooser, ThreadChooser) or fastnn.get_num_threads() == 1
    if fastnn.get_num_threads() > 1:
        assert set(chooser.rates) == counts
        # a model of the same size trained next in this thread starts from what it measured
        same = fastnn.MLP(hidden=(64,), seed=5).build(20, 3)
        assert same.engine.threads_for_training(64) is chooser
        assert same.engine.threads_for_training(32) is not chooser     # another batch size
        assert fastnn.MLP(hidden=(65,), seed=5).build(20, 3).engine.threads_for_training(64) \
            is not chooser
        other = []
        t = threading.Thread(target=lambda: other.append(auto.engine.threads_for_training(64)))
        t.start()
        t.join()
        assert other[0] is not chooser            # each thread times its own work
    assert fixed.engine.threads_for_training() == 1
    np.testing.assert_array_equal(auto.get_weights()["params"], fixed.get_weights()["params"])
    with fastnn.num_threads(2):                   # a count the user fixed is used as is
        m = fastnn.MLP(hidden=(8,), seed=0)
        m.fit(X, y, epochs=1)
        assert m.engine.threads_for_training() == 2


def test_a_threadpoolctl_limit_leaves_the_default_detected(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    from threadpoolctl import threadpool_limits

    from fastnn._threads import default_is_fixed

    assert not default_is_fixed()
    with threadpool_limits(limits=1):
        assert default_is_fixed()
    assert not default_is_fixed()
    fastnn.set_num_threads(2)
    try:
        with threadpool_limits(limits=1):
            assert fastnn.get_num_threads() == 1
        assert default_is_fixed() and fastnn.get_num_threads() == 2
    finally:
        fastnn.set_num_threads(None)
