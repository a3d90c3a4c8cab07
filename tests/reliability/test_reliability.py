"""No silent wrong results: exploding training, model files that load refuses, hostile
files, temporary files left by failed saves, aliased buffers, softmax of infinities."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import MLP, Adam, DivergedError, ops


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.standard_normal((n, 4)) + y[:, None], y


def _fitted(**kw):
    X, y = _data()
    model = MLP(hidden=(8,), seed=0, **kw)
    model.fit(X, y, epochs=1)
    return model


# ---------------------------------------------------------------- divergence

def test_adam_with_a_huge_learning_rate_raises_diverged():
    X, y = _data()
    with pytest.raises(DivergedError, match="exploded .* uniform prediction over the 2 classes"
                       ) as info:
        MLP(hidden=(8,), seed=0).fit(X, y, epochs=5, optimizer=Adam(lr=1e6))
    assert info.value.epoch == 1 and len(info.value.history) == 0


def test_mse_explosion_is_caught_and_a_normal_fit_is_not():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    with pytest.raises(DivergedError, match="exploded"):
        MLP(hidden=(8,), loss="mse", seed=0).fit(X, y, epochs=5, optimizer=Adam(lr=1e6))
    # unscaled inputs and large targets make a large first loss, not an explosion
    model = MLP(hidden=(8,), loss="mse", batch_norm=False, seed=0)
    history = model.fit(X * 1000, y * 1e4, epochs=3)
    assert history["loss"][0] > 1e6


def test_growth_against_the_first_epoch_counts_as_explosion():
    from fastnn.train import _check_explosion

    _check_explosion(1e3, 2.3, "uniform", None, 1, 0.1, None)            # first epoch: fine
    _check_explosion(5e3, 2.3, "uniform", 1.0, 2, 0.1, None)             # < 1e4 * 2.3
    with pytest.raises(DivergedError, match="first epoch's"):
        _check_explosion(1e5, 2.3, "uniform", 1.0, 2, 0.1, None)


# ---------------------------------------------------------------- save and load

def test_save_refuses_what_load_would_refuse_and_writes_nothing(tmp_path):
    model = _fitted()
    model.feature_names_in_ = ["a", "b"]                    # 4 features
    path = tmp_path / "m.fnn"
    with pytest.raises(ValueError, match=r"cannot be saved.*feature names \(2 of them\)"):
        model.save(path)
    model.feature_names_in_ = None
    model.engine.params[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.save(path)
    assert os.listdir(tmp_path) == []


def _arrays(path):
    with np.load(path) as archive:
        return {k: archive[k] for k in archive.files}


def _write_npz(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_a_file_with_nan_parameters_is_refused(tmp_path):
    _fitted().save(tmp_path / "ok.fnn")
    arrays = _arrays(tmp_path / "ok.fnn")
    arrays["params"] = arrays["params"].copy()
    arrays["params"][0] = np.inf
    _write_npz(tmp_path / "bad.fnn", arrays)
    with pytest.raises(ValueError, match="'params' holds NaN or infinite values"):
        fastnn.load(tmp_path / "bad.fnn")


@pytest.mark.parametrize("width", [12000, 100000])
def test_a_small_file_claiming_huge_weights_is_refused_at_once(tmp_path, width):
    _fitted().save(tmp_path / "ok.fnn")
    arrays = _arrays(tmp_path / "ok.fnn")
    header = json.loads(str(arrays["header"]))
    header["config"]["mlp"]["hidden"] = [width, width]
    arrays["header"] = np.array(json.dumps(header))
    path = tmp_path / "big.fnn"
    _write_npz(path, arrays)
    assert os.path.getsize(path) < 10_000
    with pytest.raises(ValueError, match=r"does not fit the architecture its header declares "
                                         rf"\({width * width + 10 * width + 2} values"):
        fastnn.load(path)


def test_an_array_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    import io

    _fitted().save(tmp_path / "ok.fnn")
    arrays = _arrays(tmp_path / "ok.fnn")
    path = tmp_path / "lie.fnn"
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, value)
            raw = buf.getvalue()
            if name == "params":
                raw = raw.replace(f"'shape': ({value.size},)".encode(), b"'shape': (99999, 99999)")
            archive.writestr(name + ".npy", raw)
    with pytest.raises(ValueError, match=r"declares shape \(99999, 99999\)"):
        fastnn.load(path)


_FAILING_SAVE = """
import resource, signal, sys
import numpy as np
from fastnn import MLP
X = np.random.default_rng(0).standard_normal((40, 30)); y = np.arange(40) % 2
model = MLP(hidden=(64,), seed=0); model.fit(X, y, epochs=1)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    model.save(sys.argv[1])
except OSError as exc:
    print("failed:", exc.errno)
"""


def test_a_save_that_fails_while_writing_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.fnn"
    out = subprocess.run([sys.executable, "-c", _FAILING_SAVE, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert "failed:" in out.stdout, out.stderr
    assert os.listdir(tmp_path) == []


def test_stale_temporary_files_of_dead_writers_are_removed_on_the_next_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "m.fnn"
    stale = [tmp_path / f"m.fnn.tmp-{dead.pid}", tmp_path / f"m.fnn.tmp-{dead.pid}-77"]
    live = tmp_path / f"m.fnn.tmp-{os.getppid()}"            # a writer still running
    other = tmp_path / f"n.fnn.tmp-{dead.pid}"               # another file's
    for p in stale + [live, other]:
        p.write_bytes(b"x" * 100)
    _fitted().save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.fnn", live.name, other.name])
    fastnn.load(path)


# ---------------------------------------------------------------- ops

def test_every_in_place_buffer_pair_is_checked_for_aliasing():
    p, g, m = np.ones(6), np.ones(6), np.zeros(6)
    with pytest.raises(ValueError, match="v must not overlap m"):
        ops.adam_update(p, g, m, m, 0.1, 1)
    with pytest.raises(ValueError, match="m must not overlap grad"):
        ops.adam_update(p, g, g, m.copy(), 0.1, 1)
    with pytest.raises(ValueError, match="sq_avg must not overlap param"):
        ops.rmsprop_update(p, g, p[:], 0.1)
    x, gamma, beta = np.random.rand(4, 3), np.ones(3), np.zeros(3)
    rm = np.zeros(3)
    with pytest.raises(ValueError, match="running_var must not overlap running_mean"):
        ops.batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rm)
    with pytest.raises(ValueError, match="running_mean must not overlap gamma"):
        ops.batchnorm_forward(x, gamma, beta, running_mean=gamma, running_var=np.ones(3))
    z, w = np.random.rand(4, 3), np.ones(12)
    with pytest.raises(ValueError, match="out must not overlap sample_weight"):
        ops.softmax_cross_entropy(z, [0, 1, 2, 0], sample_weight=w[:4],
                                  out=w.reshape(4, 3))
    buf = np.ones(8)
    with pytest.raises(ValueError, match="out must not overlap x"):
        ops.relu(buf[:6], out=buf[2:])                  # a shifted view of the input


def test_elementwise_ops_run_in_place_on_an_exact_alias():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    y = ops.relu(x, out=x.view())
    assert y.base is x and np.array_equal(x, [[0, 2], [3, 0]])


def test_softmax_of_infinities_is_defined():
    y = ops.softmax(np.array([[-np.inf, 0.0, 0.0]]))
    np.testing.assert_allclose(y, [[0, 0.5, 0.5]])
    assert ops.log_softmax(np.array([[-np.inf, 0.0]]))[0, 0] == -np.inf
    with pytest.raises(ValueError, match=r"z\[0, 1\] is inf"):
        ops.softmax(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="NaN|nan"):
        ops.log_softmax(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="row 1 of z is -inf throughout"):
        ops.softmax(np.array([[0.0, 1.0], [-np.inf, -np.inf]]))
    for dt in (np.float32, np.float64):
        big = np.finfo(dt).max
        z = np.array([[big, -big, 0], [-big, -big, -big]], dt)
        assert np.isfinite(ops.softmax(z)).all()
