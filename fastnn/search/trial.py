"""A trial: the handle an objective gets, what the worker sends back, the stored record.

The objective protocol::

    def objective(params: dict, trial: Trial) -> float:
        model = build(params, seed=trial.seed, n_threads=trial.n_threads)
        for epoch in range(1, n_epochs + 1):
            score = train_one_epoch_and_score(model)
            trial.report(score, epoch)
            if trial.should_stop():
                break
        return score

A trial that raises, returns something that is not a finite number, or
reports a value that is not finite is FAILED, with the reason kept. A trial
the scheduler told to stop is PRUNED, with the value it returned; so is one
that stopped when the study's ``timeout`` came. A trial past the study's
``trial_timeout`` is FAILED, "timed out after ... s".
"""

from __future__ import annotations

import math
import numbers
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from fastnn.search.executors import worker_threads

__all__ = ["TrialState", "Trial", "FrozenTrial", "Outcome", "run_trial", "future_outcome",
           "timed_out"]


class TrialState(str, Enum):
    """Life of a trial: WAITING (enqueued or re-queued), RUNNING, then an end state."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


class Pruner(Protocol):
    """What a trial asks after each report: ``report(number, step, value) -> stop?``."""

    def report(self, number: int, step: int, value: float) -> bool: ...


class Trial:
    """The handle an objective receives.

    Attributes
    ----------
    number : int
        The trial's number in its study (0, 1, ...).
    params : dict
        The parameters to try (also passed as the objective's first argument).
    seed : int
        A seed for the model's initialization, derived from the study seed
        and the number (or a retest's seed).
    n_threads : int
        Threads the trial's kernels may use, so that concurrent trials do
        not oversubscribe the cores (set where the trial runs when the
        study leaves it to the worker).
    user_attrs : dict
        Anything JSON-ready the objective wants stored with the trial.
    """

    def __init__(self, number: int, params: dict, seed: int, n_threads: int | None,
                 pruner: Pruner | None = None, timeout: float | None = None):
        self.number, self.params, self.seed, self.n_threads = number, dict(params), seed, n_threads
        self.user_attrs: dict = {}
        self._pruner = pruner
        self._reports: list[tuple[int, float]] = []
        self._stop = False
        self._failure: str | None = None
        self._timeout = timeout           # seconds from the start of run_trial
        self._started: float | None = None
        self._halted = False              # the driver asks the trial to stop (its time is up)
        self._told = False                # should_stop() said so because of time
        self._timed_out = False

    def report(self, value: float, step: int) -> None:
        """Record the objective's ``value`` after ``step`` (an epoch, say), as Optuna's
        ``trial.report(value, step)``; steps must increase.

        A scheduler may then decide that the trial should stop (see
        :meth:`should_stop`). A value that is not finite fails the trial and
        makes :meth:`should_stop` True.

        Parameters
        ----------
        value : float
            The score after ``step``.
        step : int
            A non-negative integer, larger than the previous report's.

        Raises
        ------
        TypeError
            ``step`` is not an integer (a float step is refused: the
            arguments were likely given as ``(step, value)``, fastnn 0.1's
            order), or ``value`` is not a real number.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"trial.report(value, step): value must be a real number; "
                            f"got {value!r}")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            swapped = isinstance(step, numbers.Real) and isinstance(value, numbers.Integral)
            hint = (f"; did you mean trial.report({step!r}, {value!r})? The order is "
                    "(value, step), as Optuna's" if swapped else "")
            raise TypeError(f"trial.report(value, step): step must be an integer; got "
                            f"{step!r}{hint}")
        if step < 0:
            raise ValueError(f"trial.report(value, step): step must be >= 0; got {step!r}")
        if self._reports and step <= self._reports[-1][0]:
            raise ValueError(f"trial.report(value, step): steps must increase; got step {step} "
                             f"after {self._reports[-1][0]}")
        value = float(value)
        if not math.isfinite(value):
            self._failure = self._failure or f"reported {value} at step {step}"
            self._stop = True
            return
        self._reports.append((int(step), value))
        if self._pruner is not None and not self._halted:
            self._stop = bool(self._pruner.report(self.number, int(step), value)) or self._stop

    def should_stop(self) -> bool:
        """Whether the trial should stop now: the scheduler says so, a report was not finite,
        or its time is up (the study's ``trial_timeout`` or ``timeout``)."""
        if self._stop:
            return True
        if (self._timeout is not None and self._started is not None
                and time.monotonic() - self._started > self._timeout):
            self._timed_out = True
        if self._timed_out or self._halted:
            self._told = True
        return self._told

    def _halt(self) -> None:
        """Ask the trial to stop at its next :meth:`should_stop` (from the driver's thread)."""
        self._halted = True

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params})"


@dataclass
class Outcome:
    """What a worker sends back to the driver for one trial."""

    state: TrialState
    value: float | None
    reports: list
    user_attrs: dict
    error: str | None
    traceback: str | None
    start: float
    end: float


def _failed(reason: str, trial: Trial, start: float, tb: str | None = None) -> Outcome:
    return Outcome(TrialState.FAILED, None, trial._reports, trial.user_attrs, reason, tb,
                   start, time.time())


def run_trial(objective, trial: Trial) -> Outcome:
    """Run ``objective(trial.params, trial)`` and classify the result (never raises)."""
    start = time.time()
    trial._started = time.monotonic()
    if trial.n_threads is None:             # decided where the trial runs (a Dask worker)
        trial.n_threads = worker_threads()
    try:
        value = objective(dict(trial.params), trial)
    except Exception as exc:  # the study goes on; the reason is stored
        return _failed(f"{type(exc).__name__}: {exc}", trial, start, traceback.format_exc())
    if trial._failure is not None:
        return _failed(trial._failure, trial, start)
    if trial._timed_out:
        return _failed(timed_out(trial._timeout), trial, start)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _failed(f"objective returned {value!r}; expected a finite real number", trial, start)
    if not math.isfinite(value):
        return _failed(f"objective returned {float(value)}", trial, start)
    state = TrialState.PRUNED if trial._stop or trial._told else TrialState.COMPLETE
    return Outcome(state, float(value), trial._reports, trial.user_attrs, None, None,
                   start, time.time())


def timed_out(seconds: float) -> str:
    """The error stored for a trial stopped by its time limit."""
    return f"timed out after {seconds:g} s"


def future_outcome(future) -> Outcome:
    """The outcome in a finished future of :func:`run_trial`; FAILED if the executor failed."""
    exc = future.exception()
    if exc is None:
        return future.result()
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    now = time.time()
    return Outcome(TrialState.FAILED, None, [], {}, f"executor error: {type(exc).__name__}: {exc}",
                   tb, now, now)


@dataclass(frozen=True)
class FrozenTrial:
    """A trial as stored.

    Attributes
    ----------
    number : int
    state : TrialState
    params : dict
    value : float or None
        The objective's final value (None unless COMPLETE or PRUNED).
    intermediate : tuple of (step, value)
        The values the trial reported.
    user_attrs : dict
    seed : int
    datetime_start, datetime_end : str or None
        ISO 8601 times (UTC).
    error, traceback : str or None
        Why a FAILED trial failed.
    fastnn_version, data_fingerprint : str or None
        What ran the trial, on which data.
    """

    number: int
    state: TrialState
    params: dict
    value: float | None
    intermediate: tuple = ()
    user_attrs: dict = field(default_factory=dict)
    seed: int = 0
    datetime_start: str | None = None
    datetime_end: str | None = None
    error: str | None = None
    traceback: str | None = None
    fastnn_version: str | None = None
    data_fingerprint: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while not finished."""
        from datetime import datetime

        if self.datetime_start is None or self.datetime_end is None:
            return None
        start, end = (datetime.fromisoformat(t) for t in (self.datetime_start, self.datetime_end))
        return (end - start).total_seconds()

    def __repr__(self) -> str:
        value = "" if self.value is None else f", value={self.value:.6g}"
        return f"FrozenTrial(number={self.number}, state={self.state}{value}, params={self.params})"

