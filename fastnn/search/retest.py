"""Re-evaluate a study's best trials with several seeds, and see how their ranks change.

A search ranks configurations by one noisy run each, often on one
validation split. Re-running the top few with new seeds (and, with an
objective built on fresh data, new data) shows whether the winners stay
winners: a configuration that drops from rank 1 to rank 4 was lucky.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from dataclasses import dataclass

import numpy as np

from fastnn._threads import resolve_n_threads
from fastnn.search.executors import (check_executor, check_n_jobs, open_executor, run_jobs,
                                     threads_per_trial)
from fastnn.search.tables import format_table
from fastnn.search.trial import Trial, TrialState, future_outcome, run_trial

__all__ = ["RetestRow", "RetestReport", "run_retest"]


@dataclass(frozen=True)
class RetestRow:
    """One re-tested trial.

    Attributes
    ----------
    number : int
    params : dict
    old_rank : int
        1 = best in the study.
    old_value : float
    new_values : tuple of float
        One per seed that did not fail.
    new_mean, new_std : float
        Of ``new_values`` (NaN if every seed failed).
    new_rank : int
        1 = best new mean; trials whose every seed failed rank last.
    n_failed : int
    """

    number: int
    params: dict
    old_rank: int
    old_value: float
    new_values: tuple
    new_mean: float
    new_std: float
    new_rank: int
    n_failed: int


@dataclass(frozen=True)
class RetestReport:
    """Rows by new rank; ``str(report)`` is a plain-text table."""

    retest: int
    direction: str
    rows: tuple

    def __str__(self) -> str:
        headers = ["new_rank", "old_rank", "trial", "old_value", "new_mean", "new_std", "failed"]
        rows = [[r.new_rank, r.old_rank, r.number, r.old_value, r.new_mean, r.new_std, r.n_failed]
                for r in self.rows]
        return format_table(headers, rows, f"retest {self.retest} ({self.direction})")


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a sequence of integers; got {seeds!r}")
    seeds = tuple(seeds)
    bad = [s for s in seeds
           if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct non-negative integers, at least one; "
                         f"got {seeds!r}")
    return tuple(int(s) for s in seeds)


def check_retest(objective, seeds, n_jobs, executor, n_threads) -> tuple:
    """The checked (seeds, n_jobs, n_threads) of a retest, before anything is stored."""
    if not callable(objective):
        raise TypeError(f"objective must be callable(params, trial) -> float; got {objective!r}")
    n_jobs, seeds = check_n_jobs(n_jobs, executor), _check_seeds(seeds)
    n_threads = (threads_per_trial(n_jobs, executor) if n_threads is None
                 else resolve_n_threads(n_threads))
    check_executor(executor)
    return seeds, n_jobs, n_threads


def run_retest(best, objective, seeds, n_jobs, executor, n_threads, retest, direction,
               record) -> RetestReport:
    """Re-run the trials ``best`` (ranked, best first) with each seed; ``record(number,
    seed, outcome)`` stores each run. See :meth:`Study.retest <fastnn.search.Study.retest>`."""
    seeds, n_jobs, n_threads = check_retest(objective, seeds, n_jobs, executor, n_threads)
    jobs = deque((t, s) for t in best for s in seeds)
    values: dict[int, list] = {t.number: [] for t in best}

    def next_job():
        if not jobs:
            return None
        t, seed = jobs.popleft()
        return (t.number, seed), run_trial, (objective, Trial(t.number, t.params, seed, n_threads))

    def on_done(key, future):
        outcome = future_outcome(future)
        record(key[0], key[1], outcome)
        values[key[0]].append(outcome.value if outcome.state == TrialState.COMPLETE else None)

    with open_executor(executor, n_jobs) as (pool, _):
        run_jobs(pool, n_jobs, next_job, on_done)
    return RetestReport(retest, direction, _rank(best, values, direction))


def _rank(best, values, direction) -> tuple:
    stats = {}
    for t in best:
        ok = [v for v in values[t.number] if v is not None]
        mean = float(np.mean(ok)) if ok else math.nan
        std = float(np.std(ok)) if ok else math.nan
        stats[t.number] = (tuple(ok), mean, std, len(values[t.number]) - len(ok))
    sign = -1.0 if direction == "maximize" else 1.0
    order = sorted(best, key=lambda t: (math.isnan(stats[t.number][1]),
                                        sign * np.nan_to_num(stats[t.number][1]), t.number))
    new_rank = {t.number: i for i, t in enumerate(order, 1)}
    return tuple(RetestRow(t.number, t.params, old, t.value, *stats[t.number][:3],
                           new_rank[t.number], stats[t.number][3])
                 for old, t in sorted(enumerate(best, 1), key=lambda p: new_rank[p[1].number]))
