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


# A Python that has imported NumPy (and threadpoolctl) and nothing else, forking a child
# per request: each child runs its code as `python -c code *args` would, with the
# environment and working directory asked for. A child starts in 0.03 s where a new
# interpreter takes 0.3 s, most of it importing NumPy again.
_FORK_SERVER = r'''
import atexit, json, os, sys, time, traceback, types

import numpy            # noqa: F401
import threadpoolctl    # noqa: F401


def child(req):
    status = 1
    try:
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                                (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            os.dup2(os.open(path, flags), fd)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv[:] = ["-c", *req["args"]]
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        try:
            exec(compile(req["code"], "<string>", "exec"), main.__dict__)
            status = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                status = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        except BaseException as exc:     # the traceback from the child's code down
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)


for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(req)
    deadline, pause = time.monotonic() + req["timeout"], 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:         # a hung child fails its test, not the suite
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            status = None
            break
        time.sleep(pause)
        pause = min(2 * pause, 0.01)
    print(json.dumps({"status": status}), flush=True)
'''


class FreshPython:
    """Runs code in a fresh Python process: ``run(code, args=(), env=None, cwd=None,
    timeout=120)`` gives what ``subprocess.run([sys.executable, "-c", code, *args],
    capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)`` would.

    The process is a fork of a server that has imported only NumPy and
    threadpoolctl, so it is fresh as far as fastnn, its kernels and the OpenMP
    runtime go (none is loaded), and environment variables set through ``env``
    are in place before any of them loads. Variables read before that, by
    Python at startup (``PYTHONPATH``...) or by NumPy's BLAS when it loads
    (``OPENBLAS_NUM_THREADS``...), are the server's: use a real subprocess to
    vary those. Without ``os.fork`` it runs real subprocesses.
    """

    def __init__(self):
        self._server = None

    def _start(self):
        import os
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items()
               if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        self._server = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def __call__(self, code, args=(), env=None, cwd=None, timeout=120):
        import json
        import os
        import subprocess
        import sys
        import tempfile

        argv = [sys.executable, "-c", code, *map(str, args)]
        if not hasattr(os, "fork"):
            return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd,
                                  timeout=timeout)
        if self._server is None or self._server.poll() is not None:
            self._start()
        with tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
            request = {"code": code, "args": argv[3:], "timeout": timeout,
                       "env": dict(os.environ if env is None else env),
                       "cwd": os.path.abspath(cwd or os.getcwd()), "stdout": out, "stderr": err}
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
            reply = self._server.stdout.readline()
            if not reply:
                raise RuntimeError("the fork server died (its error is on standard error)")
            status = json.loads(reply)["status"]
            with open(out) as f_out, open(err) as f_err:
                stdout, stderr = f_out.read(), f_err.read()
        if status is None:
            raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
        return subprocess.CompletedProcess(argv, status, stdout, stderr)

    def close(self):
        if self._server is not None:
            self._server.stdin.close()
            try:
                self._server.wait(timeout=30)
            except Exception:
                self._server.kill()
                self._server.wait()


@pytest.fixture(scope="session")
def fresh_python():
    """A ``FreshPython``: code in a fresh process at a tenth of a new interpreter's cost."""
    runner = FreshPython()
    yield runner
    runner.close()
