"""Bad parameters of the newer surface: thread counts wherever they are set, the scikit-learn
estimators' parameter table (and what a warm start may change), dropout, sample weights.
Each case asserts the exception type and the words that name the problem."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import MLP, MLPClassifier, MLPRegressor, ops
from fastnn._threads import max_threads

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 4))
Y = np.arange(40) % 2
TOO_MANY = max_threads() + 1
BIG = 10**6


def _fit_mlp(**kw):
    return MLP(hidden=(4,), seed=0).fit(X, Y, epochs=1, **kw)


# ---------------------------------------------------------------- thread counts

THREADS = [
    ("set_num_threads 10**5", lambda: fastnn.set_num_threads(10**5), ValueError, "n_threads must be at most"),
    ("set_num_threads 10**6", lambda: fastnn.set_num_threads(BIG), ValueError, f"got {BIG}"),
    ("set_num_threads 2**40", lambda: fastnn.set_num_threads(2**40), ValueError, "at most .* got 1099511627776"),
    ("set_num_threads max + 1", lambda: fastnn.set_num_threads(TOO_MANY), ValueError, f"at most {max_threads()}"),
    ("set_num_threads 0", lambda: fastnn.set_num_threads(0), ValueError, "n_threads must be at least 1"),
    ("set_num_threads -4", lambda: fastnn.set_num_threads(-4), ValueError, "at least 1; got -4"),
    ("set_num_threads 2.0", lambda: fastnn.set_num_threads(2.0), TypeError, r"positive integer or None; got 2.0 \(float\)"),
    ("set_num_threads '2'", lambda: fastnn.set_num_threads("2"), TypeError, "positive integer or None; got '2'"),
    ("set_num_threads True", lambda: fastnn.set_num_threads(True), TypeError, r"got True \(bool\)"),
    ("num_threads 10**6", lambda: fastnn.num_threads(BIG).__enter__(), ValueError, "n_threads must be at most"),
    ("num_threads 0", lambda: fastnn.num_threads(0).__enter__(), ValueError, "at least 1"),
    ("num_threads float", lambda: fastnn.num_threads(1.5).__enter__(), TypeError, "positive integer"),
    ("MLP n_threads 10**6", lambda: MLP(n_threads=BIG), ValueError, "n_threads must be at most"),
    ("MLP n_threads 2**40", lambda: MLP(n_threads=2**40), ValueError, "cores this process may use"),
    ("MLP n_threads numpy 10**5", lambda: MLP(n_threads=np.int64(10**5)), ValueError, "at most"),
    ("MLP n_threads str", lambda: MLP(n_threads="all"), TypeError, "n_threads must be a positive integer"),
    ("ops n_threads 10**6", lambda: ops.softmax(X, n_threads=BIG), ValueError, "n_threads must be at most"),
    ("ops dense n_threads 2**40", lambda: ops.dense_forward(X, np.ones((4, 2)), n_threads=2**40),
     ValueError, "at most"),
    ("MLPClassifier n_threads 10**6", lambda: MLPClassifier(n_threads=BIG).fit(X, Y), ValueError,
     r"'n_threads' parameter of MLPClassifier must be None or an int in the range \[1, "),
    ("MLPRegressor n_threads 0", lambda: MLPRegressor(n_threads=0).fit(X, X[:, 0]), ValueError,
     "'n_threads' parameter of MLPRegressor"),
    ("MLPClassifier n_threads float", lambda: MLPClassifier(n_threads=2.0).fit(X, Y), TypeError,
     "'n_threads' parameter"),
]


@pytest.mark.parametrize("name, call, error, phrase", THREADS, ids=[r[0] for r in THREADS])
def test_bad_thread_count(name, call, error, phrase):
    before = fastnn.get_num_threads()
    with pytest.raises(error, match=phrase):
        call()
    assert fastnn.get_num_threads() == before        # a refused count changed nothing


def test_the_maximum_is_stated_and_accepted():
    assert max_threads() >= 64 and max_threads() >= 4 * fastnn._threads.available_cores()
    with fastnn.num_threads(max_threads()):
        assert fastnn.get_num_threads() == max_threads()


def test_threadpool_limits_above_the_maximum_is_no_limit():
    from threadpoolctl import threadpool_limits

    before = fastnn.get_num_threads()
    with threadpool_limits(limits=BIG):
        assert fastnn.get_num_threads() <= max_threads()
    assert fastnn.get_num_threads() == before


def test_omp_num_threads_above_the_maximum_warns_and_is_capped():
    out = subprocess.run([sys.executable, "-c", "import fastnn; print(fastnn.get_num_threads())"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "100000"})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) <= max(64, 4 * (os.cpu_count() or 1))
    assert "OMP_NUM_THREADS=100000 is more than fastnn's maximum" in out.stderr


@pytest.mark.parametrize("value, phrase", [("100000", "expected a whole number from 1 to"),
                                           ("0", "expected a whole number from 1 to"),
                                           ("two", "got 'two'")])
def test_cli_threads_bounded(capsys, value, phrase):
    from fastnn import cli

    assert cli.main(["train", "--threads", value, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--threads" in err and phrase in err, err


# ---------------------------------------------------------------- estimator parameters

def _clf(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(**{"max_iter": 2, **params}).fit(X, Y)


def _reg(**params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPRegressor(**{"max_iter": 2, **params}).fit(X, X[:, 0])


ESTIMATORS = [
    ("verbose 'loud'", dict(verbose="loud"), "'verbose' parameter"),
    ("verbose -1", dict(verbose=-1), "'verbose' parameter"),
    ("verbose 1.5", dict(verbose=1.5), "'verbose' parameter"),
    ("random_state 'abc'", dict(random_state="abc"), "'random_state' parameter of MLPClassifier"),
    ("random_state -1", dict(random_state=-1), "'random_state' parameter .* Got -1"),
    ("random_state 2**40", dict(random_state=2**40), "'random_state' parameter"),
    ("random_state 1.5", dict(random_state=1.5), "'random_state' parameter"),
    ("dropout 1.0", dict(dropout=1.0), r"'dropout' parameter .* \[0.0, 1.0\)"),
    ("dropout -0.1", dict(dropout=-0.1), "'dropout' parameter"),
    ("dropout nan", dict(dropout=float("nan")), "'dropout' parameter"),
    ("dropout '0.5'", dict(dropout="0.5"), "'dropout' parameter"),
    ("alpha -1", dict(alpha=-1), "'alpha' parameter"),
    ("alpha inf", dict(alpha=float("inf")), "'alpha' parameter"),
    ("learning_rate_init 0", dict(learning_rate_init=0), "'learning_rate_init' parameter"),
    ("learning_rate_init inf", dict(learning_rate_init=float("inf")), "'learning_rate_init' parameter"),
    ("learning_rate 'fast'", dict(learning_rate="fast"), "'learning_rate' parameter"),
    ("power_t -1", dict(power_t=-1), "'power_t' parameter"),
    ("max_iter 0", dict(max_iter=0), "'max_iter' parameter"),
    ("max_iter 2.5", dict(max_iter=2.5), "'max_iter' parameter"),
    ("batch_size 0", dict(batch_size=0), "'batch_size' parameter"),
    ("batch_size 'big'", dict(batch_size="big"), "'batch_size' parameter"),
    ("batch_size 1.5", dict(batch_size=1.5), "'batch_size' parameter"),
    ("tol 'x'", dict(tol="x"), "'tol' parameter"),
    ("tol -1", dict(tol=-1), "'tol' parameter"),
    ("momentum 2", dict(momentum=2), "'momentum' parameter"),
    ("momentum -0.5", dict(momentum=-0.5), "'momentum' parameter"),
    ("beta_1 1", dict(beta_1=1), "'beta_1' parameter"),
    ("beta_2 1.5", dict(beta_2=1.5), "'beta_2' parameter"),
    ("epsilon 0", dict(epsilon=0), "'epsilon' parameter"),
    ("validation_fraction 1", dict(validation_fraction=1.0, early_stopping=True), "'validation_fraction' parameter"),
    ("n_iter_no_change 0", dict(n_iter_no_change=0), "'n_iter_no_change' parameter"),
    ("max_fun 0", dict(max_fun=0), "'max_fun' parameter"),
    ("shuffle 'no'", dict(shuffle="no"), "'shuffle' parameter"),
    ("warm_start 'yes'", dict(warm_start="yes"), "'warm_start' parameter"),
    ("early_stopping 1", dict(early_stopping="on"), "'early_stopping' parameter"),
    ("nesterovs_momentum None", dict(nesterovs_momentum=None), "'nesterovs_momentum' parameter"),
    ("batch_norm 'x'", dict(batch_norm="x"), "'batch_norm' parameter"),
    ("bn_position 'middle'", dict(bn_position="middle"), "'bn_position' parameter"),
    ("activation 'gelu'", dict(activation="gelu"), "'activation' parameter"),
    ("solver 'newton'", dict(solver="newton"), "'solver' parameter"),
    ("dtype float16", dict(dtype="float16"), "'dtype' parameter"),
    ("dtype int", dict(dtype=int), "'dtype' parameter"),
    ("hidden_layer_sizes 'big'", dict(hidden_layer_sizes="big"), "'hidden_layer_sizes' parameter"),
    ("hidden_layer_sizes (0,)", dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must hold integers > 0"),
    ("hidden_layer_sizes (4, -1)", dict(hidden_layer_sizes=(4, -1)), "hidden_layer_sizes must hold integers > 0"),
    ("hidden_layer_sizes (2.5,)", dict(hidden_layer_sizes=(2.5,)), "hidden_layer_sizes must hold integers > 0"),
    ("hidden_layer_sizes (True,)", dict(hidden_layer_sizes=(True,)), "hidden_layer_sizes must hold integers > 0"),
]


@pytest.mark.parametrize("name, params, phrase", ESTIMATORS, ids=[r[0] for r in ESTIMATORS])
def test_bad_classifier_parameter(name, params, phrase):
    from sklearn.utils._param_validation import InvalidParameterError

    error = ValueError if "must hold" in phrase else InvalidParameterError
    with pytest.raises(error, match=phrase):
        _clf(**params)


@pytest.mark.parametrize("params, phrase", [
    (dict(loss="hinge"), "'loss' parameter of MLPRegressor"),
    (dict(verbose="loud"), "'verbose' parameter of MLPRegressor"),
    (dict(random_state="abc"), "'random_state' parameter of MLPRegressor"),
    (dict(dropout=1.0), "'dropout' parameter of MLPRegressor"),
])
def test_bad_regressor_parameter(params, phrase):
    with pytest.raises(ValueError, match=phrase):
        _reg(**params)


def test_partial_fit_checks_parameters_too():
    with pytest.raises(ValueError, match="'verbose' parameter"):
        MLPClassifier(verbose="loud").partial_fit(X, Y, classes=[0, 1])
    with pytest.raises(ValueError, match="'alpha' parameter"):
        MLPRegressor(alpha=-1).partial_fit(X, X[:, 0])


WARM = [
    ("hidden_layer_sizes", dict(hidden_layer_sizes=(16,)), r"hidden_layer_sizes is \(16,\) but the fitted network was made with hidden_layer_sizes=\(8,\)"),
    ("more layers", dict(hidden_layer_sizes=(8, 8)), r"set hidden_layer_sizes back to \(8,\)"),
    ("activation", dict(activation="tanh"), "activation is 'tanh' but .* activation='relu'"),
    ("batch_norm", dict(batch_norm=True), "batch_norm is True but .* batch_norm=False"),
    ("dropout", dict(dropout=0.25), "dropout is 0.25 but .* dropout=0.0"),
    ("dtype", dict(dtype="float32"), "dtype is 'float32' but the fitted network holds float64"),
]


@pytest.mark.parametrize("name, change, phrase", WARM, ids=[r[0] for r in WARM])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_warm_start_refuses_a_changed_network(name, change, phrase, how):
    est = _clf(hidden_layer_sizes=(8,), warm_start=how == "warm_start", random_state=0)
    weights = [w.copy() for w in est.coefs_]
    est.set_params(**change)
    with pytest.raises(ValueError, match=phrase):
        if how == "warm_start":
            est.fit(X, Y)
        else:
            est.partial_fit(X, Y)
    assert all(np.array_equal(a, b) for a, b in zip(est.coefs_, weights))   # untouched
    est.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)                                   # a new network: allowed
    if "hidden_layer_sizes" in change:
        assert est.coefs_[0].shape == (4, change["hidden_layer_sizes"][0])


def test_warm_start_may_change_the_solver_settings():
    est = _clf(hidden_layer_sizes=(8,), warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_params(learning_rate_init=0.01, max_iter=3, alpha=0.1, n_threads=1).fit(X, Y)
    assert est.coefs_[0].shape == (4, 8)


def test_regressor_warm_start_refuses_another_loss():
    y = np.abs(X[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="loss is 'poisson' but .* loss='squared_error'"):
        est.set_params(loss="poisson").fit(X, y)


# ---------------------------------------------------------------- model API words

MODEL = [
    ("MLP dropout 1.0", lambda: MLP(dropout=1.0), ValueError, "dropout must be < 1; got 1.0"),
    ("MLP dropout -0.5", lambda: MLP(dropout=-0.5), ValueError, "dropout must be >= 0"),
    ("MLP dropout 'x'", lambda: MLP(dropout="x"), ValueError, "dropout must be a finite real number"),
    ("MLP bn_momentum 2", lambda: MLP(bn_momentum=2), ValueError, "bn_momentum must be <= 1"),
    ("MLP bn_momentum nan", lambda: MLP(bn_momentum=float("nan")), ValueError, "bn_momentum must be a finite"),
    ("validation weights length", lambda: _fit_mlp(validation_data=(X, Y, np.ones(3))), ValueError,
     r"sample_weight_val \(validation_data\[2\]\) must have shape \(40,\)"),
    ("validation weights negative", lambda: _fit_mlp(validation_data=(X, Y, -np.ones(40))), ValueError,
     r"sample_weight_val \(validation_data\[2\]\) must hold finite values >= 0"),
    ("validation weights text", lambda: _fit_mlp(validation_data=(X, Y, ["a"] * 40)), TypeError,
     r"sample_weight_val \(validation_data\[2\]\) must hold numbers"),
    ("validation weights zero", lambda: _fit_mlp(validation_data=(X, Y, np.zeros(40))), ValueError,
     r"sample_weight_val \(validation_data\[2\]\) sums to 0"),
]


@pytest.mark.parametrize("name, call, error, phrase", MODEL, ids=[r[0] for r in MODEL])
def test_bad_model_argument(name, call, error, phrase):
    with pytest.raises(error, match=phrase):
        call()
