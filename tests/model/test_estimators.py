"""fastnn.MLPClassifier and MLPRegressor: scikit-learn's estimator checks, the same fits as
scikit-learn's own MLPs (same random_state, float64), and their use in scikit-learn's tools."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy import sparse  # noqa: E402
from scipy.stats import loguniform  # noqa: E402
from sklearn import neural_network as sknn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import (GridSearchCV, RandomizedSearchCV,  # noqa: E402
                                     cross_val_score)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    # scikit-learn runs its own MLPs with max_iter=100 in these checks; no check is expected
    # to fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _data(n=120, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    logits = X @ rng.normal(size=(n_features, 3))
    return X, logits


def _same_fit(ours, theirs, X, y, loss_rtol=1e-6, **fit_args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, **fit_args)
        theirs.fit(X, y, **fit_args)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=loss_rtol)


SOLVERS = [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.1, batch_size=50),                 # a shorter last batch
    dict(solver="sgd", learning_rate_init=0.05),                   # Nesterov (the default)
    dict(solver="sgd", learning_rate_init=0.05, learning_rate="invscaling",
         power_t=0.25),                                              # Nesterov, lr changing
    dict(solver="sgd", learning_rate_init=0.05, nesterovs_momentum=False,
         learning_rate="invscaling", power_t=0.25),
    dict(solver="sgd", momentum=0.0, learning_rate_init=0.1, learning_rate="adaptive",
         tol=0.05, n_iter_no_change=2),
    dict(solver="adam", early_stopping=True, n_iter_no_change=3),
    dict(solver="lbfgs"),
]


@pytest.mark.parametrize("params", SOLVERS, ids=lambda p: "-".join(map(str, p.values())))
def test_classifier_fits_as_sklearn_does(params):
    X, logits = _data()
    y = np.array(["a", "b", "c"])[np.argmax(logits, axis=1)]
    args = dict(hidden_layer_sizes=(7, 5), random_state=0, max_iter=12, **params)
    ours, theirs = MLPClassifier(**args), sknn.MLPClassifier(**args)
    # the compiled epoch's L2 term in loss_curve_ is the mean of the epoch's start and end
    loss_rtol = 1e-4 if params.get("alpha", 0) > 0.01 else 1e-6
    _same_fit(ours, theirs, X, y, loss_rtol=loss_rtol)
    if params["solver"] != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=loss_rtol)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
    assert ours.out_activation_ == theirs.out_activation_ == "softmax"


@pytest.mark.parametrize("kind", ["binary", "multilabel", "regression", "regression2"])
def test_outputs_and_losses_match_sklearn(kind):
    X, logits = _data()
    args = dict(hidden_layer_sizes=(6,), random_state=1, max_iter=8, activation="tanh",
                alpha=0.01)
    if kind.startswith("regression"):
        y = logits[:, 0] if kind == "regression" else logits[:, :2]
        ours, theirs = MLPRegressor(**args), sknn.MLPRegressor(**args)
    else:
        y = (logits[:, 0] > 0) if kind == "binary" else (logits > 0).astype(int)
        ours, theirs = MLPClassifier(**args), sknn.MLPClassifier(**args)
    _same_fit(ours, theirs, X, y, loss_rtol=1e-4)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_outputs_ == theirs.n_outputs_ and ours.n_layers_ == theirs.n_layers_


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sample_weights_match_sklearn(solver):
    X, logits = _data()
    y = logits[:, 0]
    w = np.random.default_rng(3).uniform(0, 2, len(y))
    args = dict(hidden_layer_sizes=(5,), random_state=2, max_iter=6, solver=solver,
                activation="logistic", learning_rate_init=0.01)
    _same_fit(MLPRegressor(**args), sknn.MLPRegressor(**args), X, y, sample_weight=w)


def test_float32_stays_float32_and_float64_can_be_asked():
    X, logits = _data()
    y = logits[:, 0]
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert model.fit(X.astype(np.float32), y).coefs_[0].dtype == np.float32
        assert model.set_params(dtype="float64").fit(X.astype(np.float32), y).coefs_[0].dtype \
            == np.float64
    with pytest.raises(ValueError, match="dtype"):
        model.set_params(dtype="int8").fit(X, y)


def test_convergence_warning_and_partial_fit():
    X, logits = _data()
    y = np.argmax(logits, axis=1)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, solver="lbfgs").fit(X, y)
    model = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[:10], y[:10], classes=[0, 1, 2])
    model.partial_fit(X[10:], y[10:])
    assert model.n_iter_ == 1 and model.t_ == len(X) and list(model.classes_) == [0, 1, 2]
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_parameters_are_checked_at_fit_with_their_names():
    X, logits = _data(30)
    y = np.argmax(logits, axis=1)
    for params, word in [({"solver": "newton"}, "solver"), ({"alpha": -1}, "alpha"),
                         ({"hidden_layer_sizes": (3, 0)}, "hidden_layer_sizes"),
                         ({"momentum": 2}, "momentum"), ({"batch_size": 0}, "batch_size"),
                         ({"activation": "gelu"}, "activation")]:
        with pytest.raises(ValueError, match=word):
            MLPClassifier(**params).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_weighted_batches_take_alpha_over_their_weight_in_the_compiled_epoch(solver):
    # a strong L2 and batches of unequal weight: each batch's decay is alpha / its weight
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 8))
    y, w = X[:, 0] - X[:, 1] ** 2, rng.uniform(0, 2, 500)
    args = dict(hidden_layer_sizes=(16,), random_state=2, max_iter=20, solver=solver,
                alpha=0.1, learning_rate_init=0.01, batch_size=64)
    # the L2 part of loss_curve_ is the mean of the epoch's start and end (4e-4 here)
    _same_fit(MLPRegressor(**args), sknn.MLPRegressor(**args), X, y, loss_rtol=1e-3,
              sample_weight=w)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_epoch_with_a_batch_of_zero_weights_skips_that_batch():
    X, logits = _data()
    y = logits[:, 0]
    w = np.ones(len(y))
    w[:40] = 0                      # without shuffling, the first batch weighs 0
    args = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=3, batch_size=40,
                shuffle=False, learning_rate_init=0.01)
    skipped = MLPRegressor(**args).fit(X, y, sample_weight=w)
    dropped = MLPRegressor(**args).fit(X[40:], y[40:], sample_weight=w[40:])
    for a, b in zip(skipped.coefs_, dropped.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "lbfgs", "sgd-weighted"])
def test_poisson_loss_matches_sklearn(solver):
    X, logits = _data()
    y = np.random.default_rng(0).poisson(np.exp(0.3 * logits[:, 0]))
    w = np.random.default_rng(1).uniform(0.5, 2, len(y)) if "weighted" in solver else None
    args = dict(hidden_layer_sizes=(5,), random_state=0, max_iter=5, loss="poisson",
                solver=solver.split("-")[0], learning_rate_init=0.01)
    ours, theirs = MLPRegressor(**args), sknn.MLPRegressor(**args)
    _same_fit(ours, theirs, X, y, sample_weight=w)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)


# ---------------------------------------------------------------- scikit-learn's tools

def _digits(n=300):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def test_pipeline_cross_val_score_and_clone():
    X, y = _digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
                                                         random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5
    fitted = pipe.fit(X, y)
    copy = clone(fitted)
    assert not hasattr(copy[-1], "model_") and copy.get_params()["mlpclassifier__max_iter"] == 30


def test_grid_and_randomized_search():
    X, y = _digits(200)
    base = MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid = GridSearchCV(base, {"alpha": [1e-4, 1e-1]}, cv=2).fit(X, y)
        rand = RandomizedSearchCV(base, {"learning_rate_init": loguniform(1e-4, 1e-1)},
                                  n_iter=3, cv=2, random_state=0).fit(X, y)
    assert grid.best_params_["alpha"] in (1e-4, 1e-1)
    lrs = rand.cv_results_["param_learning_rate_init"]
    assert len(set(lrs)) == 3 and all(1e-4 <= lr <= 1e-1 for lr in lrs)
    assert rand.best_estimator_.score(X, y) > 0.5


# One new interpreter does what needs one (importing scikit-learn there takes ~2 s): first
# fastnn without scikit-learn, then a fitted estimator shipped to it as a process pool ships
# it to a worker (the call pickled, its result pickled back)
FRESH = """
import pickle, sys
import fastnn
report = {"sklearn after import fastnn": "sklearn" in sys.modules}
sys.modules["sklearn"] = None                   # as if scikit-learn were not installed
try:
    fastnn.MLPRegressor
except ImportError as exc:
    report["missing"] = str(exc)
del sys.modules["sklearn"]
fastnn.MLPClassifier
report["sklearn after fastnn.MLPClassifier"] = "sklearn" in sys.modules
with open(sys.argv[1], "rb") as f:
    call, X = pickle.load(f)
report["shipped"] = call(X)
with open(sys.argv[2], "wb") as f:
    pickle.dump(report, f)
"""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """(a fitted classifier, its X, what the new interpreter reported)."""
    X, y = _digits(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(X, y)
    folder = tmp_path_factory.mktemp("fresh")
    (folder / "call.pkl").write_bytes(pickle.dumps((model.predict_proba, X)))
    subprocess.run([sys.executable, "-c", FRESH, str(folder / "call.pkl"),
                    str(folder / "report.pkl")], check=True)
    return model, X, pickle.loads((folder / "report.pkl").read_bytes())


def test_joblib_ships_fitted_estimators_to_processes(tmp_path, shipped):
    joblib = pytest.importorskip("joblib")
    model, X, report = shipped
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X),
                                  model.predict_proba(X))
    # the fitted estimator, pickled, predicts the same in a new interpreter
    np.testing.assert_array_equal(report["shipped"], model.predict_proba(X))


# ---------------------------------------------------------------- pickling

def test_models_pickle_through_the_model_file_state():
    X, y = _digits(200)
    mlp = fastnn.MLP((16,), seed=0)
    mlp.fit(X, y, epochs=2)
    seq = fastnn.Sequential([fastnn.Dense(8), fastnn.Tanh(), fastnn.Dense(None), fastnn.Softmax()],
                            seed=1)
    seq.fit(X, y, epochs=1)
    for model in (mlp, seq):
        reduced = model.__reduce__()
        assert reduced[0].__module__ == "fastnn.model" and isinstance(reduced[1][0], str)
        assert all(isinstance(a, np.ndarray) for a in reduced[1][1].values())
        for copy in (pickle.loads(pickle.dumps(model)), __import__("copy").deepcopy(model),
                     clone(model, safe=False)):
            assert type(copy) is type(model)
            np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
            assert copy.optimizer.t == model.optimizer.t
    unbuilt = pickle.loads(pickle.dumps(fastnn.MLP((4,), dropout=0.5)))
    assert not unbuilt.built and unbuilt.dropout == 0.5


def test_a_layer_of_ones_own_refuses_pickling():
    class Double(fastnn.Layer):
        def forward(self, x, training):
            return 2 * x

        def backward(self, x, y, dy):
            return 2 * dy

    model = fastnn.Sequential([fastnn.Dense(4), Double(), fastnn.Dense(None), fastnn.Softmax()])
    model.fit(*_digits(50), epochs=1)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(model)


# ---------------------------------------------------------------- pandas, sparse

def test_dataframe_columns_are_kept_and_checked():
    pd = pytest.importorskip("pandas")
    X, y = _digits(200)
    df = pd.DataFrame(X[:, :10], columns=[f"px{i}" for i in range(10)])
    labels = pd.Series(pd.Categorical(np.array(["zero", "one", "two", "three", "four", "five",
                                                "six", "seven", "eight", "nine"])[y]))
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    mlp = fastnn.MLP((8,), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(df, labels)
    mlp.fit(df, labels, epochs=2)
    assert list(est.feature_names_in_) == list(df.columns) == mlp.feature_names_in_
    assert set(est.predict(df)) <= set(labels) and set(mlp.predict(df)) <= set(labels)
    swapped = df[["px1", "px0"] + list(df.columns[2:])]
    renamed = df.rename(columns={"px3": "other"})
    for model in (est, mlp, pickle.loads(pickle.dumps(mlp))):
        with pytest.raises(ValueError, match="same order"):
            model.predict(swapped)
        with pytest.raises(ValueError, match="other"):
            model.predict(renamed)
    with pytest.warns(UserWarning, match="feature names"):
        mlp.predict(X[:, :10])


def test_saved_models_keep_string_classes_and_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _digits(100)
    df = pd.DataFrame(X[:, :5], columns=list("abcde"))
    mlp = fastnn.MLP((4,), seed=0)
    mlp.fit(df, pd.Series(np.where(y > 4, "high", "low")), epochs=1)
    mlp.save(tmp_path / "m.fnn")
    back = fastnn.load(tmp_path / "m.fnn")
    assert back.feature_names_in_ == list("abcde") and list(back.classes_) == ["high", "low"]
    np.testing.assert_array_equal(back.predict(df), mlp.predict(df))


@pytest.mark.parametrize("chunks", ["one", "several"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sparse_input_fits_as_the_dense_one(solver, chunks, monkeypatch):
    # 300 rows fit in one densified chunk (densified once per fit); chunks of 256 rows
    # (the least) take the path of sparse X too big for one: a chunk at a time each epoch
    if chunks == "several":
        monkeypatch.setattr(fastnn.estimators, "_CHUNK_BYTES", 1)
    X, y = _digits(300)
    args = dict(hidden_layer_sizes=(8,), max_iter=4, random_state=0, solver=solver,
                batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**args).fit(X, y)
        csr = MLPClassifier(**args).fit(sparse.csr_matrix(X), y)
    for a, b in zip(dense.coefs_, csr.coefs_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(csr.predict_proba(sparse.csc_matrix(X)), dense.predict_proba(X))


def test_sparse_input_is_never_densified_whole():
    import tracemalloc

    # a Generator draws the positions at once (a RandomState permutes all 4.8M: 0.3-0.6 s)
    X = sparse.random(12_000, 400, density=0.01, format="csr",
                      random_state=np.random.default_rng(0))
    y = np.asarray(X.sum(axis=1)).ravel()
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0, batch_size=500)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.predict(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dense_bytes = X.shape[0] * X.shape[1] * 8           # 38 MB; chunks of 8 MB
    assert peak < dense_bytes / 3, peak


def test_import_fastnn_does_not_import_sklearn_and_says_when_it_is_missing(shipped):
    report = shipped[2]
    assert report["sklearn after import fastnn"] is False
    assert "pip install 'scikit-learn>=1.6'" in report["missing"]
    assert report["sklearn after fastnn.MLPClassifier"] is True
