"""Timers for a noisy shared machine: calibrated loops, interleaved repeats.

Every comparison runs its candidates in one process, one after the other
within each repeat (fastnn, torch, fastnn, torch, ...), alternating the
order between repeats so that a slow spell of the machine hits all of them;
the figure kept is the best of the repeats.
"""

from __future__ import annotations

import time
from typing import Callable


def time_calls(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calibrate(fn: Callable[[], object], min_seconds: float) -> int:
    """Calls of ``fn`` that take at least ``min_seconds`` back to back (fn also warms up)."""
    number = 1
    while True:
        elapsed = time_calls(fn, number) * number
        if elapsed >= min_seconds or number >= 1 << 20:
            return number
        number = max(2 * number, int(number * 1.2 * min_seconds / max(elapsed, 1e-9)))


def timed(fn: Callable[[], object], min_seconds: float,
          before: Callable[[], None] | None = None) -> Callable[[], float]:
    """A measurement: seconds per call of ``fn`` over a loop calibrated once to ``min_seconds``.

    ``before()`` (e.g. setting a thread count) runs untimed ahead of each loop.
    """
    before = before or (lambda: None)
    before()
    number = calibrate(fn, min_seconds)

    def run() -> float:
        before()
        return time_calls(fn, number)
    return run


def interleave(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each ``runs[key]()`` (which returns a measurement) ``repeats`` times, interleaved.

    Odd repeats go through the candidates in reverse order.
    """
    out: dict[str, list[float]] = {key: [] for key in runs}
    keys = list(runs)
    for r in range(repeats):
        for key in (keys if r % 2 == 0 else keys[::-1]):
            out[key].append(runs[key]())
    return out


def best(times: dict[str, list[float]]) -> dict[str, float]:
    """The smallest measurement of each candidate."""
    return {key: min(values) for key, values in times.items()}

