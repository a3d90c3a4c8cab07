"""Axes on each parameter's own scale, the scale it was sampled on.

- ``LogUniform``, ``IntLogUniform``: a log axis, ticked at powers of ten with
  minor ticks between, or at powers of two (and no minor ticks) for an
  ``IntLogUniform`` over at most 10 doublings;
- ``OneMinusLogUniform``: a log axis of ``1 - beta`` turned so beta grows to
  the right, ticked and labelled in beta (0.9, 0.99, 0.999): equal steps
  between 0.9, 0.99 and 0.999, as the sampling has it;
- ``Choice``: one slot per option, labelled with the option;
- ``Uniform``, ``IntUniform``: a linear axis.

A ``Choice`` axis takes option positions (see :func:`position`), every
other axis the values themselves.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.search.distributions import (Choice, Distribution, IntLogUniform, IntUniform,
                                         LogUniform, OneMinusLogUniform)

__all__ = ["set_scale", "position", "ticks", "scale_name", "ONE_MINUS"]

ONE_MINUS = "log of 1 - x"


def scale_name(dist: Distribution) -> str:
    """How the axis of ``dist`` is drawn: "log", "log of 1 - x", "options" or "linear"."""
    if isinstance(dist, (LogUniform, IntLogUniform)):
        return "log"
    if isinstance(dist, OneMinusLogUniform):
        return ONE_MINUS
    if isinstance(dist, Choice):
        return "options"
    return "linear"


def position(dist: Distribution, value) -> float:
    """Where ``value`` sits on the axis of ``dist`` (an option's index for a Choice)."""
    if isinstance(dist, Choice):
        return float(dist.options.index(dist.normalize(value)))
    return float(value)


def _one_minus_forward(beta):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log10(1.0 - np.asarray(beta, dtype=float))


def _one_minus_inverse(t):
    return 1.0 - 10.0 ** (-np.asarray(t, dtype=float))


def _decimal(value: float) -> str:
    return np.format_float_positional(float(f"{value:.12g}"), trim="-")


def _powers_of_two(dist: Distribution) -> bool:
    """Whether ``dist``'s axis is ticked at powers of two (integers over at most 10 doublings)."""
    return isinstance(dist, IntLogUniform) and dist.hi / dist.lo <= 2 ** 10


def ticks(dist: Distribution) -> list[tuple[float, str]]:
    """Readable ticks of ``dist``'s axis inside its range: (position, label) pairs."""
    if isinstance(dist, Choice):
        return [(float(i), str(o)) for i, o in enumerate(dist.options)]
    lo, hi = dist.lo, dist.hi
    if isinstance(dist, OneMinusLogUniform):
        k_lo, k_hi = math.ceil(-math.log10(1 - lo) - 1e-9), math.floor(-math.log10(1 - hi) + 1e-9)
        values = [1 - 10.0 ** -k for k in range(k_lo, k_hi + 1)]
    elif _powers_of_two(dist):
        values = [2 ** k for k in range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)]
    elif isinstance(dist, (LogUniform, IntLogUniform)):
        values = [10.0 ** k for k in range(math.ceil(math.log10(lo) - 1e-9),
                                           math.floor(math.log10(hi) + 1e-9) + 1)]
    else:
        from matplotlib.ticker import MaxNLocator

        values = [v for v in MaxNLocator(5, integer=isinstance(dist, IntUniform))
                  .tick_values(lo, hi) if lo - 1e-12 <= v <= hi + 1e-12]
    if len(values) < 2:
        values = sorted(set(values) | {lo, hi})
    return [(float(v), _decimal(v)) for v in values]


def _limits(dist: Distribution) -> tuple[float, float]:
    if isinstance(dist, Choice):
        return -0.5, len(dist.options) - 0.5
    lo, hi = float(dist.lo), float(dist.hi)
    if isinstance(dist, (LogUniform, IntLogUniform)):
        pad = (hi / lo) ** 0.04
        return lo / pad, hi * pad
    if isinstance(dist, OneMinusLogUniform):
        a, b = _one_minus_forward(lo), _one_minus_forward(hi)
        pad = 0.04 * (b - a)
        return float(_one_minus_inverse(a - pad)), float(_one_minus_inverse(b + pad))
    pad = 0.04 * (hi - lo)
    if isinstance(dist, IntUniform):  # each integer's cell [k - 1/2, k + 1/2] in full: the
        pad = max(pad, 0.5)           # points spread in it, zoom's boxes end at its edges
    return lo - pad, hi + pad


def _log_minor(lo: float, hi: float) -> list[float]:
    """Minor ticks of a log axis from ``lo`` to ``hi``: 2..9 times each power of ten (none
    when 10 powers or more are in range, as matplotlib's LogLocator), only those in range:
    a LogLocator makes a decade more on each side, ticks laid out but never drawn."""
    if math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) + 1 >= 10:
        return []
    k_lo, k_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [v for k in range(k_lo, k_hi) for m in range(2, 10)
            if lo <= (v := m * 10.0 ** k) <= hi]


def set_scale(ax, dist: Distribution, axis: str = "x", label: str | None = None) -> None:
    """Put axis ``"x"`` or ``"y"`` of ``ax`` on ``dist``'s scale, with its ticks and limits."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y'; got {axis!r}")
    if not isinstance(dist, Distribution):
        raise TypeError(f"dist must be a fastnn.search Distribution; got {dist!r}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    set_scale_of = ax.set_xscale if axis == "x" else ax.set_yscale
    set_lim = ax.set_xlim if axis == "x" else ax.set_ylim
    kind = scale_name(dist)
    if kind == "log":
        set_scale_of("log")
    elif kind == ONE_MINUS:
        set_scale_of("function", functions=(_one_minus_forward, _one_minus_inverse))
    set_lim(*_limits(dist))
    marks = ticks(dist)
    target.set_major_locator(FixedLocator([p for p, _ in marks]))
    target.set_major_formatter(FixedFormatter([t for _, t in marks]))
    if kind == "log":                 # no decimal minor ticks between powers of two
        target.set_minor_locator(FixedLocator([] if _powers_of_two(dist)
                                              else _log_minor(*_limits(dist))))
    if kind == ONE_MINUS:
        k_lo = math.floor(-math.log10(1 - dist.lo))
        k_hi = math.ceil(-math.log10(1 - dist.hi))
        minor = [1 - m * 10.0 ** -k for k in range(k_lo, k_hi + 1) for m in range(2, 10)]
        target.set_minor_locator(FixedLocator([v for v in minor if dist.lo <= v <= dist.hi]))
    if kind in ("log", "options") or kind == ONE_MINUS:
        target.set_minor_formatter(NullFormatter())
    if kind == "options":
        target.set_minor_locator(FixedLocator([]))
    if label is not None:
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)
