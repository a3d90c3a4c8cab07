"""Plain-text tables for leaderboards and retest reports."""

from __future__ import annotations

import math

__all__ = ["format_table", "format_value"]


def format_value(value, digits: int = 4) -> str:
    """A cell: floats to ``digits`` significant digits, None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """Right-aligned columns under a header line and a rule."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [] if title is None else [title]
    lines.append("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
