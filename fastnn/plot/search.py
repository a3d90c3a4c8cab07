"""Figures of a study: its history, slices, zoom rounds and parallel coordinates.

Each parameter is drawn on the scale it was sampled on (see
:mod:`fastnn.plot.scales`). Trials that were pruned are drawn as hollow
squares, failed ones as red crosses along the bottom edge (they have no
value); each artist carries a ``gid`` ("COMPLETE", "PRUNED", "FAILED",
"best", "round-2", ...) that also names it in SVG output.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.plot._mpl import COLORS, STATE_MARKERS, blank, figure
from fastnn.plot.scales import position, scale_name, set_scale, ticks

__all__ = ["history", "slices", "zoom", "parallel_coordinates", "check_study"]


def check_study(study):
    """``study`` if it is a :class:`fastnn.search.Study`, else a TypeError."""
    from fastnn.search import Study

    if not isinstance(study, Study):
        raise TypeError("study must be a fastnn.search.Study (e.g. Study('study.db', "
                        f"name='default')); got {type(study).__name__}")
    return study


def _by_state(trials) -> dict:
    out = {"COMPLETE": [], "PRUNED": [], "FAILED": []}
    for t in trials:
        if str(t.state) in out:
            out[str(t.state)].append(t)
    return out


def _value_label(study) -> str:
    return f"value ({study.direction})"


def _scatter_states(ax, groups: dict, x_of, with_value=True) -> None:
    """COMPLETE and PRUNED trials at (x, value); FAILED ones as crosses on the bottom edge."""
    for state in ("COMPLETE", "PRUNED"):
        pts = [(x_of(t), t.value) for t in groups[state] if x_of(t) is not None]
        if not pts:
            continue
        x, y = np.array(pts, dtype=float).T
        hollow = state == "PRUNED"
        ax.scatter(x, y, s=22, marker=STATE_MARKERS[state], gid=state, zorder=3,
                   facecolors="none" if hollow else COLORS[state], edgecolors=COLORS[state],
                   label=f"{state.lower()} ({len(pts)})")
    xs = [x_of(t) for t in groups["FAILED"] if x_of(t) is not None]
    if xs:
        ax.scatter(xs, np.full(len(xs), 0.02), s=30, marker="x", color=COLORS["FAILED"],
                   gid="FAILED", zorder=3, transform=ax.get_xaxis_transform(),
                   label=f"failed ({len(xs)})", clip_on=False)


def _best_point(ax, study, x_of) -> None:
    try:
        best = study.best
    except ValueError:
        return
    x = x_of(best)
    if x is not None:
        ax.scatter([x], [best.value], s=140, marker="*", color="gold", edgecolors="black",
                   linewidths=0.6, gid="best", zorder=4, label=f"best (trial {best.number})")


def history(study):
    """Each trial's value by trial number, the best so far, and where rounds began.

    Parameters
    ----------
    study : fastnn.search.Study

    Returns
    -------
    matplotlib.figure.Figure
        One axes: COMPLETE and PRUNED values, FAILED trials on the bottom
        edge, the best value so far as a step line (gid "best so far"), a
        dashed line (gid "round-k") where each coarse-to-fine round k > 1
        began and a solid one (gid "call-c") where optimize call c > 1 began.
    """
    study = check_study(study)
    trials = study.trials
    fig, axes = figure(width=7.0, height=3.6)
    ax = axes[0, 0]
    groups = _by_state(trials)
    _scatter_states(ax, groups, lambda t: t.number)
    sign = 1.0 if study.direction == "maximize" else -1.0
    best, xs, ys = None, [], []
    for t in groups["COMPLETE"]:
        if best is None or sign * t.value > sign * best:
            best = t.value
        xs.append(t.number)
        ys.append(best)
    if xs:
        last = max(t.number for t in trials)
        ax.step(xs + [last], ys + [ys[-1]], where="post", color=COLORS["best"], lw=1.2,
                gid="best so far", label="best so far")
    for rec in study.rounds():
        if (rec["round"] > 1 or rec["call"] > 0) and rec["trials"]:
            start = min(rec["trials"]) - 0.5
            text, gid = ((f"round {rec['round']}", f"round-{rec['round']}") if rec["round"] > 1
                         else (f"optimize call {rec['call'] + 1}", f"call-{rec['call'] + 1}"))
            ax.axvline(start, color="grey", ls="--" if rec["round"] > 1 else "-", lw=0.9, gid=gid)
            ax.annotate(text, (start, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", va="top", fontsize=8, color="grey")
    ax.set_xlabel("trial")
    ax.set_ylabel(_value_label(study))
    ax.set_title(f"study {study.name!r}: {len(trials)} trials")
    if trials:
        ax.legend(fontsize=8, loc="best")
    return fig


def _grid(n: int, ncols: int = 3, width: float = 3.6, height: float = 3.0):
    """``n`` axes in rows of ``ncols`` sharing one y axis, labelled on the first column only.

    Every axes shows the same quantity up the side, so one scale reads across the row,
    and the figure has fewer tick labels to lay out and draw.
    """
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = blank(width * ncols, height * nrows)
    grid = fig.add_gridspec(nrows, ncols)
    axes = []
    for i in range(n):                 # no axes in the empty cells of the last row
        ax = fig.add_subplot(grid[divmod(i, ncols)], sharey=axes[0] if axes else None)
        if not ax.get_subplotspec().is_first_col():
            ax.yaxis.set_tick_params(which="both", labelleft=False)
        axes.append(ax)
    return fig, axes


def _check_names(study, params) -> list[str]:
    names = study.space.names
    if params is None:
        return names
    if isinstance(params, str) or not all(isinstance(p, str) for p in params):
        raise TypeError(f"params must be a list of parameter names; got {params!r}")
    unknown = [p for p in params if p not in names]
    if unknown or not params:
        raise ValueError(f"params must name parameters of the study's space {names}; "
                         f"got {list(params)}")
    return list(params)


def _jitter(number: int) -> float:
    return ((number * 0.6180339887) % 1.0 - 0.5) * 0.3


def _x_of(dist, name):
    """The x position of a trial on the axis of ``dist``: None when the parameter was inactive."""
    def x_of(t):
        if name not in t.params or not dist.contains(t.params[name]):
            return None
        x = position(dist, t.params[name])
        spread = scale_name(dist) == "options" or (hasattr(dist, "n") and scale_name(dist) ==
                                                   "linear")     # a few slots: spread them
        return x + _jitter(t.number) if spread else x
    return x_of


def slices(study, params=None):
    """The value against each parameter, each on its own scale.

    Parameters
    ----------
    study : fastnn.search.Study
    params : list of str, optional
        Parameter names to draw; default every parameter of the space.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per parameter (titled with its name), all on one value
        axis (labelled on the first column): a log axis for
        LogUniform and IntLogUniform, a 1 - beta axis labelled in beta for
        OneMinusLogUniform, one slot per option for Choice. Trials in
        which a parameter was inactive are left out of its axes.
    """
    study = check_study(study)
    names = _check_names(study, params)
    groups = _by_state(study.trials)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        dist = study.space[name]
        x_of = _x_of(dist, name)
        _scatter_states(ax, groups, x_of)
        _best_point(ax, study, x_of)
        set_scale(ax, dist, "x", label=f"{name} ({scale_name(dist)})")
        ax.set_title(name)
        if ax.get_subplotspec().is_first_col():         # the y axis is shared
            ax.set_ylabel(_value_label(study))
    if axes and study.trials:
        axes[0].legend(fontsize=7, loc="best")
    return fig


def _box_edges(dist, low_high) -> tuple[float, float]:
    """A round's range of ``dist`` as axis positions (cell edges for integers and options)."""
    if scale_name(dist) == "options":
        return -0.5, len(dist.options) - 0.5
    lo, hi = float(low_high[0]), float(low_high[1])
    if hasattr(dist, "n"):             # integers own [k - 1/2, k + 1/2]
        return lo - 0.5, hi + 0.5
    return lo, hi


def zoom(study, params=None):
    """The coarse-to-fine box of each round over the trials, one axes per parameter.

    Parameters
    ----------
    study : fastnn.search.Study
    params : list of str, optional
        Parameter names to draw; default every parameter of the space.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per parameter: the parameter on its own scale across,
        trial numbers down (round 1 on top; one axis, labelled on the first
        column), each stored round's range as a
        shaded box (gid "round-k", for every optimize call's rounds) and
        the trials as points coloured by value (brighter is better).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

    study = check_study(study)
    names = _check_names(study, params)
    trials, rounds = study.trials, study.rounds()
    groups = _by_state(trials)
    fig, axes = _grid(len(names), height=3.4)
    values = [t.value for t in groups["COMPLETE"]]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    cmap = "viridis" if study.direction == "maximize" else "viridis_r"
    for ax, name in zip(axes, names):
        dist = study.space[name]
        for rec in rounds:
            if not rec["trials"] or name not in rec["ranges"]:
                continue
            x0, x1 = _box_edges(dist, rec["ranges"][name])
            y0, y1 = min(rec["trials"]) - 0.5, max(rec["trials"]) + 0.5
            color = f"C{(rec['round'] - 1) % 10}"
            # one artist, shade and edge: a fraction of what fill_between and plot cost
            ax.add_collection(PolyCollection(
                [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]], facecolors=to_rgba(color, 0.18),
                edgecolors=color, linewidths=0.8, gid=f"round-{rec['round']}"))
        x_of = _x_of(dist, name)
        done = [(x_of(t), t.number, t.value) for t in groups["COMPLETE"] if x_of(t) is not None]
        if done:
            x, y, v = np.array(done, dtype=float).T
            ax.scatter(x, y, c=v, cmap=cmap, vmin=vmin, vmax=vmax, s=18, edgecolors="black",
                       linewidths=0.3, gid="COMPLETE", zorder=3)
        for state in ("PRUNED", "FAILED"):
            pts = [(x_of(t), t.number) for t in groups[state] if x_of(t) is not None]
            if pts:
                x, y = np.array(pts, dtype=float).T
                style = ({"facecolors": "none", "edgecolors": COLORS[state]}
                         if state == "PRUNED" else {"color": COLORS[state]})
                ax.scatter(x, y, s=20, marker=STATE_MARKERS[state], gid=state, zorder=3, **style)
        set_scale(ax, dist, "x", label=f"{name} ({scale_name(dist)})")
        ax.set_title(name)
        if ax.get_subplotspec().is_first_col():         # the y axis is shared
            ax.set_ylabel("trial")
    if trials:
        axes[0].set_ylim(max(t.number for t in trials) + 1, -1)
    return fig


def _unit(dist, value) -> float:
    """``value``'s place on [0, 1] along ``dist``'s scale (NaN when it is not in range)."""
    if not dist.contains(value):
        return math.nan
    return float(dist.to_unit(value))


def _tick_units(dist) -> list[tuple[float, str]]:
    if scale_name(dist) == "options":
        return [(dist.to_unit(o), str(o)) for o in dist.options]
    out = []
    for value, label in ticks(dist):
        if hasattr(dist, "n"):         # integers: the tick's cell
            value = int(round(value))
        if dist.contains(value):
            out.append((float(dist.to_unit(value)), label))
    return out


def parallel_coordinates(study, params=None):
    """One vertical axis per parameter (on its own scale) and one for the value; a line per trial.

    Parameters
    ----------
    study : fastnn.search.Study
    params : list of str, optional
        Parameter names to draw; default every parameter of the space.

    Returns
    -------
    matplotlib.figure.Figure
        COMPLETE trials as lines coloured by value (gid "COMPLETE", a
        LineCollection with one line each), PRUNED ones grey and dashed
        (gid "PRUNED"). A parameter a trial did not use sits on the
        "n/a" level under its axis. FAILED trials have no value and are
        left out (the title counts them).
    """
    from matplotlib.collections import LineCollection

    study = check_study(study)
    names = _check_names(study, params)
    groups = _by_state(study.trials)
    fig, axes = figure(width=max(6.0, 1.3 * (len(names) + 1)), height=3.8)
    ax = axes[0, 0]
    values = [t.value for t in groups["COMPLETE"] + groups["PRUNED"]]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    span = (vmax - vmin) or 1.0

    def line(t):
        ys = [_unit(study.space[n], t.params[n]) if n in t.params else -0.08 for n in names]
        ys = [-0.08 if math.isnan(y) else y for y in ys]
        return list(zip(range(len(names) + 1), ys + [(t.value - vmin) / span]))

    cmap = "viridis" if study.direction == "maximize" else "viridis_r"
    for state in ("PRUNED", "COMPLETE"):
        ts = groups[state]
        if not ts:
            continue
        lc = LineCollection([line(t) for t in ts], gid=state, zorder=2 + (state == "COMPLETE"),
                            linewidths=1.0 if state == "COMPLETE" else 0.8,
                            linestyles="solid" if state == "COMPLETE" else "dashed")
        if state == "COMPLETE":
            lc.set_array(np.array([t.value for t in ts]))
            lc.set_cmap(cmap)
            lc.set_clim(vmin, vmax)
            fig.colorbar(lc, ax=ax, label=_value_label(study), pad=0.01)
        else:
            lc.set_color("#999999")
        ax.add_collection(lc)
    for i, name in enumerate(names):
        ax.axvline(i, color="black", lw=0.8)
        for y, label in _tick_units(study.space[name]):
            ax.annotate(label, (i, y), xytext=(-3, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=7)
    ax.axvline(len(names), color="black", lw=0.8)
    for y, value in ((0.0, vmin), (1.0, vmax)):
        ax.annotate(f"{value:.4g}", (len(names), y), xytext=(-3, 0),
                    textcoords="offset points", ha="right", va="center", fontsize=7)
    ax.axhline(-0.08, color="#cccccc", lw=0.6, ls=":")
    ax.set_xticks(range(len(names) + 1), names + ["value"], rotation=30, ha="right")
    ax.set_yticks([-0.08], ["n/a"])
    ax.set_xlim(-0.4, len(names) + 0.1)
    ax.set_ylim(-0.14, 1.05)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    n_failed = len(groups["FAILED"])
    ax.set_title(f"{len(groups['COMPLETE'])} complete, {len(groups['PRUNED'])} pruned "
                 f"(dashed), {n_failed} failed (not drawn)", fontsize=10)
    return fig
