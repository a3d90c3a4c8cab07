"""Markdown tables: each workload's detail table and the headline table of targets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """One markdown table with a title and notes underneath."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(" --- " for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


@dataclass
class Target:
    """A goal from the issue: what was measured against what, and whether it was met.

    ``measured`` and ``goal`` are numbers compared as ``measured >= goal``
    (or ``<=`` when ``lower_is_better``); None means "could not measure".
    """

    what: str
    fastnn: str
    baseline: str
    measured: float | None
    goal: float
    shown: str
    target: str
    lower_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.lower_is_better:
            return self.measured <= self.goal
        return self.measured >= self.goal


def targets_table(targets: list[Target]) -> Table:
    table = Table("Headline: targets", ["what", "fastnn", "baseline", "measured", "target", "met?"])
    for t in targets:
        met = {True: "yes", False: "**no**", None: "n/a"}[t.met]
        table.add(t.what, t.fastnn, t.baseline, t.shown, t.target, met)
    return table


def torch_baseline(text: str, value) -> str:
    """``text`` when PyTorch gave a ``value``, else a note that it did not run."""
    return "no PyTorch" if value is None else text


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing."""
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def fmt_rate(x: float | None) -> str:
    """A rate (samples/s, trials/min) with thousands separators."""
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def fmt_us(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e6:,.1f}"


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
