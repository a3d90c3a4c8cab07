"""Argument checks shared by the search API (messages say what was expected): fastnn's
own (``fastnn._validation``), and ``count``, the search API's form of an integer."""

from __future__ import annotations

import numbers

from fastnn._validation import seconds

__all__ = ["count", "seconds"]


def count(value, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)
