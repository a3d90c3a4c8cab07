"""The study's parameter importances (PED-ANOVA) beside the course's order."""

from __future__ import annotations

import re

from fastnn.plot._mpl import COLORS, figure
from fastnn.plot.search import check_study

__all__ = ["importances"]


def course_tier(name: str) -> int | None:
    """The course's tier of a default-space parameter: 1 the learning rate; 2 beta1, hidden
    units, mini-batch size; 3 layers and decay; None for other names."""
    from fastnn.search.importance import COURSE_ORDER

    if re.fullmatch(r"units_\d+", name):
        return 2
    return COURSE_ORDER.get(name)


def importances(study, quantile: float = 0.1):
    """Bars of ``study.importances(quantile)``, each labelled with the course's tier.

    Parameters
    ----------
    study : Study
        At least 3 COMPLETE trials.
    quantile : float, default 0.1

    Returns
    -------
    matplotlib.figure.Figure
    """
    study = check_study(study)
    measured = study.importances(quantile)
    names = list(measured)[::-1]             # most important on top
    fig, axes = figure(width=6.0, height=0.35 * len(names) + 1.4)
    ax = axes[0, 0]
    bars = ax.barh(range(len(names)), [measured[n] for n in names], color=COLORS["COMPLETE"],
                   gid="measured")
    labels = []
    for n in names:
        tier = course_tier(n)
        labels.append(f"{n}  (course: {tier})" if tier is not None else n)
    ax.set_yticks(range(len(names)), labels)
    ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.set_xlim(0, max(max(measured.values()), 1e-9) * 1.25)
    ax.set_xlabel(f"PED-ANOVA importance (top {quantile:.0%} vs all complete trials)")
    ax.set_title("Measured importance; the course's tier in brackets\n"
                 "(1: learning rate; 2: beta1, units, batch size; 3: layers, decay)",
                 fontsize=9)
    return fig
