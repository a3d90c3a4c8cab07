"""The fit loop: mini-batches, sample weights, learning-rate decay, history, callbacks.

``Sequential.fit`` checks the data and reads the targets (each loss reads
its own); :func:`run` then trains through the model's engine
(``model.engine``, :class:`fastnn.engine.Engine`), whose public methods it
calls, as the scikit-learn estimators do.

Each epoch shuffles the samples (with the fit's own random generator) and
cuts them into mini-batches of ``batch_size`` rows (a lone trailing row
joins the batch before it, so no training batch has one row, which batch
norm cannot normalize). The model's compiled network then runs the whole
epoch in one call without the GIL: for each batch it gathers the rows
(inputs, targets, weights) into a reused buffer, runs forward, loss and
backward, and updates all parameters with one optimizer kernel call. The
training loss and accuracy of an epoch are the (weighted) means over its
batches, as the model stood at each batch (training mode); the validation
figures are computed at the epoch's end with test-time batch norm.

With sample weights, each batch's loss is ``sum_i w_i l_i / sum_i w_i``: a
row of weight 0 counts as if it were not there (except in batch norm's
batch statistics, which see every row of the batch). A batch whose rows all
weigh 0 gives a zero gradient.
"""

from __future__ import annotations

import math
import numbers
import time
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from fastnn import _validation as V
from fastnn import engine as E
from fastnn._progress import Display
from fastnn._threads import blas_held
from fastnn.optim import Adam, Optimizer, check_decay

__all__ = ["fit", "run", "FitOptions", "History", "Callback", "EarlyStopping", "DivergedError",
           "batch_bounds"]

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_r2", "lr", "time")
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy", "val_r2")


#: an epoch's loss this many times the loss of a trivial prediction (Loss.reference) means
#: training diverged, as does a loss this many times the larger of that and the fit's first
#: epoch's loss
EXPLODED_VS_TRIVIAL = 1e8
EXPLODED_VS_FIRST = 1e4


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite, or exploded.

    Exploded: an epoch's mean loss above ``EXPLODED_VS_TRIVIAL`` (1e8) times
    the loss of a trivial prediction (a uniform one for softmax
    cross-entropy, 0.5 per label for sigmoid cross-entropy, 0 for mse, at
    least 1), or above ``EXPLODED_VS_FIRST`` (1e4) times the larger of that
    and the first epoch's loss of the same ``fit`` call.

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

    Keys: epoch (counting from 1 over the model's life), loss, accuracy
    (None for regression), val_loss, val_accuracy, val_r2 (None without
    validation data, or when they do not apply), lr, time (seconds of wall
    time the epoch took, validation included).
    """

    def __init__(self):
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}

    def append(self, record: dict) -> None:
        for key in HISTORY_KEYS:
            self.history[key].append(record.get(key))

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
        A history key: "loss", "accuracy", "val_loss", "val_accuracy" or "val_r2".
    patience : int >= 0, default 5
    min_delta : float >= 0, default 0
        Smallest change that counts as an improvement.
    restore_best_weights : bool, default True
        At the end, put back the weights of the best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}; got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0; got {patience!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = 1.0 if "accuracy" in monitor or "r2" in monitor else -1.0
        self.best = self.best_epoch = self._weights = None
        self._wait = 0

    def on_train_begin(self, model):
        self.best, self.best_epoch, self._weights, self._wait = None, None, None, 0

    def on_epoch_end(self, model, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this fit does not "
                             "record (no validation_data, or a metric of another loss?)")
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


def _epoch_status(record: dict) -> str:
    parts = [f"loss {record['loss']:.4f}"]
    for key, short in (("accuracy", "acc"), ("val_loss", "val_loss"),
                       ("val_accuracy", "val_acc"), ("val_r2", "val_r2")):
        if record[key] is not None:
            parts.append(f"{short} {record[key]:.4f}")
    parts += [f"lr {record['lr']:.3g}", f"{record['time']:.2f}s"]
    return "  ".join(parts)


def _show_epoch(display, record: dict, done: int, last_epoch: int) -> None:
    """A bar over the epochs on a terminal; one plain line per epoch elsewhere."""
    line = f"epoch {record['epoch']:>{len(str(last_epoch))}}/{last_epoch}  {_epoch_status(record)}"
    display.step(done, _epoch_status(record), line)


class FitOptions(NamedTuple):
    """The settings of one ``fit`` call, checked (:meth:`check`)."""

    epochs: int
    batch_size: int
    optimizer: Optimizer
    lr_decay: object
    shuffle: bool
    callbacks: list
    verbose: int

    @classmethod
    def check(cls, *, epochs, batch_size, optimizer, default, lr_decay, shuffle, callbacks,
              verbose) -> "FitOptions":
        """Check ``fit``'s settings; ``optimizer`` None takes ``default`` (the model's last
        optimizer), else ``Adam()``."""
        epochs = V.positive_int(epochs, "epochs")
        batch_size = V.positive_int(batch_size, "batch_size")
        shuffle = V.boolean(shuffle, "shuffle")
        if not isinstance(verbose, (numbers.Integral, np.bool_)) or verbose < 0:
            raise TypeError(f"verbose must be 0 (quiet) or 1 (progress), or a bool; "
                            f"got {verbose!r}")
        if optimizer is None:
            optimizer = default or Adam()
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be a fastnn Optimizer (e.g. Adam(lr=1e-3)); "
                            f"got {optimizer!r}")
        return cls(epochs, batch_size, optimizer, check_decay(lr_decay), shuffle,
                   _callbacks(callbacks), int(verbose))


def fit(model, X, y, *, epochs: int = 10, batch_size: int = 32, optimizer: Optimizer | None = None,
        lr_decay=None, validation_data=None, shuffle: bool = True, seed=None,
        sample_weight=None, callbacks=None, verbose: int = 0) -> History:
    """Train ``model`` with mini-batch gradient descent (the same as ``model.fit``).

    Parameters
    ----------
    model : Sequential
    X : array of shape (n_samples, n_features)
    y : array
        Targets for the model's loss: class labels of shape (n_samples,)
        (any sortable values: ints, strings...) for softmax cross-entropy;
        0/1 of shape (n_samples,) or (n_samples, n_labels) for sigmoid
        cross-entropy; real values of shape (n_samples,) or (n_samples,
        n_targets) for mse.
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
    validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        Evaluated after each epoch.
    shuffle : bool, default True
    seed : int or numpy Generator, optional
        Seeds the shuffling (and, at a first fit, the dropout masks);
        default: the model's own generator.
    sample_weight : array of shape (n_samples,), optional
        Finite weights >= 0: each batch's loss is ``sum_i w_i l_i / sum_i w_i``.
    callbacks : list of Callback or functions, optional
    verbose : int, default 0
        1 shows progress: on a terminal a bar over the epochs with the
        newest figures (tqdm's when installed), elsewhere one line per epoch.

    Returns
    -------
    History
        This call's epochs; ``model.history_`` keeps all of them.

    Raises
    ------
    DivergedError
        If the training loss becomes NaN or infinite, or explodes (see
        :class:`DivergedError`).
    """
    return model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                     lr_decay=lr_decay, validation_data=validation_data, shuffle=shuffle,
                     seed=seed, sample_weight=sample_weight, callbacks=callbacks,
                     verbose=verbose)


def check_validation_data(model, validation_data) -> None:
    """Check ``validation_data`` for a built ``model`` as ``fit`` will, before training."""
    model.check_validation_data(validation_data)


@contextmanager
def _closing(display):
    try:
        yield display
    finally:
        if display is not None:
            display.close()


def _check_explosion(loss, reference, trivial, first_loss, epoch, lr, history) -> None:
    """Raise DivergedError if an epoch's mean loss has exploded (see DivergedError)."""
    if loss > EXPLODED_VS_TRIVIAL * reference:
        why = f"{loss / reference:.2g} times the loss of {trivial} ({reference:.3g})"
    elif first_loss is not None and loss > EXPLODED_VS_FIRST * max(reference, first_loss):
        why = (f"{loss / max(reference, first_loss):.2g} times the first epoch's "
               f"({first_loss:.3g})")
    else:
        return
    raise DivergedError(f"the training loss exploded to {loss:.3g} in epoch {epoch} "
                        f"(lr {lr:.3g}), {why}; lower the learning rate", epoch, history)


def run(model, X, targets, weight, val, rng: np.random.Generator,
        options: FitOptions) -> History:
    """The epochs of one ``fit``, on checked inputs: ``X`` (n, n_features) of the model's
    dtype, kernel ``targets`` (the loss's ``targets``), ``weight`` (n,) or None, ``val``
    (X_val, y_val, weights or None) or None; the model is built."""
    epochs, optimizer, lr_decay = options.epochs, options.optimizer, options.lr_decay
    shuffle, cbs, verbose = options.shuffle, options.callbacks, options.verbose
    engine = model.engine
    n = X.shape[0]
    threads = engine.threads_for_training(options.batch_size)
    edges = batch_bounds(n, options.batch_size)
    bounds = np.array([lo for lo, _ in edges] + [n], dtype=np.int64)
    weighted = weight is not None
    workspaces = {hi - lo: engine.workspace(hi - lo, weighted) for lo, hi in edges}
    total_weight = n if weight is None else float(weight.sum())
    reference, trivial = model.loss.reference(model, targets, weight)
    first_loss = None
    history = History()
    order = np.arange(n, dtype=np.int64)
    model.stop_training = False
    for cb in cbs:
        cb.on_train_begin(model)
    last_epoch = model.epochs_trained_ + epochs
    display = Display(epochs, "epochs") if verbose else None
    with blas_held, _closing(display):
        for done in range(1, epochs + 1):
            start = time.perf_counter()
            epoch = model.epochs_trained_ + 1
            lr = float(lr_decay(epoch - 1, optimizer.lr)) if lr_decay else optimizer.lr
            if not (lr >= 0 and math.isfinite(lr)):
                raise ValueError(f"lr_decay gave the learning rate {lr!r} for epoch {epoch}")
            if shuffle:
                order = rng.permutation(n)
            status, loss_sum, hits, stop, stop_loss, _ = engine.run_epoch(
                workspaces, X, targets, weight, order, bounds, optimizer, lr, threads)
            if status == E.NO_WORKSPACE:
                raise RuntimeError(f"internal error: no training buffers for batch {stop} of "
                                   f"epoch {epoch}")
            if status == E.DIVERGED:
                raise DivergedError(
                    f"the training loss became {stop_loss} in epoch {epoch} (lr {lr:.3g}); "
                    "lower the learning rate", epoch, history)
            loss = loss_sum / total_weight
            _check_explosion(loss, reference, trivial, first_loss, epoch, lr, history)
            first_loss = loss if first_loss is None else first_loss
            record = {"epoch": epoch, "loss": loss,
                      "accuracy": hits / total_weight if model.loss.classifier else None,
                      "lr": lr, "val_loss": None, "val_accuracy": None, "val_r2": None}
            if val is not None:
                scores = model.evaluate(val[0], val[1], sample_weight=val[2])
                record["val_loss"] = scores["loss"]
                record["val_accuracy"], record["val_r2"] = scores.get("accuracy"), scores.get("r2")
            record["time"] = time.perf_counter() - start
            history.append(record)
            model.epochs_trained_ = record["epoch"]
            model.history_.append(record)
            if display is not None:
                _show_epoch(display, record, done, last_epoch)
            stop = [cb.on_epoch_end(model, epoch, dict(record)) for cb in cbs]
            if any(stop) or model.stop_training:
                break
    for cb in cbs:
        cb.on_train_end(model, history)
    return history
