import json
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import MLP, Adam, BatchNorm, Dense, LeakyReLU, Sequential, Softmax


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, 5)) + y[:, None], y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_identical_predictions(tmp_path, dtype):
    X, y = _data()
    model = MLP(hidden=(8, 6), dtype=dtype, bn_position="after", activation="tanh", seed=1)
    model.fit(X, np.array(["a", "b", "c"])[y], epochs=3)
    model.feature_names_in_ = [f"f{i}" for i in range(5)]
    path = tmp_path / "m.fnn"
    model.save(path)
    loaded = fastnn.load(path)
    assert isinstance(loaded, MLP) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.classes_.tolist() == ["a", "b", "c"]
    assert loaded.feature_names_in_ == model.feature_names_in_
    assert loaded.epochs_trained_ == 3 and loaded.optimizer is None


def test_sequential_round_trip(tmp_path):
    X, y = _data()
    model = Sequential([Dense(7), LeakyReLU(0.2), BatchNorm(momentum=0.5), Dense(None), Softmax()])
    model.fit(X, y, epochs=2)
    model.save(tmp_path / "s.fnn")
    loaded = fastnn.load(tmp_path / "s.fnn")
    assert type(loaded) is Sequential and repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_checkpoint_with_optimizer_resumes_exactly(tmp_path):
    X, y = _data()
    straight = MLP(hidden=(8,), seed=3)
    straight.fit(X, y, epochs=4, optimizer=Adam(0.01), seed=7)
    resumed = MLP(hidden=(8,), seed=3)
    resumed.fit(X, y, epochs=2, optimizer=Adam(0.01), seed=7)
    resumed.save(tmp_path / "c.fnn", include_optimizer=True)
    rng_state = np.random.default_rng(7)
    for _ in range(2):
        rng_state.permutation(len(X))          # the shuffles the first two epochs used
    loaded = fastnn.load(tmp_path / "c.fnn")
    assert loaded.optimizer.t == resumed.optimizer.t
    loaded._rng = rng_state
    loaded.fit(X, y, epochs=2)                  # continues with the saved Adam state
    np.testing.assert_allclose(loaded.get_weights()["params"], straight.get_weights()["params"],
                               rtol=1e-6, atol=1e-7)


def _valid_file(tmp_path):
    X, y = _data()
    model = MLP(hidden=(4,))
    model.fit(X, y, epochs=1)
    path = tmp_path / "ok.fnn"
    model.save(path)
    return path


def _rewrite(src, dst, header_edit=None, drop=None, replace=None):
    with np.load(src) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays["header"]))
    if header_edit:
        header_edit(header)
    arrays["header"] = np.array(json.dumps(header))
    for key in drop or ():
        arrays.pop(key)
    arrays.update(replace or {})
    _savez(dst, **arrays)


def _savez(path, **arrays):
    with open(path, "wb") as fh:        # np.savez would append .npz to a bare path
        np.savez(fh, **arrays)


@pytest.mark.parametrize("corrupt, match", [
    (lambda p, q: q.write_bytes(b"not a model at all"), "not a zip archive"),
    (lambda p, q: q.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a zip archive|cannot read"),
    (lambda p, q: _savez(q, params=np.zeros(3)), "no header"),
    (lambda p, q: _rewrite(p, q, header_edit=lambda h: h.update(format="other")), "does not describe"),
    (lambda p, q: _rewrite(p, q, header_edit=lambda h: h.update(format_version=99)), "format version"),
    (lambda p, q: _rewrite(p, q, replace={"params": np.zeros(5, np.float32)}), "does not fit"),
    (lambda p, q: _rewrite(p, q, drop=["state"]), "does not fit"),
    (lambda p, q: _rewrite(p, q, header_edit=lambda h: h["config"]["layers"].__setitem__(
        0, {"class": "Conv2D"})), "layer"),
    (lambda p, q: _rewrite(p, q, replace={"params": np.array([object()] * 3)}), "pickled|cannot read"),
])
def test_corrupt_or_foreign_files_raise(tmp_path, corrupt, match):
    good = _valid_file(tmp_path)
    bad = tmp_path / "bad.fnn"
    corrupt(good, bad)
    with pytest.raises(ValueError, match=match):
        fastnn.load(bad)


def test_missing_file_and_unfitted_model(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "nope.fnn")
    with pytest.raises(RuntimeError, match="fit"):
        MLP().save(tmp_path / "x.fnn")


def test_file_is_a_plain_npz_without_pickles(tmp_path):
    path = _valid_file(tmp_path)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"]))
    assert header["format"] == "fastnn-model" and header["fastnn_version"] == fastnn.__version__


def test_a_file_written_by_fastnn_0_1_still_loads():
    # tests/data/model-0.1.fnn: a digits MLP(hidden=(32,)) saved by fastnn 0.1 (format
    # version 1) with its optimizer; its probabilities on 10 rows were saved beside it
    from pathlib import Path

    from fastnn.datasets import load_digits

    data = Path(__file__).parent.parent / "data"
    model = fastnn.load(data / "model-0.1.fnn")
    assert model.loss.name == "softmax_cross_entropy" and model.dropout == 0.0
    X, _ = load_digits()
    np.testing.assert_allclose(model.predict_proba(X[1000:1010]),
                               np.load(data / "model-0.1-proba.npy"), rtol=1e-5, atol=1e-7)
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.t > 0
