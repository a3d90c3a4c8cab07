"""Argument checks shared by every entry point (model API, ops, files, search, CLI).

Each check fails with a message that names the argument, says what was
wrong and what is accepted, and returns the value in the form the caller
uses. This module imports nothing from fastnn, so any floor may use it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["boolean", "integer", "positive_int", "width", "seed", "real", "seconds", "array", "numeric_dtype",
           "float_dtype", "to_float", "disjoint", "same_buffer", "closest", "name_list",
           "unknown_name"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: The widest layer (and the most features) the compiled network takes: it counts widths
#: in C ints.
MAX_WIDTH = 2**31 - 1


# ---------------------------------------------------------------- scalars

def boolean(value, name: str) -> bool:
    """True or False (numpy's too); anything else, such as the string "no", is refused
    rather than taken for its truth value."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r}")


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None,
            allow_none: bool = False):
    """An integer in ``[minimum, maximum]`` (bools refused), or None if ``allow_none``."""
    if value is None and allow_none:
        return None
    low = "" if minimum is None else f" >= {minimum}"
    high = "" if maximum is None else f" <= {maximum}"
    if maximum is not None and maximum >= 2**16 and (maximum + 1) & maximum == 0:
        high = f" < 2**{(maximum + 1).bit_length() - 1}"
    what = f"an integer{low}{' and' if low and high else ''}{high}"
    what += " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}; got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value)


def positive_int(value, name: str, allow_none: bool = False):
    """An integer >= 1, or None if ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        accepted = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return int(value)


def width(value, name: str, allow_none: bool = False):
    """A layer width or feature count: an integer from 1 to :data:`MAX_WIDTH`, or None if
    ``allow_none``."""
    value = positive_int(value, name, allow_none)
    if value is not None and value > MAX_WIDTH:
        raise ValueError(f"{name} must be at most {MAX_WIDTH:,} (2**31 - 1, the widest layer "
                         f"fastnn's compiled network takes); got {value:,}")
    return value


def seed(value, name: str = "seed", allow_none: bool = True, generator: bool = False):
    """A seed: an integer in [0, 2**64), None (if ``allow_none``) or a numpy Generator (if
    ``generator``)."""
    if value is None and allow_none:
        return None
    if generator and isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 2**64:
        accepted = "an integer in [0, 2**64)"
        accepted += ", a numpy Generator" if generator else ""
        accepted += " or None" if allow_none else ""
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return int(value)


def real(value, name: str, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    """A finite real number in the given range (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    value = float(value)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}; got {value}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}; got {value}")
    return value


#: the ranges a declared setting may take (fastnn/kinds.py): its words and real()'s bounds
RANGES = {"unit": ("in [0, 1)", {"lo": 0, "hi": 1, "hi_open": True}),
          "positive": ("> 0", {"lo": 0, "lo_open": True}),
          "nonneg": (">= 0", {"lo": 0})}


def setting(value, name: str, how: str) -> float:
    """A declared setting: a finite real number in the range called ``how`` (RANGES)."""
    return real(value, name, **RANGES[how][1])


def seconds(value, name: str) -> float | None:
    """None, or a positive number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None; got {value!r}")
    return float(value)


# ---------------------------------------------------------------- arrays

def array(value, name: str) -> np.ndarray:
    """``np.asarray(value)``, with a message naming ``name`` for ragged nested sequences."""
    if value is None:
        raise TypeError(f"{name} must be an array of numbers; got None")
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers, but its rows have "
                         f"different lengths or hold sequences ({exc})") from None


def _kind_words(dtype: np.dtype) -> str:
    if dtype.kind in "US":
        return "text (strings or a mix of numbers and strings)"
    if dtype.kind == "O":
        return "Python objects (a mix of types, None, or ragged rows)"
    if dtype.kind == "c":
        return "complex numbers"
    if dtype.kind in "mM":
        return "dates or durations"
    return f"values of dtype {dtype}"


def numeric_dtype(arr: np.ndarray, name: str, what: str = "numbers") -> np.ndarray:
    """``arr`` if it holds booleans, integers or real floats; TypeError naming it otherwise."""
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold {what} (bool, int or float); it holds "
                        f"{_kind_words(arr.dtype)} (dtype {arr.dtype})")
    return arr


def float_dtype(arr: np.ndarray, name: str, dtype=None, like: str | None = None) -> np.ndarray:
    """``arr`` as float32 or float64 for the kernels: booleans and integers converted to
    ``dtype`` (default float64); other float types and mixed dtypes refused."""
    if arr.dtype in FLOAT_DTYPES:
        if dtype is not None and arr.dtype != dtype:
            raise TypeError(
                f"{name} has dtype {arr.dtype} but {like} has dtype {np.dtype(dtype)}; "
                f"pass arrays of one dtype (e.g. {name}.astype(np.{np.dtype(dtype)}))")
        return arr
    if arr.dtype.kind == "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; the kernels take float32 or float64 "
                        f"(booleans and integers are converted): pass "
                        f"{name}.astype(np.float32) or {name}.astype(np.float64)")
    numeric_dtype(arr, name, "real numbers")
    return arr.astype(dtype or np.float64)


def to_float(arr: np.ndarray, name: str, dtype) -> np.ndarray:
    """``arr`` (numeric) as a C-contiguous array of ``dtype``, all finite: NaN, infinities and
    values beyond ``dtype``'s range are refused, each with its own message."""
    try:           # no np.errstate: it would cost more than the cast of a row
        out = np.ascontiguousarray(arr, dtype=dtype)
    except (RuntimeWarning, FloatingPointError):  # overflow, with warnings or errors raised
        out = None
    if out is not None and np.isfinite(out).all():
        return out
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            where = np.argwhere(bad)[0]
            first = where[0] if where.size == 1 else tuple(int(i) for i in where)
            raise ValueError(f"{name} contains NaN or infinite values ({int(bad.sum())} of "
                             f"them, the first at index {first}); pass finite numbers")
    biggest = float(np.max(np.abs(arr)))
    limit = float(np.finfo(dtype).max)
    raise ValueError(f"{name} holds values beyond {np.dtype(dtype).name}'s range (largest "
                     f"magnitude {biggest:.3g} > {limit:.3g}): rescale it, or use "
                     "dtype='float64'")


def same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are the same memory seen the same way (an exact alias)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def disjoint(name: str, arr: np.ndarray, others, allow_exact: tuple = ()) -> None:
    """Refuse ``arr`` (written in place) sharing memory with any of ``others``: pairs
    (name, array or None). Arrays named in ``allow_exact`` may be exact aliases (an op that
    may run in place) but not overlap partially."""
    for other_name, other in others:
        if other is None or other is arr and other_name in allow_exact:
            continue
        if np.may_share_memory(arr, other):
            if other_name in allow_exact and same_buffer(arr, other):
                continue
            also = (f" (it may be {other_name} itself, exactly)" if other_name in allow_exact
                    else "")
            raise ValueError(f"{name} must not overlap {other_name}: it is written in place "
                             f"while {other_name} is read; pass separate arrays{also}")


# ---------------------------------------------------------------- names

def closest(word: str, names, n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` that look most like ``word`` (what a typo likely meant), best
    first: those about as close as the closest (a 0.6 similarity at least); empty when none
    is close."""
    import difflib

    scored = []
    for name in dict.fromkeys(str(name) for name in names):
        matcher = difflib.SequenceMatcher(None, str(word), name)
        scored.append((matcher.ratio(), name))
    scored.sort(key=lambda item: -item[0])
    if not scored or scored[0][0] < 0.6:
        return []
    return [name for ratio, name in scored[:n] if ratio >= max(0.6, scored[0][0] - 0.1)]


def name_list(names, most: int = 8) -> str:
    """``names`` joined by commas, the middle ones left out (``...``) past ``most``."""
    names = [str(name) for name in names]
    shown = names if len(names) <= most else [*names[:most - 2], "...", *names[-2:]]
    return ", ".join(shown)


def unknown_name(word: str, names, what: str) -> str:
    """A message's end for a ``word`` that is not one of ``names``: the closest ones if any
    look alike, and the list (shortened) of ``what`` there are."""
    names = list(names)
    near = closest(word, names)
    guess = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    return f"{guess}its {len(names)} {what} are {name_list(names)}"
