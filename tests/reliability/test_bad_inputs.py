"""A table of bad inputs across the model API, fastnn.ops, model files, the search API and
the command line: each must fail with its exception type and a message that names what
was wrong (a phrase of it is checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import MLP, SGD, Adam, BatchNorm, Dense, ReLU, Sequential, Softmax, ops
from fastnn import search as S

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4))
Y = np.arange(40) % 2
W3 = np.ones((3, 2))
X3 = np.ones((4, 3))


class Ctx:
    """What the cases share: a fitted model and a folder for files (made once)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.model = MLP(hidden=(8,), seed=0)
        self.model.fit(X, Y, epochs=1)
        self.good = folder / "good.fnn"
        self.model.save(self.good)
        self.csv = folder / "data.csv"
        self.csv.write_text("".join(f"{i},{i % 3},{i % 2},0.5\n" for i in range(30)))

    def arrays(self):
        with np.load(self.good) as archive:
            return {k: archive[k] for k in archive.files}

    def write(self, name, arrays=None, header_edit=None, raw=None):
        path = self.folder / name
        if raw is not None:
            path.write_bytes(raw)
            return path
        arrays = dict(self.arrays() if arrays is None else arrays)
        if header_edit:
            header = json.loads(str(arrays["header"]))
            header_edit(header)
            arrays["header"] = np.array(json.dumps(header))
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx(tmp_path_factory.mktemp("bad_inputs"))


def _fit(X_, y_, **kw):
    return MLP(hidden=(4,), seed=0, **{k: v for k, v in kw.items() if k in ("loss", "dtype")}
               ).fit(X_, y_, epochs=kw.get("epochs", 1), **{k: v for k, v in kw.items()
                                                             if k not in ("loss", "dtype",
                                                                          "epochs")})


def _with(arrays, **changes):
    out = dict(arrays)
    out.update(changes)
    return out


def _drop(arrays, key):
    return {k: v for k, v in arrays.items() if k != key}


def _nan_params(c):
    a = c.arrays()
    p = a["params"].copy()
    p[0] = np.nan
    return c.write("nan.fnn", _with(a, params=p))


def _saved_with(c, **attrs):
    model = MLP(hidden=(4,), seed=0)
    model.fit(X, Y, epochs=1)
    for k, v in attrs.items():
        setattr(model, k, v)
    model.save(c.folder / "never.fnn")


API = [
    # constructing models
    ("MLP hidden=None", lambda c: MLP(hidden=None), TypeError, "hidden must be a sequence"),
    ("MLP hidden width 0", lambda c: MLP(hidden=(0,)), ValueError, "hidden layer width must be a positive integer"),
    ("MLP hidden width 1.5", lambda c: MLP(hidden=(1.5,)), ValueError, "positive integer; got 1.5"),
    ("MLP seed -1", lambda c: MLP(seed=-1), ValueError, r"seed must be an integer in \[0, 2\*\*64\)"),
    ("MLP seed 1.0", lambda c: MLP(seed=1.0), ValueError, "seed must be an integer"),
    ("MLP dtype float16", lambda c: MLP(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64'"),
    ("MLP activation", lambda c: MLP(activation="elu"), ValueError, "activation must be one of"),
    ("MLP bn_position", lambda c: MLP(bn_position="middle"), ValueError, "bn_position must be 'before' or 'after'"),
    ("MLP dropout 1", lambda c: MLP(dropout=1.0), ValueError, "dropout must be < 1"),
    ("MLP loss", lambda c: MLP(loss="hinge"), ValueError, "loss must be one of"),
    ("MLP loss setting", lambda c: MLP(loss=fastnn.losses.Huber(delta=0)), ValueError,
     "delta must be > 0"),
    ("loss unknown setting", lambda c: fastnn.losses.Huber(alpha=1.0), TypeError,
     "loss 'huber' takes the settings delta; got alpha"),
    ("loss settings twice", lambda c: fastnn.losses.get_loss(fastnn.losses.Huber(), {"delta": 2}),
     TypeError, "settings go with a loss's name"),
    ("MLP n_classes 0", lambda c: MLP(n_classes=0), ValueError, "n_classes must be a positive integer"),
    ("MLP n_threads 0", lambda c: MLP(n_threads=0), ValueError, "n_threads must be at least 1"),
    ("Sequential empty", lambda c: Sequential([]), TypeError, "non-empty list of fastnn layers"),
    ("Sequential no softmax", lambda c: Sequential([Dense(3)]), ValueError, "last layer must be Softmax"),
    ("Sequential layer twice", lambda c: (lambda d: Sequential([d, ReLU(), d, Softmax()]))(Dense(3)),
     ValueError, "appears twice"),
    ("Dense units -1", lambda c: Dense(-1), ValueError, "units must be a positive integer or None"),
    ("BatchNorm momentum 2", lambda c: BatchNorm(momentum=2), ValueError, "momentum must be <= 1"),
    # fit: X
    ("fit X 1-D", lambda c: _fit(np.ones(5), Y[:5]), ValueError, r"X.reshape\(1, -1\)"),
    ("fit X strings", lambda c: _fit([[1, "a"], [2, 3]], [0, 1]), TypeError, "X must hold numbers .* text"),
    ("fit X objects", lambda c: _fit(np.array([[1, None], [2, 3]], dtype=object), [0, 1]), TypeError,
     "Python objects"),
    ("fit X ragged", lambda c: _fit([[1, 2], [3]], [0, 1]), ValueError, "X must be a rectangular array"),
    ("fit X NaN", lambda c: _fit(np.where(X > 1.5, np.nan, X), Y), ValueError, "X contains NaN or infinite"),
    ("fit X beyond float32", lambda c: _fit(np.full((4, 2), 1e300), [0, 1, 0, 1]), ValueError,
     "beyond float32's range .* dtype='float64'"),
    ("fit X empty", lambda c: _fit(np.ones((0, 3)), []), ValueError, "X has no samples"),
    ("fit X complex", lambda c: _fit(X.astype(complex), Y), TypeError, "complex numbers"),
    ("fit one sample", lambda c: _fit(X[:1], Y[:1]), ValueError, "at least 2 samples"),
    # fit: y
    ("fit y None", lambda c: _fit(X, None), ValueError, "y is required"),
    ("fit y inf", lambda c: _fit(X, np.where(Y == 1, np.inf, 0.0)), ValueError, "NaN or infinite labels"),
    ("fit y NaN", lambda c: _fit(X, np.where(Y == 1, np.nan, 0.0)), ValueError, "NaN or infinite labels"),
    ("fit y continuous", lambda c: _fit(X, rng.random(40)), ValueError, "loss='mse'"),
    ("fit y with None", lambda c: _fit(X[:4], [0, 1, None, 1]), ValueError, "missing labels .* index 2"),
    ("fit y ints and tuples", lambda c: _fit(X[:4], np.array([0, 1, (1, 2), 1], dtype=object)), TypeError,
     "cannot be sorted together"),
    ("fit y one class", lambda c: _fit(X, np.zeros(40)), ValueError, "at least 2 classes"),
    ("fit y wrong length", lambda c: _fit(X, Y[:10]), ValueError, r"y must have shape \(40,\)"),
    ("fit y 2-D softmax", lambda c: _fit(X, np.ones((40, 2))), ValueError, "sigmoid_cross_entropy"),
    ("fit y ragged", lambda c: _fit(X[:2], [[0], [1, 2]]), ValueError, "y must be a rectangular array"),
    ("fit mse y strings", lambda c: _fit(X, np.array(["a"] * 40), loss="mse"), TypeError,
     "y must hold real values"),
    ("fit mse y beyond float32", lambda c: _fit(X, np.full(40, 1e300), loss="mse"), ValueError,
     "y holds values beyond float32's range"),
    ("fit sigmoid y 2", lambda c: _fit(X, Y * 2, loss="sigmoid_cross_entropy"), ValueError,
     "must hold 0 or 1"),
    # fit: options
    ("fit epochs 0", lambda c: _fit(X, Y, epochs=0), ValueError, "epochs must be a positive integer"),
    ("fit batch_size 1 with BN", lambda c: _fit(X, Y, batch_size=1), ValueError, "batch_size must be at least 2"),
    ("fit batch_size 2.5", lambda c: _fit(X, Y, batch_size=2.5), ValueError, "batch_size must be a positive integer"),
    ("fit seed -3", lambda c: _fit(X, Y, seed=-3), ValueError, "numpy Generator or None"),
    ("fit optimizer string", lambda c: _fit(X, Y, optimizer="adam"), TypeError, "fastnn Optimizer"),
    ("fit sample_weight negative", lambda c: _fit(X, Y, sample_weight=-np.ones(40)), ValueError,
     "finite values >= 0"),
    ("fit sample_weight zero", lambda c: _fit(X, Y, sample_weight=np.zeros(40)), ValueError, "sums to 0"),
    ("fit validation_data 1-tuple", lambda c: _fit(X, Y, validation_data=(X,)), TypeError, "validation_data must be a tuple"),
    ("fit X_val features", lambda c: _fit(X, Y, validation_data=(X[:, :3], Y)), ValueError,
     "X_val has 3 features"),
    ("fit y_val unknown class", lambda c: _fit(X, Y, validation_data=(X, Y + 5)), ValueError,
     "labels the model does not know"),
    ("fit shuffle 'no'", lambda c: _fit(X, Y, shuffle="no"), TypeError, "shuffle must be True or False; got 'no'"),
    ("fit verbose 'yes'", lambda c: _fit(X, Y, verbose="yes"), TypeError, "verbose must be 0"),
    ("MLP batch_norm 'no'", lambda c: MLP(batch_norm="no"), TypeError, "batch_norm must be True or False"),
    ("fit sample_weight ragged", lambda c: _fit(X[:2], Y[:2], sample_weight=[[1], [1, 2]]), ValueError,
     "sample_weight must be a rectangular array"),
    ("fit sample_weight strings", lambda c: _fit(X[:2], Y[:2], sample_weight=["a", "b"]), TypeError,
     "sample_weight must hold numbers .* text"),
    ("fit lr_decay number", lambda c: _fit(X, Y, lr_decay=0.5), TypeError, "lr_decay must be None or a callable"),
    ("fit callback number", lambda c: _fit(X, Y, callbacks=[3]), TypeError, "a callback must be"),
    ("Adam lr negative", lambda c: Adam(lr=-1), ValueError, "lr"),
    ("Optimizer.step overlapping params", lambda c: (lambda b: Adam().step([b[:5], b[3:8]], [np.ones(5)] * 2))(
        np.ones(10)), ValueError, r"params\[1\] must not overlap params\[0\]"),
    ("Optimizer.step grad of another param", lambda c: (lambda p: Adam().step([p, np.ones(5)], [np.ones(5), p]))(
        np.ones(5)), ValueError, r"params\[0\] must not overlap grads\[1\]"),
    ("Optimizer.step one array", lambda c: Adam().step(np.ones(3), np.ones(3)), TypeError, "lists of arrays"),
    ("SGD lr NaN", lambda c: SGD(lr=float("nan")), ValueError, "lr"),
    ("fit Adam lr 1e6 explodes", lambda c: _fit(X, Y, epochs=3, optimizer=Adam(lr=1e6)),
     fastnn.DivergedError, "exploded"),
    # predict
    ("predict wrong features", lambda c: c.model.predict(X[:, :3]), ValueError, "has 3 features but the model takes 4"),
    ("predict 1-D", lambda c: c.model.predict(X[0]), ValueError, "single sample"),
    ("predict NaN", lambda c: c.model.predict(np.full((2, 4), np.nan)), ValueError, "NaN or infinite"),
    ("predict strings", lambda c: c.model.predict(np.array([["a"] * 4])), TypeError, "text"),
    ("predict unfitted", lambda c: MLP().predict(X), RuntimeError, "no weights yet"),
    ("predict_proba mse", lambda c: (lambda m: (m.fit(X, X[:, 0], epochs=1), m.predict_proba(X)))(
        MLP(hidden=(4,), loss="mse", seed=0)), TypeError, "use predict"),
    ("evaluate unknown labels", lambda c: c.model.evaluate(X, Y + 7), ValueError, "labels the model does not know"),
    ("set_weights shape", lambda c: c.model.set_weights({"params": np.ones(3), "state": np.ones(3)}),
     ValueError, "params must have shape"),
]

OPS = [
    ("dense x 1-D", lambda c: ops.dense_forward(np.ones(3), W3), ValueError, "x must be 2-dimensional"),
    ("dense W rows", lambda c: ops.dense_forward(X3, np.ones((4, 2))), ValueError, r"W must have shape \(3, n_out\)"),
    ("dense mixed dtypes", lambda c: ops.dense_forward(X3.astype(np.float32), W3), TypeError,
     "W has dtype float64 but x has dtype float32"),
    ("dense float16", lambda c: ops.dense_forward(X3.astype(np.float16), W3), TypeError,
     "x has dtype float16; the kernels take float32 or float64"),
    ("dense strings", lambda c: ops.dense_forward(np.array([["a"]]), W3), TypeError, "x must hold real numbers"),
    ("dense ragged", lambda c: ops.dense_forward([[1.0, 2.0], [1.0]], W3), ValueError, "x must be a rectangular array"),
    ("dense None", lambda c: ops.dense_forward(None, W3), TypeError, "x must be an array of numbers; got None"),
    ("dense out overlaps x", lambda c: (lambda x: ops.dense_forward(x, np.ones((4, 4)), out=x))(np.ones((4, 4))),
     ValueError, "out must not overlap x"),
    ("dense out read-only", lambda c: (lambda o: (o.setflags(write=False), ops.dense_forward(X3, W3, out=o)))(
        np.empty((4, 2))), ValueError, "writeable"),
    ("dense_backward out overlap", lambda c: (lambda b: ops.dense_backward(np.ones((4, 2)), X3, W3,
                                                                          out=(b[:12].reshape(4, 3), b[6:12].reshape(3, 2), None)))(
        np.zeros(20)), ValueError, "dW must not overlap dx"),
    ("batchnorm 1 row", lambda c: ops.batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3)), ValueError,
     "at least 2 samples"),
    ("batchnorm running aliased", lambda c: (lambda r: ops.batchnorm_forward(X3, np.ones(3), np.zeros(3),
                                                                            running_mean=r, running_var=r))(np.zeros(3)),
     ValueError, "running_var must not overlap running_mean"),
    ("batchnorm relu 'no'", lambda c: ops.batchnorm_forward(X3, np.ones(3), np.zeros(3), relu="no"), TypeError,
     "relu must be True or False"),
    ("mse compute_grad 0", lambda c: ops.mse(np.zeros(3), np.zeros(3), compute_grad=0), TypeError,
     "compute_grad must be True or False"),
    ("batchnorm eps 0", lambda c: ops.batchnorm_forward(X3, np.ones(3), np.zeros(3), eps=0), ValueError, "eps must be > 0"),
    ("batchnorm_inference negative var", lambda c: ops.batchnorm_inference(X3, np.ones(3), np.zeros(3), np.zeros(3),
                                                                          -np.ones(3)), ValueError, "non-negative"),
    ("softmax inf", lambda c: ops.softmax(np.array([[np.inf, 0.0]])), ValueError, r"z\[0, 0\] is inf"),
    ("softmax NaN", lambda c: ops.log_softmax(np.array([[0.0, np.nan]])), ValueError, "finite numbers or -inf"),
    ("softmax row all -inf", lambda c: ops.softmax(np.full((1, 3), -np.inf)), ValueError, "-inf throughout"),
    ("softmax_ce labels range", lambda c: ops.softmax_cross_entropy(X3, [0, 1, 3, 0]), ValueError, r"in \[0, 2\]"),
    ("softmax_ce float labels", lambda c: ops.softmax_cross_entropy(X3, [0.0, 1, 2, 0]), TypeError,
     "integer class indices"),
    ("softmax_ce labels ragged", lambda c: ops.softmax_cross_entropy(X3, [[0], [1, 2], [0], [1]]), ValueError,
     "labels must be a rectangular array"),
    ("sigmoid_ce targets", lambda c: ops.sigmoid_cross_entropy(np.zeros(3), [0, 2, 1]), ValueError,
     r"y must lie in \[0, 1\]"),
    ("mse y NaN", lambda c: ops.mse(np.zeros(3), [0, np.nan, 1]), ValueError, "y contains NaN"),
    ("mse y shape", lambda c: ops.mse(np.zeros(3), [0, 1]), ValueError, "y must have the shape of z"),
    ("huber delta", lambda c: ops.huber(np.zeros(3), [0, 1, 2], delta=-1.0), ValueError,
     "delta must be > 0"),
    ("poisson y negative", lambda c: ops.poisson(np.zeros(3), [0, -1, 2]), ValueError,
     r"y must be >= 0 \(counts or rates\) for poisson"),
    ("dropout rate 1", lambda c: ops.dropout(X3, 1.0, 0, 0), ValueError, "rate must be < 1"),
    ("dropout seed -1", lambda c: ops.dropout(X3, 0.5, -1, 0), ValueError, r"seed must be an integer in \[0, 2\*\*64\)"),
    ("dropout step -1", lambda c: ops.dropout(X3, 0.5, 0, -1), ValueError, r"step must be an integer >= 0 and < 2\*\*64"),
    ("dropout step 1.5", lambda c: ops.dropout(X3, 0.5, 0, 1.5), TypeError, r"step must be an integer .* got 1.5 \(float\)"),
    ("dropout layer 2**31", lambda c: ops.dropout(X3, 0.5, 0, 0, layer=2**31), ValueError, r"layer .* < 2\*\*31"),
    ("leaky_relu alpha", lambda c: ops.leaky_relu(X3, alpha=-0.1), ValueError, "alpha must be >= 0"),
    ("relu_backward shapes", lambda c: ops.relu_backward(np.ones(3), X3), ValueError, "dy must have the shape of y"),
    ("sgd param list", lambda c: ops.sgd_update([1.0, 2.0], [1.0, 1.0], 0.1), TypeError, "updated in place"),
    ("sgd param is grad", lambda c: (lambda p: ops.sgd_update(p, p, 0.1))(np.ones(3)), ValueError,
     "param must not overlap grad"),
    ("adam m is v", lambda c: (lambda m: ops.adam_update(np.ones(3), np.ones(3), m, m, 0.1, 1))(np.zeros(3)),
     ValueError, "v must not overlap m"),
    ("adam state is grad", lambda c: (lambda g: ops.adam_update(np.ones(3), g, np.zeros(3), g, 0.1, 1))(np.ones(3)),
     ValueError, "v must not overlap grad"),
    ("adam step 0", lambda c: ops.adam_update(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 0.1, 0),
     ValueError, "steps count from 1"),
    ("momentum beta 1", lambda c: ops.momentum_update(np.ones(3), np.ones(3), np.zeros(3), 0.1, beta=1.0),
     ValueError, "beta must be < 1"),
    ("rmsprop state shape", lambda c: ops.rmsprop_update(np.ones(3), np.ones(3), np.zeros(2), 0.1), ValueError,
     "shape of param"),
    ("n_threads 0", lambda c: ops.relu(X3, n_threads=0), ValueError, "n_threads must be at least 1"),
    ("n_threads float", lambda c: ops.relu(X3, n_threads=2.0), TypeError, "positive integer or None"),
]

FILES = [
    ("load missing", lambda c: fastnn.load(c.folder / "nope.fnn"), FileNotFoundError, "no such model file"),
    ("load text file", lambda c: fastnn.load(c.write("text.fnn", raw=b"hello")), ValueError, "not a zip archive"),
    ("load truncated", lambda c: fastnn.load(c.write("half.fnn", raw=c.good.read_bytes()[:300])), ValueError,
     "not a zip archive|cannot read"),
    ("load no header", lambda c: fastnn.load(c.write("nohead.fnn", _drop(c.arrays(), "header"))), ValueError,
     "no header"),
    ("load foreign format", lambda c: fastnn.load(c.write("foreign.fnn", header_edit=lambda h: h.update(format="x"))),
     ValueError, "does not describe a fastnn model"),
    ("load future version", lambda c: fastnn.load(c.write("v99.fnn", header_edit=lambda h: h.update(format_version=99))),
     ValueError, "format version 99"),
    ("load NaN params", lambda c: fastnn.load(_nan_params(c)), ValueError, "holds NaN or infinite values"),
    ("load huge declared weights", lambda c: fastnn.load(c.write("huge.fnn", header_edit=lambda h: h["config"]["mlp"].update(
        hidden=[12000, 12000]))), ValueError, "does not fit the architecture its header declares"),
    ("load 1e5 declared weights", lambda c: fastnn.load(c.write("huger.fnn", header_edit=lambda h: h["config"]["mlp"].update(
        hidden=[100000, 100000]))), ValueError, "does not fit the architecture"),
    ("load object array", lambda c: fastnn.load(c.write("obj.fnn", _with(c.arrays(), params=np.array([object()] * 3))))
     , ValueError, "pickled"),
    ("load names mismatch", lambda c: fastnn.load(c.write("names.fnn", header_edit=lambda h: h.update(
        feature_names=["a"]))), ValueError, r"feature names \(1 of them\)"),
    ("save feature names mismatch", lambda c: _saved_with(c, feature_names_in_=["a"]), ValueError,
     "cannot be saved: load would refuse"),
    ("save NaN parameters", lambda c: _save_non_finite(c), ValueError, "NaN or infinite"),
    ("load optimizer state of another shape", lambda c: fastnn.load(_short_optimizer_state(c)), ValueError,
     "its optimizer state 'm'"),
    ("save unfitted", lambda c: MLP().save(c.folder / "u.fnn"), RuntimeError, "no weights yet"),
    ("save into a missing folder", lambda c: c.model.save(c.folder / "no" / "such" / "m.fnn"), FileNotFoundError,
     "cannot save there: no folder .*such"),
    ("save onto a folder", lambda c: c.model.save(c.folder), IsADirectoryError, "it is a folder"),
]


def _short_optimizer_state(c):
    path = c.folder / "with_optimizer.fnn"
    c.model.save(path, include_optimizer=True)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["optimizer/m/0"] = arrays["optimizer/m/0"][:3]
    return c.write("short_state.fnn", arrays)


def _save_non_finite(c):
    model = MLP(hidden=(4,), seed=0)
    model.fit(X, Y, epochs=1)
    model.engine.params[0] = np.inf
    model.save(c.folder / "never.fnn")


SEARCH = [
    ("Uniform lo > hi", lambda c: S.Uniform(1, 0), ValueError, "Uniform needs lo < hi"),
    ("LogUniform lo 0", lambda c: S.LogUniform(0, 1), ValueError, "lo > 0"),
    ("IntUniform float", lambda c: S.IntUniform(0.5, 3), ValueError, "lo must be an integer"),
    ("Choice empty", lambda c: S.Choice([]), ValueError, "at least one option"),
    ("OneMinusLogUniform hi 1", lambda c: S.OneMinusLogUniform(0.9, 1.0), ValueError, "0 < lo < hi < 1"),
    ("Space value", lambda c: S.Space({"lr": 3}), TypeError, "must be a distribution"),
    ("Study path is a folder", lambda c: S.Study(c.folder, space={"lr": S.Uniform(0, 1)}), S.StudyFileError,
     "is a directory"),
    ("Study not a database", lambda c: S.Study(c.write("notdb.db", raw=b"hello" * 100), space={"lr": S.Uniform(0, 1)}),
     S.StudyFileError, "not an SQLite database"),
    ("Study direction", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}, direction="up"), ValueError,
     "direction must be one of"),
    ("Study seed -1", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}, seed=-1), ValueError, "seed must be an integer"),
    ("optimize n_trials 0", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}).optimize(lambda p, t: 1.0, n_trials=0),
     ValueError, "n_trials must be an integer >= 1"),
    ("optimize objective", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}).optimize(3, n_trials=1), TypeError,
     "objective must be callable"),
    ("optimize n_jobs 0", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}).optimize(lambda p, t: 1.0, n_trials=1, n_jobs=0),
     ValueError, "n_jobs must be an integer >= 1"),
    ("optimize timeout -1", lambda c: S.Study(space={"lr": S.Uniform(0, 1)}).optimize(lambda p, t: 1.0, n_trials=1,
                                                                                    timeout=-1),
     ValueError, "positive number of seconds"),
]

TABLE = API + OPS + FILES + SEARCH


def test_the_table_is_large_enough():
    assert len(TABLE) + len(CLI) + len(CLI_SUBPROCESS) >= 80
    assert len({name for name, *_ in TABLE}) == len(TABLE)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("name, call, error, phrase", TABLE, ids=[row[0] for row in TABLE])
def test_bad_input(ctx, name, call, error, phrase):
    with pytest.raises(error, match=phrase):
        call(ctx)


# ---------------------------------------------------------------- command line

CLI = [
    ("epochs not a number", ["train", "--epochs", "ten"], "--epochs: expected a positive whole number"),
    ("epochs zero", ["train", "--epochs", "0"], "--epochs"),
    ("unknown command", ["fly"], "unknown command 'fly'"),
    ("missing data file", ["train", "--data", "{folder}/nope.csv"], "no such file"),
    ("val split 2", ["train", "--val-split", "2"], "--val-split: expected a number between 0 and 1"),
    ("hidden 0", ["train", "--hidden", "0"], "--hidden: expected positive widths"),
    ("dropout 1", ["train", "--dropout", "1"], "--dropout"),
    ("target not a column", ["train", "--data", "{csv}", "--target", "nope"], "nope"),
    ("exploding training", ["train", "--lr", "1e6", "--epochs", "2", "--quiet"], "exploded"),
    ("predict without arguments", ["predict"], "required: model, csv"),
    ("predict missing model", ["predict", "{folder}/nope.fnn", "{csv}"], "nope.fnn"),
    ("predict not a model", ["predict", "{folder}/notamodel.fnn", "{csv}"], "not a valid fastnn model file"),
    ("predict missing csv", ["predict", "{good}", "{folder}/nope.csv"], "nope.csv"),
    ("predict out into a missing folder", ["predict", "{good}", "{csv}", "--out", "{folder}/no/p.csv"],
     "no/p.csv"),
    ("study show not a database", ["study", "show", "{folder}/notdb2.db"], "not an SQLite database"),
]
CLI_SUBPROCESS = [      # "fastnn" runs the installed entry point, "-m" python -m fastnn
    ("epochs not a number", "-m", ["train", "--epochs", "ten"], "--epochs"),
    ("predict not a model", "-m", ["predict", "{folder}/notamodel.fnn", "{csv}"],
     "not a valid fastnn model file"),
    ("study show not a database", "fastnn", ["study", "show", "{folder}/notdb2.db"],
     "not an SQLite database"),
]


def _argv(ctx, args):
    (ctx.folder / "notamodel.fnn").write_bytes(b"not a model")
    (ctx.folder / "notdb2.db").write_bytes(b"hello" * 100)
    return [a.format(folder=ctx.folder, csv=ctx.csv, good=ctx.good) for a in args]


@pytest.mark.parametrize("name, args, phrase", CLI, ids=[row[0] for row in CLI])
def test_bad_command_line(ctx, capsys, name, args, phrase):
    from fastnn import cli

    status = cli.main(_argv(ctx, args))
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert phrase in err, err


@pytest.mark.parametrize("name, how, args, phrase", CLI_SUBPROCESS,
                         ids=[row[0] for row in CLI_SUBPROCESS])
def test_bad_command_line_in_a_process(ctx, name, how, args, phrase):
    command = ([sys.executable, "-m", "fastnn"] if how == "-m" else
               [str(Path(sys.executable).parent / "fastnn")])
    out = subprocess.run([*command, *_argv(ctx, args)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "FASTNN_DEBUG": ""})
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and phrase in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
