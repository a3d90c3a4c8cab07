"""Early stopping of unpromising trials, driven by ``trial.report(value, step)``.

A scheduler sees every report of every trial through
``report(number, step, value) -> bool`` and answers whether that trial
should stop. Recording is idempotent (a trial's value at a step is kept
once), so a study can replay stored reports into a scheduler when it
resumes, and replay a remote trial's reports when its result comes back.

- :class:`ASHA`: asynchronous successive halving (Li et al., 2020).
- :class:`MedianStopping`: stop a trial that is worse than the median of
  the other trials at the same step (Golovin et al., 2017).

Trials running in threads of the driver's process talk to the study's
scheduler directly (under a lock). Trials in other processes or on a Dask
cluster get a copy of the scheduler as it was when they were submitted and
decide locally; see :mod:`fastnn.search.executors`.
"""

from __future__ import annotations

from statistics import median

from fastnn.search._checks import count

__all__ = ["Scheduler", "ASHA", "MedianStopping"]

DIRECTIONS = ("maximize", "minimize")


class Scheduler:
    """Base class: decides from reported values whether trials should stop.

    Parameters
    ----------
    direction : {"maximize", "minimize"} or None
        None takes the study's direction when the study starts.
    """

    def __init__(self, direction: str | None = None):
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS} or None; got {direction!r}")
        self.direction = direction

    def bind(self, direction: str) -> None:
        """Take the study's direction; raise if the scheduler was given another."""
        if self.direction is None:
            self.direction = direction
        elif self.direction != direction:
            raise ValueError(f"the scheduler was made for direction={self.direction!r} but the "
                             f"study's direction is {direction!r}")

    def report(self, number: int, step: int, value: float) -> bool:
        """Record trial ``number``'s ``value`` at ``step``; return whether it should stop."""
        raise NotImplementedError

    def _better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def _best_first(self, values) -> list[float]:
        return sorted(values, reverse=self.direction == "maximize")


class ASHA(Scheduler):
    """Asynchronous successive halving.

    Rungs sit at steps ``grace_period * reduction_factor ** k`` (k = 0, 1,
    ...; below ``max_resource`` when given). When a trial first reports at
    or past a rung's step, that value is recorded at the rung, and the trial
    goes on only if it ranks among the top ``max(1, n // reduction_factor)``
    of the ``n`` values recorded at that rung so far (its own included).
    While a rung holds fewer than ``reduction_factor`` values, only a trial
    as good as the best so far goes on (the usual asynchronous rule, since a
    stopped trial is never resumed).

    Parameters
    ----------
    grace_period : int, default 1
        Step of the first rung: no trial stops before it.
    reduction_factor : int, default 3
        ``eta``: about 1 in ``eta`` trials passes each rung.
    max_resource : int, optional
        The step at which a trial is complete; no rung at or beyond it.
    direction : {"maximize", "minimize"}, optional
        Defaults to the study's.
    """

    def __init__(self, grace_period: int = 1, reduction_factor: int = 3,
                 max_resource: int | None = None, direction: str | None = None):
        super().__init__(direction)
        self.grace_period = count(grace_period, "grace_period")
        self.reduction_factor = count(reduction_factor, "reduction_factor", 2)
        if max_resource is not None:
            max_resource = count(max_resource, "max_resource")
        self.max_resource = max_resource
        self.rungs: list[dict[int, float]] = []   # rung k -> {trial number: value}
        self._next_rung: dict[int, int] = {}      # trial number -> first rung not yet recorded

    def rung_step(self, k: int) -> int:
        """The step of rung ``k``."""
        return self.grace_period * self.reduction_factor ** k

    def _is_rung(self, k: int) -> bool:
        return self.max_resource is None or self.rung_step(k) < self.max_resource

    def report(self, number, step, value):
        k = self._next_rung.get(number, 0)
        while self._is_rung(k) and step >= self.rung_step(k):
            if len(self.rungs) <= k:
                self.rungs.append({})
            self.rungs[k][number] = value
            self._next_rung[number] = k + 1
            if not self._promotable(k, value):
                return True
            k += 1
        return False

    def _promotable(self, k: int, value: float) -> bool:
        ranked = self._best_first(self.rungs[k].values())
        n_keep = max(1, len(ranked) // self.reduction_factor)
        return not self._better(ranked[n_keep - 1], value)

    def __repr__(self) -> str:
        return (f"ASHA(grace_period={self.grace_period}, reduction_factor={self.reduction_factor}, "
                f"max_resource={self.max_resource})")


class MedianStopping(Scheduler):
    """Stop a trial whose value at a step is worse than the median of the others there.

    Parameters
    ----------
    grace_period : int, default 1
        No trial stops at a step below this.
    min_trials : int, default 3
        How many other trials must have reported at the step for the rule
        to apply.
    direction : {"maximize", "minimize"}, optional
        Defaults to the study's.
    """

    def __init__(self, grace_period: int = 1, min_trials: int = 3, direction: str | None = None):
        super().__init__(direction)
        self.grace_period = count(grace_period, "grace_period", 0)
        self.min_trials = count(min_trials, "min_trials")
        self.values: dict[int, dict[int, float]] = {}   # step -> {trial number: value}

    def report(self, number, step, value):
        at_step = self.values.setdefault(step, {})
        at_step.setdefault(number, value)
        others = [v for n, v in at_step.items() if n != number]
        if step < self.grace_period or len(others) < self.min_trials:
            return False
        return self._better(median(others), value)

    def __repr__(self) -> str:
        return f"MedianStopping(grace_period={self.grace_period}, min_trials={self.min_trials})"
