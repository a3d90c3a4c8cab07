"""The fit loop: mini-batches, learning-rate decay, history, callbacks.

Each epoch shuffles the samples (with the fit's own random generator) and
cuts them into mini-batches of ``batch_size`` rows (a lone trailing row
joins the batch before it, so no training batch has one row, which batch
norm cannot normalize). The model's compiled network then runs the whole
epoch in one call without the GIL: for each batch it gathers the rows into
a reused buffer, runs forward, loss and backward, and updates all
parameters with one optimizer kernel call. The training loss and accuracy of an epoch are the means
over its batches, as the model stood at each batch (training mode); the
validation figures are computed at the epoch's end with test-time batch
norm.
"""

from __future__ import annotations

import math
import numbers
import sys
import time

import numpy as np

from fastnn import layers as L
from fastnn._threads import blas_held, resolve_n_threads
from fastnn.optim import Adam, Optimizer, check_decay

__all__ = ["fit", "History", "Callback", "EarlyStopping", "DivergedError", "batch_bounds"]

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    Attributes
    ----------
    epoch : int
        The epoch (counting from 1 over the model's life) in which it happened.
    history : History
        The epochs of this ``fit`` call completed before it.
    """

    def __init__(self, message: str, epoch: int, history: "History"):
        super().__init__(message)
        self.epoch, self.history = epoch, history


class History:
    """Per-epoch records: ``history["loss"]`` is the list of training losses.

    Keys: epoch (counting from 1 over the model's life), loss, accuracy,
    val_loss, val_accuracy (None without validation data), lr, time
    (seconds of wall time the epoch took, validation included).
    """

    def __init__(self):
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}

    def append(self, record: dict) -> None:
        for key in HISTORY_KEYS:
            self.history[key].append(record.get(key))

    def extend(self, other: "History") -> None:
        for key in HISTORY_KEYS:
            self.history[key].extend(other.history[key])

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.history["epoch"])

    def last(self) -> dict:
        """The newest epoch's record (an empty dict if there is none)."""
        return {k: v[-1] for k, v in self.history.items()} if len(self) else {}

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in self.history.items()}

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, last={self.last()})"


class Callback:
    """Hooks into ``fit``. Override what you need.

    ``on_epoch_end`` may return True to stop training (or set
    ``model.stop_training = True``). A plain function given as a callback
    is called as ``on_epoch_end(model, epoch, logs)``.
    """

    def on_train_begin(self, model) -> None:
        pass

    def on_epoch_end(self, model, epoch: int, logs: dict) -> bool | None:
        return None

    def on_train_end(self, model, history: History) -> None:
        pass


class _FunctionCallback(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, model, epoch, logs):
        return self.fn(model, epoch, logs)


class EarlyStopping(Callback):
    """Stop when a monitored figure has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A history key: "loss", "accuracy", "val_loss" or "val_accuracy".
    patience : int >= 0, default 5
    min_delta : float >= 0, default 0
        Smallest change that counts as an improvement.
    restore_best_weights : bool, default True
        At the end, put back the weights of the best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        if monitor not in ("loss", "accuracy", "val_loss", "val_accuracy"):
            raise ValueError(f"monitor must be loss, accuracy, val_loss or val_accuracy; got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0; got {patience!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = 1.0 if "accuracy" in monitor else -1.0
        self.best = self.best_epoch = self._weights = None
        self._wait = 0

    def on_train_begin(self, model):
        self.best, self.best_epoch, self._weights, self._wait = None, None, None, 0

    def on_epoch_end(self, model, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this fit does not "
                             "record (no validation_data?)")
        if self.best is None or self.sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._weights = model.get_weights()
            return None
        self._wait += 1
        return self._wait >= self.patience

    def on_train_end(self, model, history):
        if self.restore_best_weights and self._weights is not None:
            model.set_weights(self._weights)


def batch_bounds(n_samples: int, batch_size: int) -> list[tuple[int, int]]:
    """Row ranges of an epoch's mini-batches; a lone trailing row joins the batch before it."""
    bounds = [(lo, min(lo + batch_size, n_samples)) for lo in range(0, n_samples, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n_samples)]
    return bounds


def _positive(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _callbacks(callbacks) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise TypeError(f"a callback must be a Callback or a function; got {type(cb).__name__}")
    return out


def _print_epoch(record: dict, last_epoch: int, file) -> None:
    parts = [f"epoch {record['epoch']:>{len(str(last_epoch))}}/{last_epoch}",
             f"loss {record['loss']:.4f}", f"acc {record['accuracy']:.4f}"]
    if record["val_loss"] is not None:
        parts += [f"val_loss {record['val_loss']:.4f}", f"val_acc {record['val_accuracy']:.4f}"]
    parts += [f"lr {record['lr']:.3g}", f"{record['time']:.2f}s"]
    print("  ".join(parts), file=file, flush=True)


def fit(model, X, y, *, epochs: int = 10, batch_size: int = 32, optimizer: Optimizer | None = None,
        lr_decay=None, validation_data=None, shuffle: bool = True, seed: int | None = None,
        callbacks=None, verbose: int = 0) -> History:
    """Train ``model`` with mini-batch gradient descent.

    Parameters
    ----------
    model : Sequential
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Class labels (any sortable values: ints, strings...).
    epochs : int, default 10
    batch_size : int, default 32
        At least 2 when the model has batch norm.
    optimizer : Optimizer, optional
        Default: the model's optimizer from its last ``fit`` (training then
        continues where it stopped, moving averages included), else
        ``Adam()``.
    lr_decay : callable (epoch, lr0) -> lr, optional
        E.g. ``InverseTimeDecay(0.1)``. ``epoch`` counts the epochs the
        model completed before this one, over all ``fit`` calls; ``lr0`` is
        the optimizer's ``lr``.
    validation_data : tuple (X_val, y_val), optional
        Evaluated after each epoch.
    shuffle : bool, default True
    seed : int, optional
        Seeds the shuffling; default: the model's own generator.
    callbacks : list of Callback or functions, optional
    verbose : int, default 0
        1 prints one line per epoch.

    Returns
    -------
    History
        This call's epochs; ``model.history_`` keeps all of them.

    Raises
    ------
    DivergedError
        If the training loss becomes NaN or infinite.
    """
    epochs, batch_size = _positive(epochs, "epochs"), _positive(batch_size, "batch_size")
    X = model._check_X(X)
    n, n_features = X.shape
    if n < 2:
        raise ValueError("fit needs at least 2 samples")
    has_bn = any(isinstance(layer, L.BatchNorm) for layer in model.layers)
    if batch_size < 2 and has_bn:
        raise ValueError("batch_size must be at least 2 for a model with batch norm "
                         "(a batch of one row has no variance)")
    classes = model.classes_ if model.classes_ is not None else model._classes_for(np.asarray(y))
    labels = model._encode(y, n, classes=classes)
    if optimizer is None:
        optimizer = model.optimizer or Adam()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn Optimizer (e.g. Adam(lr=1e-3)); got {optimizer!r}")
    lr_decay = check_decay(lr_decay)
    val = _validation(model, validation_data, n_features, classes)
    cbs = _callbacks(callbacks)
    rng = model._rng if seed is None else np.random.default_rng(seed)

    if not model._fit_lock.acquire(blocking=False):
        raise RuntimeError("fit is already running on this model (in another thread)")
    try:
        model._adopt(classes, n_features)
        model.optimizer = optimizer
        return _epochs(model, X, labels, epochs, batch_size, optimizer, lr_decay, val, shuffle,
                       rng, cbs, verbose)
    finally:
        model._fit_lock.release()


def _validation(model, validation_data, n_features, classes):
    """Checked ``(X_val, y_val)``, or None."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError("validation_data must be a tuple (X_val, y_val)")
    X_val = model._check_X(validation_data[0], "X_val")
    if X_val.shape[1] != n_features:
        raise ValueError(f"X_val has {X_val.shape[1]} features but X has {n_features}")
    model._encode(validation_data[1], X_val.shape[0], "y_val", classes=classes)
    return X_val, validation_data[1]


def _epochs(model, X, labels, epochs, batch_size, optimizer, lr_decay, val, shuffle, rng, cbs,
            verbose) -> History:
    n = X.shape[0]
    n_threads = resolve_n_threads(model.n_threads)
    edges = batch_bounds(n, batch_size)
    bounds = np.array([lo for lo, _ in edges] + [n], dtype=np.int64)
    workspaces = {hi - lo: model._workspace(hi - lo) for lo, hi in edges}
    history = History()
    order = np.arange(n, dtype=np.int64)
    model.stop_training = False
    for cb in cbs:
        cb.on_train_begin(model)
    last_epoch = model.epochs_trained_ + epochs
    with blas_held:
        for _ in range(epochs):
            start = time.perf_counter()
            epoch = model.epochs_trained_ + 1
            lr = float(lr_decay(epoch - 1, optimizer.lr)) if lr_decay else optimizer.lr
            if not (lr >= 0 and math.isfinite(lr)):
                raise ValueError(f"lr_decay gave the learning rate {lr!r} for epoch {epoch}")
            if shuffle:
                order = rng.permutation(n)
            update = optimizer.kernel_update(model._params, model._grads, lr)
            loss_sum, correct, steps, bad, bad_loss = model._net.train_epoch(
                workspaces, X, labels, order, bounds, update, n_threads)
            optimizer.t += steps
            if bad >= 0:
                raise DivergedError(
                    f"the training loss became {bad_loss} in epoch {epoch} (lr {lr:.3g}); "
                    "lower the learning rate", epoch, history)
            model.epochs_trained_ = epoch
            record = {"epoch": epoch, "loss": loss_sum / n, "accuracy": correct / n, "lr": lr,
                      "val_loss": None, "val_accuracy": None}
            if val is not None:
                scores = model.evaluate(*val)
                record["val_loss"], record["val_accuracy"] = scores["loss"], scores["accuracy"]
            record["time"] = time.perf_counter() - start
            history.append(record)
            model.history_.append(record)
            if verbose:
                _print_epoch(record, last_epoch, sys.stdout)
            stop = [cb.on_epoch_end(model, epoch, dict(record)) for cb in cbs]
            if any(stop) or model.stop_training:
                break
    for cb in cbs:
        cb.on_train_end(model, history)
    return history
