"""A search's live progress: trials done of total, running, pruned, failed, best so far, ETA.

``Study.optimize(progress=True)`` makes a :class:`SearchProgress`. On a
terminal it is a bar redrawn in place (tqdm's when installed); elsewhere
each finished trial prints one plain line. At the end of each
coarse-to-fine round the ranges that round sampled are printed.
"""

from __future__ import annotations

from fastnn._progress import Clock, Display, format_duration
from fastnn.search.tables import format_value
from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["SearchProgress", "describe_params", "describe_box"]


def describe_params(params: dict) -> str:
    """``lr=0.00123 units_1=64 ...``: floats to 3 significant digits."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in params.items())


def describe_box(space, box: dict) -> str:
    """A coarse-to-fine box in real units; Choice parameters (they keep every option) left out."""
    from fastnn.search.distributions import Choice

    return ", ".join(f"{name} {lo:.3g}..{hi:.3g}" for name, (lo, hi) in
                     ((n, r) for n, r in box.items() if not isinstance(space[n], Choice)))


class SearchProgress:
    """Counts and shows a search's trials as they start and finish.

    Parameters
    ----------
    total : int
        Trials this ``optimize`` call runs.
    direction : {"maximize", "minimize"}
    best : float or None
        The study's best value before this call.
    file : file-like, optional
        Default standard output.
    """

    def __init__(self, total: int, direction: str, best: float | None = None, file=None):
        self.total, self.direction = total, direction
        self.done = self.running = self.pruned = self.failed = 0
        self.best, self.best_number = best, None
        self._clock = Clock()
        self._display = Display(total, "trials", file)

    def started(self) -> None:
        self.running += 1
        if self._display.live:          # off a terminal, lines come as trials finish
            self._display.step(self.done, self._bar_status())

    def finished(self, trial: FrozenTrial) -> None:
        self.running = max(self.running - 1, 0)
        self.done += 1
        if trial.state == TrialState.PRUNED:
            self.pruned += 1
        elif trial.state == TrialState.FAILED:
            self.failed += 1
        elif trial.value is not None and self._better(trial.value):
            self.best, self.best_number = trial.value, trial.number
        value = format_value(trial.value, 4)
        note = f" ({trial.error.splitlines()[0]})" if trial.error else ""
        line = (f"trial {trial.number:>4}  {trial.state.value:<8} {value:>7}  "
                f"{describe_params(trial.params)}{note}")
        if self._display.live:          # the trial above the bar, the bar redrawn
            self._display.write(line)
            self._display.step(self.done, self._bar_status())
        else:
            self._display.step(self.done, self.status(), f"{line}\n  {self.status()}")

    def round_done(self, index: int, rounds: int, numbers: list[int], ranges: str) -> None:
        """Say which trials round ``index`` (from 1) ran and the ranges it sampled."""
        span = f"trials {min(numbers)}-{max(numbers)}" if numbers else "no trials"
        best = "-" if self.best is None else format_value(self.best, 4)
        self._display.write(f"round {index}/{rounds} done ({span}, best so far {best}); "
                            f"its ranges: {ranges or 'every option'}")

    def status(self) -> str:
        """``8/20 done, 2 running, 1 pruned, 0 failed, best 0.9712, elapsed 41s, ETA 1m05s``."""
        best = "-" if self.best is None else format_value(self.best, 4)
        eta = self._clock.eta(self.done, self.total) if self.done < self.total else 0.0
        return (f"{self.done}/{self.total} done, {self.running} running, {self.pruned} pruned, "
                f"{self.failed} failed, best {best}, elapsed "
                f"{format_duration(self._clock.elapsed())}, ETA {format_duration(eta)}")

    def _bar_status(self) -> str:        # the bar shows done/total itself
        return self.status().split(" done, ", 1)[1]

    def close(self) -> None:
        self._display.close()

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.direction == "maximize" else value < self.best
