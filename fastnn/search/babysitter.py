"""Babysitting one model ("panda"): train in steps, watch the curve, act.

A :class:`Babysitter` trains a model an epoch at a time, saves a checkpoint
after each epoch (model, optimizer state and the shuffling generator, so a
rollback or a resume continues exactly), keeps the learning curve of the
current line of training, and logs every event (training, checkpoints,
learning-rate nudges, rollbacks, divergence, policy decisions) to
``events.jsonl`` in its checkpoint directory. A person can drive it
(:meth:`train`, :meth:`nudge`, :meth:`rollback`), or :meth:`auto` can, with
an :class:`AutoPolicy` doing what a person would: on divergence roll back
and halve the learning rate; on a plateau decay it; while the loss falls
smoothly, try a larger step. :meth:`Babysitter.resume` picks a run up in a
new process from its directory.

Directory layout::

    checkpoint_dir/
        state.json          settings, the curve, the current epoch and lr
        events.jsonl        one JSON event a line, appended
        epoch-00000.fnn     the model as it started (then one per epoch:
        epoch-00001.fnn ...   numbered by the model's epochs trained)
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from fastnn import _validation as V
from fastnn.model import Sequential, load
from fastnn.optim import Adam, Optimizer
from fastnn.search.fingerprint import fingerprint
from fastnn.train import DivergedError, check_validation_data

__all__ = ["Babysitter", "AutoPolicy", "read_run"]

_STATE = "state.json"
_EVENTS = "events.jsonl"


def read_run(checkpoint_dir) -> tuple[dict, list[dict]]:
    """A babysitting run's saved state and its events, oldest first, without loading models.

    Raises FileNotFoundError if ``checkpoint_dir`` holds no run.
    """
    path = Path(checkpoint_dir)
    if not (path / _STATE).is_file():
        raise FileNotFoundError(f"{path} holds no babysitting run (no {_STATE})")
    state = json.loads((path / _STATE).read_text())
    events = path / _EVENTS
    lines = events.read_text().splitlines() if events.exists() else []
    return state, [json.loads(line) for line in lines if line.strip()]


def _checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:05d}.fnn"


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


class AutoPolicy:
    """What :meth:`Babysitter.auto` does after each epoch.

    Parameters
    ----------
    monitor : {"val_loss", "loss"}, default "val_loss"
        The figure watched for plateaus (``loss`` without validation data).
    divergence_ratio : float > 1, default 1.5
        The training loss above this multiple of its best so far (or NaN)
        means divergence: roll back to the best epoch and multiply the
        learning rate by ``backoff``.
    backoff : float in (0, 1), default 0.5
    patience : int, default 3
        Epochs without an improvement of ``min_delta`` (relative) in
        ``monitor`` that make a plateau: multiply the lr by ``decay``.
    min_delta : float, default 1e-3
    decay : float in (0, 1), default 0.5
    smooth_window : int, default 3
        After this many epochs in which the training loss fell each time
        (and ``monitor`` did not get worse), multiply the lr by ``growth``.
    growth : float > 1, default 1.25
    cooldown : int, default 2
        Epochs after any change before the next plateau or growth move.
    min_lr, max_lr : floats, default 1e-6 and 1.0
    """

    def __init__(self, monitor: str = "val_loss", divergence_ratio: float = 1.5,
                 backoff: float = 0.5, patience: int = 3, min_delta: float = 1e-3,
                 decay: float = 0.5, smooth_window: int = 3, growth: float = 1.25,
                 cooldown: int = 2, min_lr: float = 1e-6, max_lr: float = 1.0):
        if monitor not in ("val_loss", "loss"):
            raise ValueError(f"monitor must be 'val_loss' or 'loss'; got {monitor!r}")
        if not divergence_ratio > 1 or not 0 < backoff < 1 or not 0 < decay < 1 or not growth > 1:
            raise ValueError("need divergence_ratio > 1, 0 < backoff < 1, 0 < decay < 1, growth > 1")
        for name, value in (("patience", patience), ("smooth_window", smooth_window),
                            ("cooldown", cooldown)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        if not 0 < min_lr <= max_lr:
            raise ValueError(f"need 0 < min_lr <= max_lr; got {min_lr}, {max_lr}")
        self.monitor, self.divergence_ratio, self.backoff = monitor, divergence_ratio, backoff
        self.patience, self.min_delta, self.decay = patience, min_delta, decay
        self.smooth_window, self.growth, self.cooldown = smooth_window, growth, cooldown
        self.min_lr, self.max_lr = min_lr, max_lr

    def _watched(self, curve: list[dict]) -> list[float]:
        key = self.monitor if curve and curve[-1].get(self.monitor) is not None else "loss"
        return [rec[key] for rec in curve]

    def decide(self, curve: list[dict], lr: float, since_change: int) -> tuple | None:
        """The action for a curve: None, ``("rollback", epoch, lr, reason)`` or ``("lr", lr, reason)``.

        ``since_change`` counts the epochs since the last learning-rate change.
        """
        if not curve:
            return None
        losses = [rec["loss"] for rec in curve]
        best = int(np.argmin(losses))
        if losses[-1] > self.divergence_ratio * losses[best]:
            return ("rollback", curve[best]["epoch"], max(lr * self.backoff, self.min_lr),
                    f"training loss {losses[-1]:.4g} is over {self.divergence_ratio}x its best "
                    f"{losses[best]:.4g} (epoch {curve[best]['epoch']})")
        if since_change < self.cooldown:
            return None
        watched = self._watched(curve)
        if len(watched) > self.patience:
            before = min(watched[:-self.patience])
            recent = min(watched[-self.patience:])
            if recent > before * (1 - self.min_delta) and lr > self.min_lr:
                return ("lr", max(lr * self.decay, self.min_lr),
                        f"plateau: no {self.min_delta:.1%} improvement in {self.patience} epochs")
        w = self.smooth_window
        if w and len(losses) > w and since_change >= w and lr < self.max_lr:
            falling = all(b < a for a, b in zip(losses[-w - 1:-1], losses[-w:]))
            steady = all(b <= a * (1 + self.min_delta)
                         for a, b in zip(watched[-w - 1:-1], watched[-w:]))
            if falling and steady:
                return ("lr", min(lr * self.growth, self.max_lr),
                        f"loss fell smoothly for {w} epochs: trying a larger step")
        return None


class Babysitter:
    """Train one model an epoch at a time, with checkpoints, a curve and a log.

    Parameters
    ----------
    model : Sequential
        The model to train (built or not).
    X, y : arrays
        Training data.
    validation_data : tuple (X_val, y_val), optional
    checkpoint_dir : str or path-like
        Created if missing; must not already hold a run (use :meth:`resume`).
    optimizer : Optimizer, optional
        Default ``Adam()``. Its ``lr`` is the learning rate the babysitter nudges.
    batch_size : int, default 32
    seed : int, default 0
        Seeds the shuffling.

    Attributes
    ----------
    curve : list of dict
        One record per epoch of the current line of training (a rollback cuts it).
    epoch : int
        Epochs the current model has been trained for.
    """

    def __init__(self, model, X, y, validation_data=None, checkpoint_dir="babysit", optimizer=None,
                 *, batch_size: int = 32, seed: int = 0, _resuming: bool = False):
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be a fastnn model (MLP or Sequential); got "
                            f"{type(model).__name__}")
        if not isinstance(checkpoint_dir, (str, os.PathLike)):
            raise TypeError(f"checkpoint_dir must be a directory name (str or path-like); got "
                            f"{checkpoint_dir!r}")
        self.model, self.X, self.y = model, X, y
        self.validation_data = validation_data
        self.dir = Path(checkpoint_dir)
        self.optimizer = optimizer if optimizer is not None else Adam()
        if not isinstance(self.optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastnn Optimizer; got {self.optimizer!r}")
        self.batch_size = V.positive_int(batch_size, "batch_size")
        self.seed = V.seed(seed, "seed", allow_none=False)
        self._rng = np.random.default_rng(seed)
        self.curve: list[dict] = []
        self.epoch = self.start_epoch = 0
        self._since_change = 0
        if not _resuming:        # the data checked, as fit checks them, before a fingerprint
            self._validate_and_build()
        self._data_id = fingerprint(np.asarray(X), np.asarray(y))
        if _resuming:
            return
        if (self.dir / _STATE).exists():
            raise FileExistsError(f"{self.dir} already holds a babysitting run; "
                                  "use Babysitter.resume to continue it")
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"checkpoint_dir {os.fspath(self.dir)!r} is a file; give a "
                                     "directory for the run's checkpoints")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.epoch = self.start_epoch = model.epochs_trained_
        self._checkpoint()                 # the model as it starts: a rollback target
        self._log("start", lr=self.optimizer.lr, batch_size=batch_size, seed=seed,
                  model=repr(model), n_samples=int(np.asarray(X).shape[0]))

    # ------------------------------------------------------------ persistence
    def _validate_and_build(self) -> None:
        """Check the data as fit would (validation_data too), and build the model so epoch 0
        can be saved; nothing is written yet."""
        self.model.prepare(self.X, self.y)
        check_validation_data(self.model, self.validation_data)
        self.model.optimizer = self.optimizer

    def _log(self, event: str, **details) -> None:
        record = {"time": time.time(), "event": event, "epoch": self.epoch, **details}
        with open(self.dir / _EVENTS, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def events(self) -> list[dict]:
        """Every event logged in this run, oldest first (across processes)."""
        path = self.dir / _EVENTS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _checkpoint(self) -> None:
        self.model.save(self.dir / _checkpoint_name(self.epoch), include_optimizer=True)
        _write_json(self.dir / _STATE, {
            "epoch": self.epoch, "start_epoch": self.start_epoch, "lr": self.optimizer.lr,
            "batch_size": self.batch_size,
            "seed": self.seed, "curve": self.curve, "since_change": self._since_change,
            "data": self._data_id, "rng": self._rng.bit_generator.state,
            "rngs": {str(self.epoch): self._rng.bit_generator.state,
                     **self._saved_rngs()},
        })

    def _saved_rngs(self) -> dict:
        path = self.dir / _STATE
        if not path.exists():
            return {}
        saved = json.loads(path.read_text()).get("rngs", {})
        return {k: v for k, v in saved.items() if int(k) < self.epoch}

    @classmethod
    def resume(cls, checkpoint_dir, X, y, validation_data=None) -> "Babysitter":
        """Continue a run from its directory, in this process.

        The data must be the same as the run's (checked by fingerprint).
        """
        path = Path(checkpoint_dir)
        if not (path / _STATE).exists():
            raise FileNotFoundError(f"{path} holds no babysitting run (no {_STATE})")
        state = json.loads((path / _STATE).read_text())
        model = load(path / _checkpoint_name(state["epoch"]))
        sitter = cls(model, X, y, validation_data, path, model.optimizer,
                     batch_size=state["batch_size"], seed=state["seed"], _resuming=True)
        if sitter._data_id != state["data"]:
            raise ValueError("the data differ from the data this run was trained on")
        sitter.epoch, sitter.curve = state["epoch"], state["curve"]
        sitter.start_epoch = state.get("start_epoch", 0)
        sitter._since_change = state.get("since_change", 0)
        sitter.optimizer.lr = state["lr"]
        sitter._rng.bit_generator.state = state["rng"]
        model.optimizer = sitter.optimizer
        sitter._log("resume", lr=sitter.optimizer.lr)
        return sitter

    # ------------------------------------------------------------ driving
    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def train(self, epochs: int = 1) -> list[dict]:
        """Train ``epochs`` epochs, checkpointing after each; return their records.

        Raises
        ------
        DivergedError
            If the loss diverges (becomes NaN or infinite, or explodes: see
            :class:`~fastnn.train.DivergedError`); the model is first put
            back to the last checkpoint (the event is logged).
        """
        epochs = V.positive_int(epochs, "epochs")
        records = []
        for _ in range(epochs):
            records.append(self._one_epoch())
        return records

    def _one_epoch(self) -> dict:
        try:       # fit shuffles with the babysitter's generator
            history = self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch_size,
                                     optimizer=self.optimizer, validation_data=self.validation_data,
                                     seed=self._rng)
        except DivergedError as exc:
            self._log("diverged", lr=self.optimizer.lr, message=str(exc))
            self._restore(self.epoch)
            raise
        self.epoch = self.model.epochs_trained_
        self._since_change += 1
        record = history.last()
        self.curve.append(record)
        self._checkpoint()
        self._log("epoch", **{k: v for k, v in record.items() if k != "epoch"})
        return record

    def nudge(self, lr: float | None = None, *, factor: float | None = None) -> float:
        """Set the learning rate (``lr``) or multiply it (``factor``); return the new one."""
        if (lr is None) == (factor is None):
            raise ValueError("give exactly one of lr or factor")
        new = lr if lr is not None else self.optimizer.lr * factor
        if not (isinstance(new, (int, float)) and math.isfinite(new) and new > 0):
            raise ValueError(f"the learning rate must be a finite number > 0; got {new!r}")
        old, self.optimizer.lr = self.optimizer.lr, float(new)
        self._since_change = 0
        self._log("nudge", old_lr=old, lr=self.optimizer.lr)
        self._checkpoint()
        return self.optimizer.lr

    def rollback(self, epoch: int) -> None:
        """Return to the model, optimizer state and curve as they were after ``epoch``.

        The learning rate stays as it is now (nudge it after, if you like).
        """
        if not isinstance(epoch, int) or not self.start_epoch <= epoch <= self.epoch:
            raise ValueError(f"epoch must be an integer in [{self.start_epoch}, {self.epoch}]; "
                             f"got {epoch!r}")
        if not (self.dir / _checkpoint_name(epoch)).exists():
            raise FileNotFoundError(f"no checkpoint for epoch {epoch} in {self.dir}")
        frm = self.epoch
        self._restore(epoch)
        self._log("rollback", from_epoch=frm, to_epoch=epoch)
        self._checkpoint()

    def _restore(self, epoch: int) -> None:
        lr = self.optimizer.lr
        saved = load(self.dir / _checkpoint_name(epoch))
        self.model.set_weights(saved.get_weights())
        self.model.epochs_trained_ = saved.epochs_trained_
        self.optimizer.load_state_dict(saved.optimizer.state_dict())
        self.optimizer.lr = lr
        state = json.loads((self.dir / _STATE).read_text())
        rng_state = state.get("rngs", {}).get(str(epoch))
        if rng_state is not None:
            self._rng.bit_generator.state = rng_state
        self.epoch = epoch
        self.curve = [rec for rec in self.curve if rec["epoch"] <= saved.epochs_trained_]

    def auto(self, epochs: int, policy: AutoPolicy | None = None) -> list[dict]:
        """Train up to ``epochs`` more epochs, letting ``policy`` act after each.

        Returns the records of the epochs trained (those rolled back included).
        """
        epochs = V.positive_int(epochs, "epochs")
        if policy is not None and not isinstance(policy, AutoPolicy):
            raise TypeError(f"policy must be an AutoPolicy or None; got {policy!r}")
        policy = policy or AutoPolicy()
        records = []
        for _ in range(epochs):
            try:
                records.append(self._one_epoch())
                action = policy.decide(self.curve, self.optimizer.lr, self._since_change)
            except DivergedError as exc:
                best = (min(self.curve, key=lambda r: r["loss"])["epoch"] if self.curve
                        else self.start_epoch)
                action = ("rollback", best, max(self.optimizer.lr * policy.backoff, policy.min_lr),
                          f"diverged: {exc}")
            if action is None:
                continue
            if action[0] == "rollback":
                _, to_epoch, new_lr, reason = action
                self._log("policy", action="rollback", reason=reason, to_epoch=to_epoch, lr=new_lr)
                self.rollback(to_epoch)
                self.nudge(lr=new_lr)
            else:
                _, new_lr, reason = action
                self._log("policy", action="lr", reason=reason, lr=new_lr)
                self.nudge(lr=new_lr)
        return records
