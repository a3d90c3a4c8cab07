"""The parameters of the scikit-learn estimators: what each accepts, and what a warm start may
change.

The table is scikit-learn's own form (``_parameter_constraints``, checked by
``BaseEstimator._validate_params``), so a bad value fails as it does in
``sklearn.neural_network``: an ``InvalidParameterError`` (a ValueError and a
TypeError) naming the parameter, what it accepts and what it got. fastnn's
own parameters (``batch_norm``, ``bn_position``, ``dropout``, ``n_threads``,
``dtype``) are in the same table.

A warm start (``warm_start=True``, or ``partial_fit``) goes on training the
fitted network, so the parameters that shape it (:data:`ARCHITECTURE`) may
not change between fits; the solver, its rates, the stopping rules and the
thread count may.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from fastnn import _validation as V
from fastnn._threads import max_threads

__all__ = ["CONSTRAINTS", "REGRESSOR_CONSTRAINTS", "ARCHITECTURE", "check_params"]

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

CONSTRAINTS: dict = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    # fastnn's own
    "batch_norm": ["boolean"],
    "bn_position": [StrOptions({"before", "after"})],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "n_threads": [None, Interval(Integral, 1, max_threads(), closed="both")],
    "dtype": [None, StrOptions({"float32", "float64"}),
              Options(object, {np.float32, np.float64, np.dtype(np.float32),
                               np.dtype(np.float64)})],
}

REGRESSOR_CONSTRAINTS: dict = {**CONSTRAINTS,
                               "loss": [StrOptions({"squared_error", "poisson"})]}

#: What shapes the fitted network: a warm start may not change these.
ARCHITECTURE = ("hidden_layer_sizes", "activation", "batch_norm", "bn_position", "dropout",
                "loss")


def hidden_sizes(value) -> list[int]:
    """``hidden_layer_sizes`` as a list of widths (an int is one layer)."""
    sizes = list(value) if hasattr(value, "__iter__") else [value]
    for h in sizes:
        if isinstance(h, (bool, np.bool_)) or not isinstance(h, Integral) or h < 1:
            raise ValueError(f"hidden_layer_sizes must hold integers > 0; got {value!r}")
        V.width(h, "each of hidden_layer_sizes")
    return [int(h) for h in sizes]


def architecture(est) -> dict:
    """The values of :data:`ARCHITECTURE` the estimator's parameters give, comparable."""
    arch = {"hidden_layer_sizes": tuple(hidden_sizes(est.hidden_layer_sizes)),
            "activation": est.activation, "batch_norm": bool(est.batch_norm),
            "bn_position": est.bn_position if est.batch_norm else None,
            "dropout": float(est.dropout), "loss": getattr(est, "loss", None)}
    return {k: arch[k] for k in ARCHITECTURE}


def check_params(est, incremental: bool, fitted: dict | None) -> list[int]:
    """Check, at the start of ``fit`` or ``partial_fit`` (``incremental``) and after
    ``est._validate_params()`` has checked the table, the hidden layer widths (returned)
    and what a warm start may change against ``fitted``, the :func:`architecture` the
    network was made with (None before the first fit).

    On a warm start, a parameter of :data:`ARCHITECTURE` (or ``dtype``) that changed since
    the network was made is refused, naming the old and the new value.
    """
    sizes = hidden_sizes(est.hidden_layer_sizes)
    model = getattr(est, "model_", None)
    if model is None or not (est.warm_start or incremental):
        return sizes
    how = "partial_fit" if incremental else "warm_start=True"
    if fitted is not None:
        for name, now in architecture(est).items():
            if now != fitted[name]:
                raise ValueError(
                    f"{name} is {now!r} but the fitted network was made with {name}="
                    f"{fitted[name]!r}; {how} goes on training that network, whose layers "
                    f"cannot change: set {name} back to {fitted[name]!r}, or fit a new network "
                    "(warm_start=False and fit)")
    if est.dtype is not None and np.dtype(est.dtype) != model.dtype:
        raise ValueError(f"dtype is {np.dtype(est.dtype).name!r} but the fitted network holds "
                         f"{model.dtype.name}; {how} goes on training it: set dtype back to "
                         f"{model.dtype.name!r} (or None), or fit a new network "
                         "(warm_start=False and fit)")
    return sizes
