"""ONNX export: each exported graph, run in onnxruntime, gives what predict_proba and
predict give (to 1e-5), for every layer, activation, batch-norm position, loss and
dtype, on randomly initialised and briefly trained models."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fastnn
from fastnn import cli
from fastnn.export import inference_steps

ACTIVATIONS = tuple(row.name for row in fastnn.kinds.ACTIVATIONS)


def _session(source) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if isinstance(source, onnx.ModelProto):
        source = source.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _run(source, X, dtype) -> dict:
    sess = _session(source)
    outputs = sess.run(None, {"X": np.asarray(X, dtype)})
    return {out.name: value for out, value in zip(sess.get_outputs(), outputs)}


def _data(n=240, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 2 + 0.5
    return X, rng


def _check_classifier(model, X):
    got = _run(model.to_onnx(), X, model.dtype)
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), rtol=0, atol=1e-5)
    assert got["label"].shape == model.predict(X).shape
    np.testing.assert_array_equal(got["label"], model.predict(X))


def _nontrivial_bn(model) -> bool:
    bns = [layer for layer in model.layers if isinstance(layer, fastnn.BatchNorm)]
    return all(np.abs(bn.running_mean).max() > 1e-3 and np.abs(bn.running_var - 1).max() > 1e-3
               for bn in bns)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bn_position", ["before", "after"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_trained_softmax_mlp_matches_onnxruntime(activation, bn_position, dtype):
    X, _ = _data()
    y = np.array(["cat", "dog", "emu"])[(X[:, 0] > 0.5).astype(int) + (X[:, 1] > 1.5)]
    model = fastnn.MLP(hidden=(12, 8), activation=activation, bn_position=bn_position,
                       dropout=0.25, dtype=dtype, seed=3)
    model.fit(X, y, epochs=3, batch_size=32)
    assert _nontrivial_bn(model)
    _check_classifier(model, X)


def test_randomly_initialised_model_with_random_running_stats_matches():
    X, rng = _data(seed=1)
    model = fastnn.MLP(hidden=(10, 7), bn_position="after", activation="leaky_relu", seed=0)
    model.prepare(X, rng.integers(0, 4, len(X)))
    for layer in model.layers:
        if isinstance(layer, fastnn.BatchNorm):
            layer.gamma[...] = rng.uniform(0.5, 2, layer.n_out)
            layer.beta[...] = rng.standard_normal(layer.n_out)
            layer.running_mean[...] = rng.standard_normal(layer.n_out)
            layer.running_var[...] = rng.uniform(0.2, 3, layer.n_out)
    _check_classifier(model, X)


def test_every_layer_kind_in_a_sequential():
    """BatchNorm first (not after a Dense: Mul/Add), a Dropout between Dense and BatchNorm,
    every activation, a Dense with and without bias, Dropout(0)."""
    X, rng = _data(seed=2)
    y = (X[:, 0] + X[:, 2] > 1).astype(int) + 2 * (X[:, 3] > 0)
    model = fastnn.Sequential([
        fastnn.BatchNorm(), fastnn.Dense(9), fastnn.Tanh(), fastnn.Dropout(0.3),
        fastnn.BatchNorm(), fastnn.Dense(8, bias=True), fastnn.BatchNorm(), fastnn.ReLU(),
        fastnn.Dense(7), fastnn.LeakyReLU(0.2), fastnn.Dropout(0.0), fastnn.Dense(6),
        fastnn.Sigmoid(), fastnn.Dense(None), fastnn.Softmax()], seed=1)
    model.fit(X, y, epochs=3, batch_size=16)
    assert _nontrivial_bn(model)
    kinds = [step[0] for step in inference_steps(model)]
    # the first BatchNorm and the one after Dropout stay Mul/Add; the one after Dense(8)
    # is folded into it
    assert kinds == ["affine", "dense", "activation", "affine", "dense", "activation", "dense",
                     "activation", "dense", "activation", "dense"]
    _check_classifier(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_labels", [1, 3])
def test_sigmoid_cross_entropy_matches(n_labels, dtype):
    X, _ = _data(seed=4)
    Y = np.stack([X[:, 0] > 0.5, X[:, 1] * X[:, 2] > 0, X[:, 3] > 1], axis=1).astype(int)
    y = Y[:, 0] if n_labels == 1 else Y
    model = fastnn.MLP(hidden=(10,), loss="sigmoid_cross_entropy", dtype=dtype, seed=0)
    model.fit(X, y, epochs=3)
    _check_classifier(model, X)
    assert _run(model.to_onnx(), X, dtype)["label"].dtype == np.int64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("loss", ["mse", "poisson"])
def test_regression_matches(loss, n_targets, dtype):
    X, _ = _data(seed=5)
    Y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    Y = np.exp(Y / 2) if loss == "poisson" else Y       # rates >= 0
    y = Y[:, 0] if n_targets == 1 else Y
    model = fastnn.MLP(hidden=(16, 8), loss=loss, activation="tanh", dtype=dtype, seed=0)
    model.fit(X, y, epochs=3)
    got = _run(model.to_onnx(), X, dtype)
    assert set(got) == {"predictions"}
    assert got["predictions"].shape == model.predict(X).shape
    np.testing.assert_allclose(got["predictions"], model.predict(X), rtol=1e-5, atol=1e-5)


def test_written_file_has_a_dynamic_batch_and_integer_labels(tmp_path):
    X, _ = _data(seed=6)
    y = (X[:, 0] > 0.5).astype(int) * 7          # classes 0 and 7
    model = fastnn.MLP(hidden=(8,), seed=0)
    model.fit(X, y, epochs=2)
    model.feature_names_in_ = [f"f{i}" for i in range(X.shape[1])]
    path = tmp_path / "model.onnx"
    proto = model.to_onnx(path)
    model.feature_names_in_ = None        # predict on plain arrays below without a warning
    loaded = onnx.load(str(path))
    assert loaded == proto
    dims = loaded.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "n_samples" and dims[1].dim_value == X.shape[1]
    assert {p.key: p.value for p in loaded.metadata_props}["feature_names"].startswith('["f0"')
    for rows in (X[:1], X[:5], X):
        got = _run(str(path), rows, np.float32)
        np.testing.assert_array_equal(got["label"], model.predict(rows))
        assert set(np.unique(got["label"])) <= {0, 7}


def test_loaded_model_exports_from_the_command_line(tmp_path, capsys):
    X, _ = _data(seed=7)
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 1)
    model = fastnn.MLP(hidden=(8, 4), bn_position="after", seed=0)
    model.fit(X, y, epochs=2)
    model.save(tmp_path / "m.fnn")
    assert cli.main(["export", str(tmp_path / "m.fnn"), str(tmp_path / "m.onnx")]) == 0
    assert "outputs label, probabilities" in capsys.readouterr().out
    got = _run(str(tmp_path / "m.onnx"), X, np.float32)
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), atol=1e-5)
    assert cli.main(["export", str(tmp_path / "none.fnn"), str(tmp_path / "x.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err


class Square(fastnn.Layer):
    def forward(self, x, training):
        return x * x

    def backward(self, x, y, dy):
        return 2 * x * dy


def test_errors_name_what_is_wrong(tmp_path):
    X, _ = _data(seed=8)
    y = (X[:, 0] > 0.5).astype(int)
    custom = fastnn.Sequential([fastnn.Dense(4), Square(), fastnn.Dense(None), fastnn.Softmax()])
    custom.fit(X, y, epochs=1)
    with pytest.raises(TypeError, match="layer 1, Square, is a layer written in Python"):
        custom.to_onnx(tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()
    with pytest.raises(RuntimeError, match="no weights yet"):
        fastnn.MLP(hidden=(4,)).to_onnx()
    model = fastnn.MLP(hidden=(4,), seed=0)
    model.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="opset must be an integer from 13"):
        model.to_onnx(opset=7)
    with pytest.raises(TypeError, match="path must be a file path"):
        model.to_onnx(3)
    assert model.to_onnx(opset=13).opset_import[0].version == 13


def _dead_pid() -> int:
    """A process id no process has now."""
    import os

    with open("/proc/sys/kernel/pid_max") as fh:
        pid = int(fh.read()) - 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_the_file_is_written_as_a_saved_model_is(tmp_path):
    import os

    X, _ = _data(seed=3)
    model = fastnn.MLP(hidden=(4,), seed=0)
    model.fit(X, (X[:, 0] > 0.5).astype(int), epochs=1)
    path = tmp_path / "m.onnx"
    stale = tmp_path / f"m.onnx.tmp-{_dead_pid()}"      # left by a writer that was killed
    live = tmp_path / f"m.onnx.tmp-{os.getppid()}"      # a writer still running
    for p in (stale, live):
        p.write_bytes(b"x" * 100)
    model.to_onnx(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.onnx", live.name])
    np.testing.assert_allclose(_run(str(path), X, model.dtype)["probabilities"],
                               model.predict_proba(X), rtol=0, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="no folder"):
        model.to_onnx(tmp_path / "missing" / "m.onnx")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        model.to_onnx(tmp_path)


def test_without_onnx_a_clear_message_and_import_fastnn_does_not_load_it(fresh_python):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import numpy as np, fastnn\n"
            "m = fastnn.MLP(hidden=(3,), seed=0); m.fit(np.eye(4), [0, 1, 0, 1], epochs=1)\n"
            "try:\n    m.to_onnx()\nexcept ImportError as e:\n    print(e)\n")
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "needs the onnx package: pip install onnx" in proc.stdout
    assert "fastnn[" not in proc.stdout
    code = "import sys, fastnn; print('onnx' in sys.modules, 'onnxruntime' in sys.modules)"
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "values", "columns",
                                    "counts"])
def test_scikit_learn_estimators_match_onnxruntime(target, dtype):
    import warnings

    X, _ = _data(seed=9)
    Y = np.stack([X[:, 0] > 0.5, X[:, 1] * X[:, 2] > 0], axis=1)
    y = {"binary": np.array(["no", "yes"])[Y[:, 0].astype(int)],
         "multiclass": Y[:, 0] + 2 * Y[:, 1],
         "multilabel": Y.astype(int),
         "values": np.sin(X[:, 0]),
         "columns": np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1),
         "counts": np.floor(np.exp(X[:, 0] / 2))}[target]
    regressor = target in ("values", "columns", "counts")
    cls = fastnn.MLPRegressor if regressor else fastnn.MLPClassifier
    loss = {"loss": "poisson"} if target == "counts" else {}
    est = cls(hidden_layer_sizes=(8, 6), max_iter=5, random_state=0, dtype=dtype,
              batch_norm=target in ("multiclass", "values"), **loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # not converged in 5 iterations
        est.fit(X, y)
    got = _run(est.to_onnx(), X, dtype)
    if regressor:
        assert got["predictions"].shape == est.predict(X).shape
        np.testing.assert_allclose(got["predictions"], est.predict(X), rtol=1e-5, atol=1e-5)
        return
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(X), rtol=0, atol=1e-5)
    assert got["label"].shape == est.predict(X).shape
    np.testing.assert_array_equal(got["label"], est.predict(X))
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().to_onnx()
