"""The built-in objective: train an MLP from a point of the default space."""

from __future__ import annotations

import numpy as np

from fastnn.model import MLP
from fastnn.optim import Adam, InverseTimeDecay
from fastnn.search.fingerprint import fingerprint
from fastnn.search.space import hidden_units
from fastnn.search.trial import Trial

__all__ = ["MLPObjective"]


class MLPObjective:
    """Train an MLP for a trial and report its validation accuracy after each epoch.

    The parameters are those of :func:`fastnn.search.default_mlp_space`; any
    that a space leaves out take these defaults: one hidden layer of 128
    units, ``beta1=0.9``, ``batch_size=32``, no learning-rate decay.

    Parameters
    ----------
    X_train, y_train : arrays of shape (n_samples, n_features) and (n_samples,)
    X_val, y_val : arrays
        What the trial is scored on (accuracy, to maximize).
    max_epochs : int, default 20
        Epochs per trial, unless the scheduler stops it first.
    batch_norm : bool, default True
    activation : str, default "relu"
    dtype : {"float32", "float64"}, default "float32"

    The objective's value is the validation accuracy after the last epoch
    it trained; ``trial.user_attrs`` gets ``epochs``, ``val_loss`` and
    ``n_threads`` (with the seed, what it takes to train the same model again),
    and ``metric`` (what the value is, for figures and reports) and
    ``val_rows`` (how many rows it was scored on).
    """

    #: What the value is, as figures and reports name it.
    metric = "validation accuracy"

    def __init__(self, X_train, y_train, X_val, y_val, max_epochs: int = 20, *,
                 batch_norm: bool = True, activation: str = "relu", dtype="float32"):
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer; got {max_epochs!r}")
        # convert once: every trial (every thread) shares these arrays
        self.X_train = np.ascontiguousarray(X_train, dtype=dtype)
        self.X_val = np.ascontiguousarray(X_val, dtype=dtype)
        self.y_train, self.y_val = np.asarray(y_train), np.asarray(y_val)
        for X, y, part in ((self.X_train, self.y_train, "train"), (self.X_val, self.y_val, "val")):
            if X.ndim != 2 or y.shape != (X.shape[0],):
                raise ValueError(f"X_{part} must be 2-dimensional with one label per row in "
                                 f"y_{part}; got {X.shape} and {y.shape}")
        if self.X_train.shape[1] != self.X_val.shape[1]:
            raise ValueError(f"X_train has {self.X_train.shape[1]} features but X_val has "
                             f"{self.X_val.shape[1]}")
        self.max_epochs, self.batch_norm = max_epochs, batch_norm
        self.activation, self.dtype = activation, dtype

    def fingerprint(self) -> str:
        """A hash of the data, for ``Study(data_fingerprint=...)``."""
        return fingerprint(self.X_train, self.y_train, self.X_val, self.y_val)

    def build(self, params: dict, seed: int | None = None, n_threads: int | None = None):
        """The untrained model, its optimizer and fit settings for ``params``."""
        hidden = hidden_units(params) if "n_layers" in params else (params.get("units_1", 128),)
        model = MLP(hidden=hidden, batch_norm=self.batch_norm, activation=self.activation,
                    dtype=self.dtype, n_threads=n_threads, seed=seed)
        optimizer = Adam(lr=params["lr"], beta1=params.get("beta1", 0.9))
        decay = params.get("lr_decay", 0.0)
        fit_kwargs = {"batch_size": int(params.get("batch_size", 32)), "optimizer": optimizer,
                      "lr_decay": InverseTimeDecay(decay) if decay else None}
        return model, fit_kwargs

    def train(self, params: dict, seed: int | None = None, n_threads: int | None = None,
              epochs: int | None = None):
        """Train the model ``params`` describe, for ``epochs`` (default ``max_epochs``)."""
        model, fit_kwargs = self.build(params, seed, n_threads)
        model.fit(self.X_train, self.y_train, epochs=epochs or self.max_epochs, **fit_kwargs)
        return model

    def __call__(self, params: dict, trial: Trial) -> float:
        model, fit_kwargs = self.build(params, trial.seed, trial.n_threads)
        scores = {}
        for epoch in range(1, self.max_epochs + 1):
            model.fit(self.X_train, self.y_train, epochs=1, **fit_kwargs)
            scores = model.evaluate(self.X_val, self.y_val)
            trial.report(scores["accuracy"], epoch)
            if trial.should_stop():
                break
        trial.user_attrs.update(epochs=epoch, val_loss=scores["loss"], n_threads=trial.n_threads,
                                metric=self.metric, val_rows=len(self.y_val))
        return scores["accuracy"]
