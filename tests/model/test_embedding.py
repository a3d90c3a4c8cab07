"""fastnn inside another application: one model serving many threads, no global state
changed by import or prediction, and the README's web-service example."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request

import numpy as np

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVE = os.path.join(ROOT, "examples", "serve.py")


def _digits_like(n=400, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = np.argmax(X[:, :4], axis=1)
    return X, y


def test_one_model_predicts_from_many_threads_at_once():
    X, y = _digits_like()
    model = fastnn.MLP(hidden=(64, 32), seed=0)
    model.fit(X, y, epochs=2)
    big = np.repeat(X, 8, axis=0)       # large enough for the BLAS hold and OpenMP threads
    want_rows = [model.predict_proba(X[i:i + 1]) for i in range(50)]
    want_big, want_labels = model.predict_proba(big), model.predict(X)
    start, bad = threading.Barrier(8, timeout=60), []

    def work(k):
        start.wait()
        for r in range(30):
            i = (k * 7 + r) % 50
            if not np.array_equal(model.predict_proba(X[i:i + 1]), want_rows[i]):
                bad.append(("row", k, i))
            if r % 10 == k % 10 and not np.array_equal(model.predict_proba(big), want_big):
                bad.append(("big", k))
            if r % 10 == 5 and not np.array_equal(model.predict(X), want_labels):
                bad.append(("labels", k))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert bad == []


STATE = textwrap.dedent("""
    import json, logging, os, signal, sys, warnings
    import numpy as np
    import scipy.linalg                  # another BLAS, loaded beforehand
    from threadpoolctl import threadpool_info

    def state():
        pools = sorted([p["filepath"], p["num_threads"]] for p in threadpool_info()
                       if p.get("internal_api") != "fastnn")
        return {"env": dict(os.environ), "pools": pools, "errstate": np.geterr(),
                "random": np.random.get_state()[1][:8].tolist(), "path": list(sys.path),
                "cwd": os.getcwd(), "sigint": repr(signal.getsignal(signal.SIGINT)),
                "warnings": len(warnings.filters), "logging": len(logging.root.handlers),
                "switch": sys.getswitchinterval(), "recursion": sys.getrecursionlimit()}

    np.ones((300, 300)) @ np.ones((300, 300))       # numpy's BLAS pool started
    before = state()
    import fastnn
    after_import = state()
    model = fastnn.load(sys.argv[1])
    X = np.random.default_rng(0).standard_normal((5000, model.n_features_in_))
    model.predict_proba(X[:1]); model.predict_proba(X)         # one row; a batch holds BLAS
    after_predict = state()
    print(json.dumps([before, after_import, after_predict]))
""")


def test_import_and_predict_change_no_global_state(tmp_path, fresh_python):
    X, y = _digits_like(d=64)
    model = fastnn.MLP(hidden=(128, 64), seed=0)
    model.fit(X, y, epochs=1)
    model.save(tmp_path / "m.fnn")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = fresh_python(STATE, [tmp_path / "m.fnn"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    before, after_import, after_predict = json.loads(proc.stdout)
    pools = [dict(state.pop("pools")) for state in (before, after_import, after_predict)]
    # the environment, NumPy's error state and random state, sys.path, signal handlers,
    # warning filters, logging... are as they were
    assert after_import == before and after_predict == before
    # the BLAS pools keep their thread counts (a batch prediction held them at one thread
    # and gave them back); a pool fastnn loads (its OpenMP runtime, its BLAS) is at its
    # default: the cores, or 1 for MKL, which fastnn runs with its sequential layer
    cores = len(os.sched_getaffinity(0))
    assert len(pools[0]) >= 1
    for later in pools[1:]:
        assert {path: later[path] for path in pools[0]} == pools[0]
        assert all(n == (1 if "mkl_rt" in path else cores)
                   for path, n in later.items() if path not in pools[0]), later
    assert any("gomp" in path or "omp" in path for path in pools[1]), pools[1]


def _post(url, body: bytes):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_web_service_example_scores_one_row_per_request(tmp_path):
    X, y = _digits_like()
    labels = np.array(["ant", "bee", "cow", "dog"])[y]
    model = fastnn.MLP(hidden=(16,), seed=0)
    model.fit(X, labels, epochs=2)
    model.save(tmp_path / "m.fnn")
    server = subprocess.Popen([sys.executable, SERVE, str(tmp_path / "m.fnn"), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(90, server.kill)        # a hung server fails, not hangs, the test
    watchdog.start()
    try:
        line = server.stdout.readline()
        assert line.startswith("serving "), line + server.stderr.read()
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        for i in range(3):
            status, reply = _post(url, json.dumps({"x": X[i].tolist()}).encode())
            assert status == 200
            assert reply["prediction"] == model.predict(X[i:i + 1])[0]
            np.testing.assert_allclose(reply["probabilities"], model.predict_proba(X[i:i + 1])[0],
                                       rtol=1e-6, atol=1e-7)
        status, reply = _post(url, json.dumps({"x": X[0, :5].tolist()}).encode())
        assert status == 400 and "features" in reply["error"]
        status, reply = _post(url, b"not json")
        assert status == 400 and reply["error"]
    finally:
        watchdog.cancel()
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
        server.stderr.close()


def test_the_readme_shows_the_web_service_example_as_it_is():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    with open(SERVE) as f:
        code = f.read().split('"""', 2)[2].lstrip("\n")      # after the module docstring
    assert "```python\n" + code + "```\n" in readme
