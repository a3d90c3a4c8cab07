"""matplotlib, imported on first use, and the look shared by fastnn's figures."""

from __future__ import annotations

__all__ = ["figure", "blank", "COLORS", "STATE_MARKERS"]

#: Colours of the trial states (and of training and validation curves).
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAILED": "#d62728",
          "train": "#1f77b4", "val": "#2ca02c", "lr": "#9467bd", "best": "#111111"}
STATE_MARKERS = {"COMPLETE": "o", "PRUNED": "s", "FAILED": "x"}


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("fastnn.plot needs matplotlib: pip install matplotlib "
                          "(or pip install 'fastnn[plot]')") from None
    return matplotlib


def blank(width: float, height: float):
    """A standalone Figure of ``width`` by ``height`` inches, no axes yet (no pyplot, works
    headless)."""
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.0,
           **subplots):
    """A standalone Figure (no pyplot, works headless) and its axes, an array (nrows, ncols)."""
    fig = blank(width * ncols, height * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes
