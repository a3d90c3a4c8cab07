"""matplotlib, imported on first use, and the look shared by fastnn's figures."""

from __future__ import annotations

__all__ = ["figure", "blank", "hover", "integer_ticks", "COLORS", "STATE_MARKERS", "RANK_CMAP",
           "HOVER"]

#: Colours of the trial states (and of training and validation curves).
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAILED": "#d62728",
          "train": "#1f77b4", "val": "#2ca02c", "lr": "#9467bd", "best": "#111111"}
STATE_MARKERS = {"COMPLETE": "o", "PRUNED": "s", "FAILED": "x"}
#: Trials coloured by rank: the best bright, the worst dark (every rank its own shade).
RANK_CMAP = "viridis_r"
#: How a hover text travels from a figure to its SVG: as the link of each element
#: (matplotlib writes it around the element), which the report turns into a <title>.
HOVER = "#fastnn-hover:"


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("fastnn.plot needs matplotlib: pip install matplotlib") from None
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


def hover(artist, texts) -> None:
    """Give each element of a collection (a point, a line) the text a reader sees when the
    pointer rests on it; in an HTML report it is the element's SVG ``<title>``."""
    artist.set_urls([HOVER + " ".join(str(t).split()) for t in texts])


def integer_ticks(axis) -> None:
    """Ticks at whole numbers only (epochs, trial numbers)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
