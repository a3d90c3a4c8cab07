"""Bad files of the newer surface: model files from a newer fastnn, CSV input that is not text,
exports and curves of models that are not fastnn's. Each case asserts the exception type and
the words that name the problem; a refused model file is left byte-for-byte as it was."""

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import MLP, MLPClassifier, MLPRegressor
from fastnn.datasets._csv import read_csv
from fastnn.io import NewerFormatError

rng = np.random.default_rng(0)
X = rng.standard_normal((30, 3))
Y = np.arange(30) % 2


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    model = MLP(hidden=(4,), seed=0)
    model.fit(X, Y, epochs=1)
    model.save(folder / "good.fnn")
    return folder


def _with_header(folder, name, **changes):
    with np.load(folder / "good.fnn") as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays["header"]))
    header.update(changes)
    arrays["header"] = np.array(json.dumps(header))
    path = folder / name
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


MODEL_FILES = [
    ("format version 3", dict(format_version=3, fastnn_version="0.9.0"), NewerFormatError,
     r"format version 3 \(written by fastnn 0.9.0\); this fastnn .* reads format versions 1 to 2: "
     "upgrade fastnn"),
    ("format version 1000", dict(format_version=1000), NewerFormatError,
     r"upgrade fastnn \(the fastnn-mlp distribution\)"),
    ("format version '3'", dict(format_version="3"), ValueError, "format version is '3', not a whole number"),
    ("format version 2.0", dict(format_version=2.0), ValueError, "format version is 2.0, not a whole number"),
    ("format version true", dict(format_version=True), ValueError, "format version is True"),
    ("format version null", dict(format_version=None), ValueError, "format version is None"),
    ("format version 0", dict(format_version=0), ValueError, r"format version 0 is not one of \[1, 2\]"),
]


@pytest.mark.parametrize("name, changes, error, phrase", MODEL_FILES, ids=[r[0] for r in MODEL_FILES])
def test_model_file_of_another_format_version(saved, name, changes, error, phrase):
    path = _with_header(saved, name.replace(" ", "_") + ".fnn", **changes)
    before = path.read_bytes()
    with pytest.raises(error, match=phrase):
        fastnn.load(path)
    assert path.read_bytes() == before
    assert str(path) in str(pytest.raises(error, fastnn.load, path).value)   # names the file


def test_newer_model_file_in_the_cli(saved, capsys):
    from fastnn import cli

    path = _with_header(saved, "newer.fnn", format_version=3)
    csv = saved / "rows.csv"
    csv.write_text("a,b,c\n1,2,3\n")
    assert cli.main(["predict", str(path), str(csv)]) == 2
    err = capsys.readouterr().err
    assert "newer.fnn" in err and "upgrade fastnn" in err and len(err.strip().splitlines()) == 1


def test_a_refused_save_leaves_the_old_file(saved):
    path = saved / "kept.fnn"
    model = MLP(hidden=(4,), seed=0)
    model.fit(X, Y, epochs=1)
    model.save(path)
    before = path.read_bytes()
    model.engine.params[0] = np.nan              # load would refuse such a file
    with pytest.raises(ValueError, match="cannot be saved"):
        model.save(path)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- CSV that is not text

BINARY = [
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "holds a PNG image"),
    ("zip", b"PK\x03\x04" + b"\x00" * 40, r"holds a zip archive \(an .xlsx workbook"),
    ("sqlite", b"SQLite format 3\x00" + b"\x00" * 80, "holds an SQLite database"),
    ("pdf", b"%PDF-1.7\n" + b"\x00\x01", "holds a PDF document"),
    ("gzip", b"\x1f\x8b\x08" + b"\x00" * 20, "holds a gzip archive"),
    ("npy", b"\x93NUMPY\x01\x00" + b"\x00" * 20, r"holds a NumPy .npy array"),
    ("nul byte", b"a,b\n1,2\x00\n", r"binary data \(a NUL byte at offset 7\)"),
    ("latin-1", b"a,b\n1,\xe9t\xe9\n", r"not in UTF-8 \(byte 0xe9 at offset 6\)"),
    ("utf-16", "a,b\n1,2\n".encode("utf-16"), "is not a CSV text file"),
]


@pytest.mark.parametrize("label, raw, phrase", BINARY, ids=[r[0] for r in BINARY])
def test_csv_that_is_not_text_names_the_file(tmp_path, label, raw, phrase):
    path = tmp_path / f"{label}.csv"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=phrase) as info:
        read_csv(path)
    assert str(path) in str(info.value) and "codec" not in str(info.value)


def test_csv_bad_bytes_past_the_first_block_name_the_file(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 40000 + b"3,\xff\n")
    with pytest.raises(ValueError, match="late.csv is not UTF-8 text"):
        read_csv(path, target="b")


@pytest.mark.parametrize("command", ["train", "predict"])
def test_cli_binary_csv_names_the_file(tmp_path, capsys, saved, command):
    from fastnn import cli

    path = tmp_path / "picture.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    args = (["train", "--data", str(path), "--target", "y"] if command == "train"
            else ["predict", str(saved / "good.fnn"), str(path)])
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "picture.csv is not a CSV text file" in err and "codec" not in err, err


# ---------------------------------------------------------------- not fastnn's models

def test_to_onnx_of_scikit_learns_estimator_says_not_fastnn():
    pytest.importorskip("onnx")
    from sklearn.neural_network import MLPClassifier as SkMLP

    from fastnn.export import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkMLP(hidden_layer_sizes=(3,), max_iter=2).fit(X, Y)
    with pytest.raises(TypeError, match="sklearn.neural_network.* not a fastnn model"):
        to_onnx(theirs)
    with pytest.raises(RuntimeError, match="MLPClassifier is not fitted yet"):
        to_onnx(MLPClassifier())


def test_learning_curves_of_the_estimators():
    pytest.importorskip("matplotlib")
    from fastnn.plot import learning_curves

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True,
                            random_state=0).fit(np.vstack([X] * 2), np.hstack([Y] * 2))
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, X[:, 0])
    for est in (clf, reg):
        fig = learning_curves(est)
        line = fig.axes[0].get_lines()[0]
        assert list(line.get_ydata()) == pytest.approx(est.loss_curve_)
    assert len(learning_curves(clf).axes) == 2            # loss, and validation accuracy


@pytest.mark.parametrize("est, phrase", [
    (lambda: MLPClassifier(), "MLPClassifier has no learning curve: fit it first"),
    (lambda: MLPRegressor(solver="lbfgs", max_iter=3).fit(X, X[:, 0]),
     "solver='lbfgs' keeps none"),
])
def test_learning_curves_of_an_estimator_without_one(est, phrase):
    pytest.importorskip("matplotlib")
    from fastnn.plot import learning_curves

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = est()
    with pytest.raises(ValueError, match=phrase):
        learning_curves(model)


# ---------------------------------------------------------------- babysitting runs

def _sitter(folder, **kw):
    from fastnn.search import Babysitter

    args = {"model": MLP(hidden=(4,), seed=0), "X": X, "y": Y, "validation_data": (X, Y),
            "checkpoint_dir": folder / "run"}
    args.update(kw)
    return Babysitter(**args)


SITTER = [
    ("X None", dict(X=None), TypeError, "X must be an array of numbers; got None"),
    ("y wrong length", dict(y=Y[:5]), ValueError, r"y must have shape \(30,\)"),
    ("validation_data 1-tuple", dict(validation_data=(X,)), TypeError, "validation_data must be a tuple"),
    ("validation_data features", dict(validation_data=(X[:, :2], Y)), ValueError, "X_val has 2 features"),
    ("validation_data weights", dict(validation_data=(X, Y, np.ones(3))), ValueError,
     r"sample_weight_val \(validation_data\[2\]\) must have shape"),
    ("batch_size 0", dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    ("batch_size 1.5", dict(batch_size=1.5), ValueError, "batch_size must be a positive integer"),
    ("seed -1", dict(seed=-1), ValueError, r"seed must be an integer in \[0, 2\*\*64\)"),
    ("seed None", dict(seed=None), ValueError, "seed must be an integer"),
    ("model not fastnn", dict(model="mlp"), TypeError, "model must be a fastnn model"),
    ("optimizer string", dict(optimizer="adam"), TypeError, "optimizer must be a fastnn Optimizer"),
    ("checkpoint_dir number", dict(checkpoint_dir=3), TypeError, "checkpoint_dir must be a directory name"),
]


@pytest.mark.parametrize("name, changes, error, phrase", SITTER, ids=[r[0] for r in SITTER])
def test_a_refused_babysitter_makes_no_directory(tmp_path, name, changes, error, phrase):
    with pytest.raises(error, match=phrase):
        _sitter(tmp_path, **changes)
    assert not (tmp_path / "run").exists()


def test_babysitter_on_a_file_and_bad_epochs(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="checkpoint_dir .* is a file"):
        _sitter(tmp_path, checkpoint_dir=tmp_path / "file")
    sitter = _sitter(tmp_path)
    for bad in (0, 1.5, -2):
        with pytest.raises(ValueError, match="epochs must be a positive integer"):
            sitter.auto(bad)
        with pytest.raises(ValueError, match="epochs must be a positive integer"):
            sitter.train(bad)
    with pytest.raises(TypeError, match="policy must be an AutoPolicy"):
        sitter.auto(1, policy="aggressive")
    assert sitter.epoch == 0
