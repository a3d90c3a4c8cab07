"""Distributions of hyperparameters, sampled through the unit interval.

Every distribution maps a unit coordinate ``u`` in [0, 1) to a value through
its scale (``from_unit``) and back (``to_unit``). Sampling, quasi-random
sequences and coarse-to-fine zooming all work on unit coordinates, so they
treat a learning rate on a log scale and a batch size in a list alike.

- ``Uniform(lo, hi)``: ``lo + u * (hi - lo)``.
- ``LogUniform(lo, hi)``: ``10 ** (log10 lo + u * (log10 hi - log10 lo))``:
  as much probability in [1e-4, 1e-3] as in [1e-1, 1].
- ``OneMinusLogUniform(lo, hi)``: ``1 - 10 ** r`` with ``r`` uniform between
  ``log10(1 - lo)`` and ``log10(1 - hi)``, for averaging coefficients such as
  Adam's beta1: for [0.9, 0.999] half the draws land in [0.99, 0.999].
- ``IntUniform(lo, hi)``: integers lo..hi inclusive, equally likely.
- ``IntLogUniform(lo, hi)``: integers lo..hi, the cell of ``k`` spanning
  [log(k - 1/2), log(k + 1/2)): P(k) is about proportional to 1/k.
- ``Choice(options)``: one of a list, equally likely.

Round trips: ``to_unit`` of an integer or an option gives the centre of its
cell, so ``from_unit(to_unit(v)) == v`` exactly. The continuous
distributions round what they draw to 12 significant digits on their scale
(``1 - beta`` for OneMinusLogUniform, the width of the range for Uniform),
far below any effect on training; ``to_unit`` then finds a unit point that
maps back exactly to every value ``from_unit`` can produce and to every
value written with up to 12 significant digits (``3e-4``, ``0.9995``). A
float with more digits (``10 ** -3.5``) is in range but may have no unit
point of its own (a float64 unit interval has fewer points than a log scale
has values): it gets the nearest one, within 1e-12 relative. A study keeps
enqueued values exactly as given either way; their unit points only steer
coarse-to-fine zooming.

Conditions: ``when={"n_layers": (2, 3)}`` (the named, earlier parameter must
take one of those values) or ``when=callable(params) -> bool`` (``params``:
the dict of parameters sampled before this one) make a parameter
conditional; see :class:`fastnn.search.Space`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["Distribution", "Uniform", "LogUniform", "OneMinusLogUniform",
           "IntUniform", "IntLogUniform", "Choice"]

_OUT = object()  # what _normalize returns for a value outside the distribution


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    return float(value)


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    return int(value)


def _check_when(when):
    """``when`` as None, a callable, or a dict name -> tuple of allowed values."""
    if when is None or callable(when):
        return when
    if not isinstance(when, Mapping) or not when:
        raise TypeError("when must be None, a callable(params) -> bool, or a non-empty dict "
                        f"{{name: collection of allowed values}}; got {when!r}")
    out = {}
    for name, allowed in when.items():
        if not isinstance(name, str):
            raise TypeError(f"when's keys must be parameter names (str); got {name!r}")
        if isinstance(allowed, (str, bytes)) or not hasattr(allowed, "__iter__"):
            raise TypeError(f"when[{name!r}] must be a collection of allowed values "
                            f"(e.g. a tuple); got {allowed!r}")
        out[name] = tuple(allowed)
        if not out[name]:
            raise ValueError(f"when[{name!r}] must allow at least one value")
    return out


def _when_to_json(when):
    if when is None:
        return None
    if callable(when):
        module, name = getattr(when, "__module__", "?"), getattr(when, "__qualname__", repr(when))
        return {"callable": f"{module}.{name}"}
    return {"values": {k: list(v) for k, v in when.items()}}


def _when_from_json(data):
    if data is None:
        return None
    if "callable" in data:
        raise ValueError(f"a condition given by a callable ({data['callable']}) cannot be rebuilt "
                         "from its stored description; pass the space again")
    return data["values"]


class Distribution:
    """A hyperparameter's distribution, sampled through a unit coordinate.

    Subclasses define ``_from_unit``, ``_to_unit``, ``_normalize`` and
    ``_args``. ``when`` makes the parameter conditional (see the module
    docstring).
    """

    def __init__(self, when=None):
        self.when = _check_when(when)

    def from_unit(self, u: float):
        """Map a unit coordinate ``u`` in [0, 1) (1 is accepted) to a value."""
        u = _real(u, "u")
        if not 0.0 <= u <= 1.0:
            raise ValueError(f"u must lie in [0, 1]; got {u}")
        return self._from_unit(u)

    def to_unit(self, value) -> float:
        """Map a value in range to its unit coordinate in [0, 1]."""
        return self._to_unit(self.normalize(value))

    def contains(self, value) -> bool:
        """Whether ``value`` is one this distribution can take."""
        return self._normalize(value) is not _OUT

    def normalize(self, value):
        """``value`` as the plain Python number or option the distribution produces."""
        v = self._normalize(value)
        if v is _OUT:
            raise ValueError(f"{value!r} is outside {self!r}")
        return v

    def snap(self, lo: float, hi: float) -> tuple[float, float]:
        """Widen a unit interval to whole cells (integers); Choice keeps all options."""
        return lo, hi

    def unit_centres(self, u: np.ndarray) -> np.ndarray:
        """Many unit coordinates at once, each moved to where its value maps back: the
        centre of its cell for an integer or an option (``to_unit(from_unit(u))``); a
        continuous distribution's coordinates as they are (their values round to 12
        significant digits, a change far below any unit coordinate that matters)."""
        return np.clip(np.asarray(u, dtype=float), 0.0, 1.0)

    def real_range(self, lo: float, hi: float):
        """The values a unit interval [lo, hi] covers, as ``(low, high)``."""
        return self._from_unit(lo), self._from_unit(hi)

    def to_dict(self) -> dict:
        """A JSON-ready description; :meth:`Distribution.from_dict` rebuilds it."""
        return {"type": type(self).__name__, **self._args(), "when": _when_to_json(self.when)}

    @staticmethod
    def from_dict(data: Mapping) -> Distribution:
        """Rebuild a distribution from :meth:`to_dict`'s description."""
        kinds = {cls.__name__: cls for cls in (Uniform, LogUniform, OneMinusLogUniform,
                                                IntUniform, IntLogUniform, Choice)}
        data = dict(data)
        kind = data.pop("type", None)
        if kind not in kinds:
            raise ValueError(f"unknown distribution type {kind!r}; expected one of {sorted(kinds)}")
        when = _when_from_json(data.pop("when", None))
        return kinds[kind](**data, when=when)

    def __eq__(self, other) -> bool:
        return isinstance(other, Distribution) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = [repr(v) for v in self._args().values()]
        if callable(self.when):
            args.append(f"when={getattr(self.when, '__qualname__', self.when)}")
        elif self.when is not None:
            args.append(f"when={self.when!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def _args(self) -> dict:
        raise NotImplementedError

    def _from_unit(self, u: float):
        raise NotImplementedError

    def _to_unit(self, v) -> float:
        raise NotImplementedError

    def _normalize(self, value):
        raise NotImplementedError


# ---------------------------------------------------------------- continuous

def _exact_unit(forward: Callable[[float], float], u: float, v: float, steps: int = 64) -> float:
    """The unit point next to ``u`` that ``forward`` maps exactly to ``v``, else the nearest."""
    fu = forward(u)
    if fu == v:
        return u
    toward = 1.0 if fu < v else 0.0
    best, best_err, x = u, abs(fu - v), u
    for _ in range(steps):
        x = math.nextafter(x, toward)
        fx = forward(x)
        if fx == v:
            return x
        if abs(fx - v) < best_err:
            best, best_err = x, abs(fx - v)
        if (fx > v) != (fu > v) or x == toward:
            break
    return best


class _Continuous(Distribution):
    """A monotone map of [0, 1] onto [lo, hi] with exact ends."""

    def __init__(self, lo, hi, when=None):
        super().__init__(when)
        self.lo, self.hi = _real(lo, "lo"), _real(hi, "hi")
        if not self.lo < self.hi:
            raise ValueError(f"{type(self).__name__} needs lo < hi; got lo={lo!r}, hi={hi!r}")

    def _args(self):
        return {"lo": self.lo, "hi": self.hi}

    def _normalize(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _OUT
        v = float(value)
        return v if self.lo <= v <= self.hi else _OUT

    def _from_unit(self, u):
        if u <= 0.0:
            return self.lo
        if u >= 1.0:
            return self.hi
        return min(max(self._round(self._forward(u)), self.lo), self.hi)

    def _to_unit(self, v):
        u = min(max(self._inverse(v), 0.0), 1.0)
        return _exact_unit(self._from_unit, u, v)

    def _forward(self, u: float) -> float:
        raise NotImplementedError

    def _inverse(self, v: float) -> float:
        raise NotImplementedError

    def _round(self, v: float) -> float:
        """``v`` to 12 significant digits on the distribution's scale."""
        raise NotImplementedError


class Uniform(_Continuous):
    """Real values uniform on [lo, hi].

    Parameters
    ----------
    lo, hi : float
        Bounds, ``lo < hi``.
    when : dict or callable, optional
        Condition for the parameter to be sampled.
    """

    def __init__(self, lo, hi, when=None):
        super().__init__(lo, hi, when)
        self._digits = 12 - math.floor(math.log10(self.hi - self.lo))

    def _forward(self, u):
        return self.lo + u * (self.hi - self.lo)

    def _round(self, v):
        return round(v, self._digits)

    def _inverse(self, v):
        return (v - self.lo) / (self.hi - self.lo)


class LogUniform(_Continuous):
    """Positive real values whose log10 is uniform: ``10 ** U(log10 lo, log10 hi)``.

    Parameters
    ----------
    lo, hi : float
        Bounds, ``0 < lo < hi``.
    when : dict or callable, optional
    """

    def __init__(self, lo, hi, when=None):
        super().__init__(lo, hi, when)
        if self.lo <= 0:
            raise ValueError(f"LogUniform needs lo > 0 (a log scale); got lo={lo!r}")
        self._a, self._b = math.log10(self.lo), math.log10(self.hi)

    def _forward(self, u):
        return 10.0 ** (self._a + u * (self._b - self._a))

    def _round(self, v):
        return float(f"{v:.12g}")

    def _inverse(self, v):
        return (math.log10(v) - self._a) / (self._b - self._a)


class OneMinusLogUniform(_Continuous):
    """Values near 1, such as averaging coefficients: ``1 - 10 ** r``.

    ``r`` is uniform between ``log10(1 - lo)`` and ``log10(1 - hi)``, so
    ``1 - value`` is log-uniform: for [0.9, 0.999], [0.9, 0.99] and
    [0.99, 0.999] are equally likely.

    Parameters
    ----------
    lo, hi : float
        Bounds, ``0 < lo < hi < 1``.
    when : dict or callable, optional
    """

    def __init__(self, lo, hi, when=None):
        super().__init__(lo, hi, when)
        if not 0.0 < self.lo < self.hi < 1.0:
            raise ValueError(f"OneMinusLogUniform needs 0 < lo < hi < 1; got lo={lo!r}, hi={hi!r}")
        self._a, self._b = math.log10(1.0 - self.lo), math.log10(1.0 - self.hi)

    def _forward(self, u):
        return 1.0 - 10.0 ** (self._a + u * (self._b - self._a))

    def _round(self, v):
        return round(v, 11 - math.floor(math.log10(1.0 - v)))

    def _inverse(self, v):
        return (math.log10(1.0 - v) - self._a) / (self._b - self._a)


# ---------------------------------------------------------------- discrete

class _Cells(Distribution):
    """Values owning consecutive cells of [0, 1]: edges[i] <= u < edges[i + 1] maps to value i."""

    n: int
    _edge_array: np.ndarray | None = None

    def _edge(self, i: int) -> float:
        raise NotImplementedError

    def _index(self, u: float) -> int:
        raise NotImplementedError

    def _value(self, i: int):
        raise NotImplementedError

    def _position(self, v) -> int:
        raise NotImplementedError

    def _from_unit(self, u):
        return self._value(min(max(self._index(u), 0), self.n - 1))

    def _to_unit(self, v):
        i = self._position(v)
        return 0.5 * (self._edge(i) + self._edge(i + 1))

    def snap(self, lo, hi):
        i, j = self._position(self._from_unit(lo)), self._position(self._from_unit(hi))
        return self._edge(i), self._edge(j + 1)

    def _edges(self) -> np.ndarray:
        """The n + 1 cell edges, computed once."""
        if self._edge_array is None:
            self._edge_array = np.array([self._edge(i) for i in range(self.n + 1)])
        return self._edge_array

    def cells(self, u: np.ndarray) -> np.ndarray:
        """Many unit coordinates at once as the positions of their values: int array."""
        i = np.searchsorted(self._edges(), np.asarray(u, dtype=float), side="right") - 1
        return np.minimum(np.maximum(i, 0), self.n - 1)     # np.clip, without its overhead

    def centres(self, i: np.ndarray) -> np.ndarray:
        """The unit centres of the cells at positions ``i`` (as :meth:`cells` gives)."""
        edges = self._edges()
        return 0.5 * (edges[i] + edges[i + 1])

    def position(self, value) -> int:
        """The position of ``value`` among the values, in unit order (0 for the first)."""
        return self._position(self.normalize(value))

    def unit_centres(self, u):
        return self.centres(self.cells(u))

    def real_range(self, lo, hi):
        return self._from_unit(lo), self._from_unit(max(lo, math.nextafter(hi, 0.0)))


class _Ints(_Cells):
    def __init__(self, lo, hi, when=None):
        super().__init__(when)
        self.lo, self.hi = _integer(lo, "lo"), _integer(hi, "hi")
        if not self.lo < self.hi:
            raise ValueError(f"{type(self).__name__} needs lo < hi; got lo={lo!r}, hi={hi!r}")
        self.n = self.hi - self.lo + 1

    def _args(self):
        return {"lo": self.lo, "hi": self.hi}

    def _normalize(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _OUT
        if not isinstance(value, numbers.Integral) and not float(value).is_integer():
            return _OUT
        v = int(value)
        return v if self.lo <= v <= self.hi else _OUT

    def _value(self, i):
        return self.lo + i

    def _position(self, v):
        return v - self.lo


class IntUniform(_Ints):
    """Integers lo..hi (both included), equally likely.

    Parameters
    ----------
    lo, hi : int
        Bounds, ``lo < hi``; both can be drawn.
    when : dict or callable, optional
    """

    def _edge(self, i):
        return i / self.n

    def _index(self, u):
        return int(u * self.n)


class IntLogUniform(_Ints):
    """Integers lo..hi (both included) on a log scale: P(k) about proportional to 1/k.

    The cell of ``k`` is [log10(k - 1/2), log10(k + 1/2)), rescaled to [0, 1].

    Parameters
    ----------
    lo, hi : int
        Bounds, ``1 <= lo < hi``.
    when : dict or callable, optional
    """

    def __init__(self, lo, hi, when=None):
        super().__init__(lo, hi, when)
        if self.lo < 1:
            raise ValueError(f"IntLogUniform needs lo >= 1 (a log scale); got lo={lo!r}")
        self._a, self._b = math.log10(self.lo - 0.5), math.log10(self.hi + 0.5)

    def _edge(self, i):
        if i <= 0 or i >= self.n:
            return 0.0 if i <= 0 else 1.0
        return (math.log10(self.lo + i - 0.5) - self._a) / (self._b - self._a)

    def _index(self, u):
        x = 10.0 ** (self._a + u * (self._b - self._a))
        return math.floor(x + 0.5) - self.lo


def _option_key(option):
    """Equality key of an option: 1 and 1.0 match, True and 1 do not."""
    return (isinstance(option, bool), option)


class Choice(_Cells):
    """One of a list of options, equally likely.

    Parameters
    ----------
    options : sequence
        At least one option; each None, a bool, an int, a finite float or a
        str (so that trials store as JSON), with no repeats.
    when : dict or callable, optional
    """

    def __init__(self, options, when=None):
        super().__init__(when)
        if isinstance(options, (str, bytes, Mapping)) or not hasattr(options, "__iter__"):
            raise TypeError(f"options must be a list of values; got {options!r}")
        self.options = tuple(_plain_option(o) for o in options)
        if not self.options:
            raise ValueError("Choice needs at least one option; got none")
        self._positions = {_option_key(o): i for i, o in enumerate(self.options)}
        if len(self._positions) != len(self.options):
            raise ValueError(f"Choice options must be distinct; got {list(self.options)}")
        self.n = len(self.options)

    def _args(self):
        return {"options": list(self.options)}

    def _normalize(self, value):
        try:
            i = self._positions.get(_option_key(_plain_option(value)))
        except (TypeError, ValueError):
            return _OUT
        return _OUT if i is None else self.options[i]

    def _edge(self, i):
        return i / self.n

    def _index(self, u):
        return int(u * self.n)

    def _value(self, i):
        return self.options[i]

    def _position(self, v):
        return self._positions[_option_key(v)]

    def snap(self, lo, hi):
        return 0.0, 1.0

    def real_range(self, lo, hi):
        return self.options


def _plain_option(option):
    """A Choice option as a JSON-ready Python scalar (numpy scalars unwrapped)."""
    if hasattr(option, "item") and not isinstance(option, (str, bytes)):
        option = option.item()
    if option is None or isinstance(option, (bool, int, str)):
        return option
    if isinstance(option, float):
        if not math.isfinite(option):
            raise ValueError(f"Choice options must be finite; got {option!r}")
        return option
    raise TypeError(f"Choice options must be None, bool, int, float or str; got {option!r}")
