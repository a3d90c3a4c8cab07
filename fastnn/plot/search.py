"""Figures of a study: its history, slices, zoom rounds, parallel coordinates, the two most
important parameters against each other, and the values' empirical distribution.

Each parameter is drawn on the scale it was sampled on (see
:mod:`fastnn.plot.scales`). Trials that were pruned are drawn as hollow
squares, failed ones as red crosses along the bottom edge (they have no
value); each artist carries a ``gid`` ("COMPLETE", "PRUNED", "FAILED",
"best", "round-2", ...) that also names it in SVG output. The value axis
is named after the objective's metric (``trial.user_attrs["metric"]``,
e.g. "validation accuracy") and spans the bulk of the values: a few far
worse trials are drawn as triangles on its edge (gid "outliers") rather
than squashing the band where the trials differ. Each point and line
carries its trial's number, value and parameters as hover text.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from fastnn.plot._mpl import COLORS, RANK_CMAP, STATE_MARKERS, blank, figure, hover
from fastnn.plot.scales import position, scale_name, set_scale, ticks

__all__ = ["history", "slices", "zoom", "parallel_coordinates", "contour", "edf", "check_study",
           "value_name", "robust_range"]


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


def value_name(trials) -> str:
    """What the trials' values are: the metric their objective named in
    ``trial.user_attrs["metric"]`` (``MLPObjective``: "validation accuracy"), else "value"."""
    named = Counter(t.user_attrs.get("metric") for t in trials
                    if isinstance(t.user_attrs.get("metric"), str))
    return named.most_common(1)[0][0] if named else "value"


def _value_label(study) -> str:
    better = "higher" if study.direction == "maximize" else "lower"
    return f"{value_name(study.trials)} ({better} is better)"


def robust_range(values) -> tuple[float, float]:
    """The lowest and highest of the bulk of ``values``: those within 3 interquartile ranges
    of the middle half (of 5 values or more), else all of them. Values outside are outliers."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    if v.size >= 5:
        q1, q3 = np.percentile(v, [25, 75])
        v = v[(v >= q1 - 3 * (q3 - q1)) & (v <= q3 + 3 * (q3 - q1))]
    if v.size == 0:
        return 0.0, 1.0
    return float(v.min()), float(v.max())


def _set_value_range(ax, values, axis: str = "y") -> tuple[float, float]:
    """Set the value axis to the robust range (padded); return the range."""
    lo, hi = robust_range(values)
    pad = 0.06 * (hi - lo) or 0.05 * max(abs(hi), 1e-12)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(lo - pad, hi + pad)
    return lo, hi


def ranks(trials, direction: str) -> dict:
    """trial number -> rank among ``trials`` by value (1: the best)."""
    sign = -1.0 if direction == "maximize" else 1.0
    scored = sorted((t for t in trials if t.value is not None and math.isfinite(t.value)),
                    key=lambda t: (sign * t.value, t.number))
    return {t.number: i for i, t in enumerate(scored, 1)}


def describe(t, metric: str = "value") -> str:
    """A trial in one line of hover text: number, state, value, parameters."""
    from fastnn.search.progress import describe_params

    value = "" if t.value is None else f", {metric} {t.value:.4g}"
    return f"trial {t.number} ({str(t.state).lower()}{value}): {describe_params(t.params)}"


def _scatter_states(ax, groups: dict, x_of, with_value=True, metric: str = "value",
                    value_range=None) -> None:
    """COMPLETE and PRUNED trials at (x, value); FAILED ones as crosses on the bottom edge;
    values below (above) ``value_range`` as triangles on the bottom (top) edge."""
    lo, hi = value_range if value_range is not None else (-math.inf, math.inf)
    outliers = []
    for state in ("COMPLETE", "PRUNED"):
        ts = [t for t in groups[state] if x_of(t) is not None]
        outliers += [t for t in ts if not lo <= t.value <= hi]
        ts = [t for t in ts if lo <= t.value <= hi]
        if not ts:
            continue
        x, y = np.array([(x_of(t), t.value) for t in ts], dtype=float).T
        hollow = state == "PRUNED"
        points = ax.scatter(x, y, s=22, marker=STATE_MARKERS[state], gid=state, zorder=3,
                            facecolors="none" if hollow else COLORS[state],
                            edgecolors=COLORS[state], label=f"{state.lower()} ({len(ts)})")
        hover(points, [describe(t, metric) for t in ts])
    for below, (edge, marker) in ((True, (0.0, "v")), (False, (1.0, "^"))):
        ts = [t for t in outliers if (t.value < lo) == below]
        if ts:
            points = ax.scatter([x_of(t) for t in ts], np.full(len(ts), edge), s=34,
                                marker=marker, color="#7f7f7f", gid="outliers", zorder=3,
                                transform=ax.get_xaxis_transform(), clip_on=False,
                                label=f"{'below' if below else 'above'} "
                                      f"{lo if below else hi:.3g} ({len(ts)}), at the edge")
            hover(points, [describe(t, metric) for t in ts])
    failed = [t for t in groups["FAILED"] if x_of(t) is not None]
    if failed:
        points = ax.scatter([x_of(t) for t in failed], np.full(len(failed), 0.02), s=30,
                            marker="x", color=COLORS["FAILED"], gid="FAILED", zorder=3,
                            transform=ax.get_xaxis_transform(), label=f"failed ({len(failed)})",
                            clip_on=False)
        hover(points, [describe(t) + f"; {t.error or 'failed'}" for t in failed])


def _best_point(ax, study, x_of) -> None:
    try:
        best = study.best
    except ValueError:
        return
    x = x_of(best)
    if x is not None:
        star = ax.scatter([x], [best.value], s=140, marker="*", color="gold", edgecolors="black",
                          linewidths=0.6, gid="best", zorder=4, label=f"best (trial {best.number})")
        hover(star, ["best: " + describe(best, value_name(study.trials))])


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
        began and a solid one (gid "call-c") where optimize call c > 1 began,
        named above the axes (so that no line crosses the names). The value
        axis spans the bulk of the values (see :func:`robust_range`).
    """
    from fastnn.plot._mpl import integer_ticks

    study = check_study(study)
    trials = study.trials
    fig, axes = figure(width=7.5, height=3.8)
    ax = axes[0, 0]
    groups = _by_state(trials)
    metric = value_name(trials)
    value_range = _set_value_range(ax, [t.value for t in groups["COMPLETE"] + groups["PRUNED"]])
    _scatter_states(ax, groups, lambda t: t.number, metric=metric, value_range=value_range)
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
                gid="best so far", label="best so far", zorder=4)
    for rec in study.rounds():
        if (rec["round"] > 1 or rec["call"] > 0) and rec["trials"]:
            start = min(rec["trials"]) - 0.5
            text, gid = ((f"round {rec['round']}", f"round-{rec['round']}") if rec["round"] > 1
                         else (f"optimize call {rec['call'] + 1}", f"call-{rec['call'] + 1}"))
            ax.axvline(start, color="grey", ls="--" if rec["round"] > 1 else "-", lw=0.9, gid=gid)
            # above the axes, where neither the points nor the best-so-far line go
            ax.annotate(text, (start, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8,
                        color="grey", gid=f"{gid}-label", annotation_clip=False)
    integer_ticks(ax.xaxis)
    ax.set_xlabel("trial")
    ax.set_ylabel(_value_label(study))
    ax.set_title(f"study {study.name!r}: {len(trials)} trials", pad=14)
    if trials:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
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


def check_names(study, params) -> list[str]:
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
    names = check_names(study, params)
    groups = _by_state(study.trials)
    metric = value_name(study.trials)
    fig, axes = _grid(len(names))
    value_range = _set_value_range(axes[0], [t.value for t in groups["COMPLETE"] +
                                             groups["PRUNED"]])
    for ax, name in zip(axes, names):
        dist = study.space[name]
        x_of = _x_of(dist, name)
        _scatter_states(ax, groups, x_of, metric=metric, value_range=value_range)
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
        the trials as points coloured by rank (brighter is better; a colour
        bar reads the ranks), pruned ones hollow squares, failed ones red
        crosses; a legend below names the rounds and markers.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    study = check_study(study)
    names = check_names(study, params)
    trials, rounds = study.trials, study.rounds()
    groups = _by_state(trials)
    metric = value_name(trials)
    fig, axes = _grid(len(names), height=3.4)
    rank = ranks(groups["COMPLETE"], study.direction)
    shown_rounds, colored = {}, None
    for ax, name in zip(axes, names):
        dist = study.space[name]
        for rec in rounds:
            if not rec["trials"] or name not in rec["ranges"]:
                continue
            x0, x1 = _box_edges(dist, rec["ranges"][name])
            y0, y1 = min(rec["trials"]) - 0.5, max(rec["trials"]) + 0.5
            color = f"C{(rec['round'] - 1) % 10}"
            shown_rounds[rec["round"]] = color
            # one artist, shade and edge: a fraction of what fill_between and plot cost
            ax.add_collection(PolyCollection(
                [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]], facecolors=to_rgba(color, 0.18),
                edgecolors=color, linewidths=0.8, gid=f"round-{rec['round']}"))
        x_of = _x_of(dist, name)
        done = [t for t in groups["COMPLETE"] if x_of(t) is not None]
        if done:
            colored = ax.scatter([x_of(t) for t in done], [t.number for t in done],
                                 c=[rank[t.number] for t in done], cmap=RANK_CMAP, vmin=1,
                                 vmax=max(len(rank), 2), s=18, edgecolors="black",
                                 linewidths=0.3, gid="COMPLETE", zorder=3)
            hover(colored, [describe(t, metric) + f"; rank {rank[t.number]}" for t in done])
        for state in ("PRUNED", "FAILED"):
            ts = [t for t in groups[state] if x_of(t) is not None]
            if ts:
                style = ({"facecolors": "none", "edgecolors": COLORS[state]}
                         if state == "PRUNED" else {"color": COLORS[state]})
                points = ax.scatter([x_of(t) for t in ts], [t.number for t in ts], s=20,
                                    marker=STATE_MARKERS[state], gid=state, zorder=3, **style)
                hover(points, [describe(t, metric) for t in ts])
        set_scale(ax, dist, "x", label=f"{name} ({scale_name(dist)})")
        ax.set_title(name)
        if ax.get_subplotspec().is_first_col():         # the y axis is shared
            ax.set_ylabel("trial")
    if trials:
        axes[0].set_ylim(max(t.number for t in trials) + 1, -1)
    if colored is not None:
        bar = fig.colorbar(colored, ax=axes, shrink=0.8, pad=0.01,
                           label=f"rank by {metric} (1: best)")
        bar.ax.invert_yaxis()                          # the best on top
    handles = [Patch(facecolor=to_rgba(c, 0.18), edgecolor=c, label=f"round {k}: its box")
               for k, c in sorted(shown_rounds.items())]
    handles += [Line2D([], [], ls="", marker=STATE_MARKERS[state], ms=5, label=state.lower(),
                       markerfacecolor="none" if state == "PRUNED" else COLORS[state],
                       markeredgecolor=COLORS[state])
                for state in ("PRUNED", "FAILED") if groups[state]]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
                   fontsize=8, frameon=False)
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
        COMPLETE trials as lines coloured by rank (gid "COMPLETE", a
        LineCollection with one line each; every rank its own shade, the
        best brightest and drawn on top), PRUNED ones grey and dashed (gid
        "PRUNED"). The value axis spans the bulk of the values; worse
        outliers sit at its bottom. A parameter a trial did not use sits on
        the "n/a" level under its axis. Tick labels sit on a white ground
        beside each axis, over the lines. FAILED trials have no value and
        are left out (the title counts them).
    """
    from matplotlib.collections import LineCollection

    study = check_study(study)
    names = check_names(study, params)
    groups = _by_state(study.trials)
    metric = value_name(study.trials)
    # at most about 1,000 px wide for 8 parameters, so that a page shows it unscaled
    fig, axes = figure(width=max(7.0, 1.2 * (len(names) + 1)), height=4.4)
    ax = axes[0, 0]
    vmin, vmax = robust_range([t.value for t in groups["COMPLETE"] + groups["PRUNED"]])
    span = (vmax - vmin) or 1.0

    def line(t):
        ys = [_unit(study.space[n], t.params[n]) if n in t.params else -0.08 for n in names]
        ys = [-0.08 if math.isnan(y) else y for y in ys]
        value = min(max(t.value, vmin), vmax)
        return list(zip(range(len(names) + 1), ys + [(value - vmin) / span]))

    rank = ranks(groups["COMPLETE"], study.direction)
    for state in ("PRUNED", "COMPLETE"):
        ts = groups[state]
        if not ts:
            continue
        if state == "COMPLETE":                      # the worst first: the best on top
            ts = sorted(ts, key=lambda t: -rank[t.number])
        lc = LineCollection([line(t) for t in ts], gid=state, zorder=2 + (state == "COMPLETE"),
                            linewidths=1.2 if state == "COMPLETE" else 0.8,
                            linestyles="solid" if state == "COMPLETE" else "dashed")
        if state == "COMPLETE":
            lc.set_array(np.array([rank[t.number] for t in ts], dtype=float))
            lc.set_cmap(RANK_CMAP)
            lc.set_clim(1, max(len(rank), 2))
            bar = fig.colorbar(lc, ax=ax, label=f"rank by {metric} (1: best)", pad=0.01)
            bar.ax.invert_yaxis()
            hover(lc, [describe(t, metric) + f"; rank {rank[t.number]}" for t in ts])
        else:
            lc.set_color("#999999")
            hover(lc, [describe(t, metric) for t in ts])
        ax.add_collection(lc)
    label_style = {"textcoords": "offset points", "ha": "right", "va": "center", "fontsize": 9.5,
                   "zorder": 6, "bbox": {"boxstyle": "square,pad=0.1", "facecolor": "white",
                                         "edgecolor": "none", "alpha": 0.85}}
    for i, name in enumerate(names):
        ax.axvline(i, color="black", lw=0.8, zorder=5)
        for y, label in _tick_units(study.space[name]):
            ax.annotate(label, (i, y), xytext=(-4, 0), gid="tick-label", **label_style)
    ax.axvline(len(names), color="black", lw=0.8, zorder=5)
    below = vmin > min((t.value for t in groups["COMPLETE"] + groups["PRUNED"]),
                       default=vmin)
    for y, text in ((0.0, f"{'≤ ' if below else ''}{vmin:.4g}"), (1.0, f"{vmax:.4g}")):
        ax.annotate(text, (len(names), y), xytext=(-4, 0), gid="tick-label", **label_style)
    ax.axhline(-0.08, color="#cccccc", lw=0.6, ls=":")
    ax.set_xticks(range(len(names) + 1), names + [metric], rotation=20, ha="right")
    ax.set_yticks([-0.08], ["n/a"])
    ax.set_xlim(-0.6, len(names) + 0.1)
    ax.set_ylim(-0.14, 1.05)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    n_failed = len(groups["FAILED"])
    ax.set_title(f"{len(groups['COMPLETE'])} complete, {len(groups['PRUNED'])} pruned "
                 f"(dashed), {n_failed} failed (not drawn)", fontsize=10)
    return fig


def _unit_axis(ax, dist, name: str, axis: str) -> None:
    """An axis over [0, 1] in ``dist``'s unit coordinates, ticked in its values."""
    pairs = _tick_units(dist)
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    set_ticks([p for p, _ in pairs], [label for _, label in pairs])
    (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.03, 1.03)
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(f"{name} ({scale_name(dist)})")


def contour(study, params=None):
    """The value over two parameters: a filled contour between the trials, and the trials.

    Parameters
    ----------
    study : fastnn.search.Study
    params : pair of str, optional
        The two parameters; default the two most important ones
        (``study.importances()``, PED-ANOVA).

    Returns
    -------
    matplotlib.figure.Figure
        One axes, each parameter on its own scale: the values interpolated
        between the COMPLETE trials (linearly over their triangulation,
        clipped to :func:`robust_range`; gid "contour"), the trials as
        points (gid "COMPLETE"), the best as a star (gid "best"), and a
        colour bar of the values.
    """
    study = check_study(study)
    if params is None:
        complete = sum(str(t.state) == "COMPLETE" for t in study.trials)
        # importances need 3 complete trials; before that, the space's first two (the
        # default MLP space lists them in the course's order)
        params = list(study.importances())[:2] if complete >= 3 else study.space.names[:2]
    names = check_names(study, params)
    if len(names) != 2:
        raise ValueError(f"params must name two parameters; got {list(params)}")
    a, b = (study.space[n] for n in names)
    metric = value_name(study.trials)
    done = [t for t in _by_state(study.trials)["COMPLETE"]
            if all(n in t.params and study.space[n].contains(t.params[n]) for n in names)]
    fig, axes = figure(width=6.2, height=4.6)
    ax = axes[0, 0]
    lo, hi = robust_range([t.value for t in done])
    cmap = "viridis" if study.direction == "maximize" else "viridis_r"
    if done:
        x = np.array([float(a.to_unit(t.params[names[0]])) for t in done])
        y = np.array([float(b.to_unit(t.params[names[1]])) for t in done])
        v = np.clip([t.value for t in done], lo, hi)
        levels = np.linspace(lo, hi if hi > lo else lo + 1e-9, 12)
        shade = None
        if len(done) >= 3:
            try:
                shade = ax.tricontourf(x, y, v, levels=levels, cmap=cmap, alpha=0.85, zorder=1)
                shade.set_gid("contour")
            except (ValueError, RuntimeError):          # fewer than 3 points not in a line
                shade = None
        points = ax.scatter(x, y, c=v, cmap=cmap, vmin=lo, vmax=hi, s=24, edgecolors="black",
                            linewidths=0.5, gid="COMPLETE", zorder=3)
        hover(points, [describe(t, metric) for t in done])
        fig.colorbar(shade if shade is not None else points, ax=ax, pad=0.01, format="%.4g",
                     label=_value_label(study),
                     extend="min" if np.min([t.value for t in done]) < lo else "neither")
        try:
            best = study.best
        except ValueError:
            best = None
        if best is not None and best.number in {t.number for t in done}:
            ax.scatter([float(a.to_unit(best.params[names[0]]))],
                       [float(b.to_unit(best.params[names[1]]))], s=160, marker="*",
                       color="gold", edgecolors="black", linewidths=0.6, gid="best", zorder=4,
                       label=f"best (trial {best.number})")
            fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    _unit_axis(ax, a, names[0], "x")
    _unit_axis(ax, b, names[1], "y")
    ax.set_title(f"{metric} over {names[0]} and {names[1]} ({len(done)} complete trials)",
                 fontsize=10)
    return fig


def edf(study):
    """The empirical distribution of the values: of all COMPLETE trials and of each round.

    Parameters
    ----------
    study : fastnn.search.Study

    Returns
    -------
    matplotlib.figure.Figure
        One axes: for each value, the fraction of trials that reached it or
        better (a step line; gid "all", and "round-k" for each
        coarse-to-fine round when there are several), over the bulk of the
        values (worse outliers counted at the edge).
    """
    study = check_study(study)
    trials = [t for t in _by_state(study.trials)["COMPLETE"] if math.isfinite(t.value)]
    metric = value_name(study.trials)
    fig, axes = figure(width=6.4, height=3.6)
    ax = axes[0, 0]
    lo, hi = _set_value_range(ax, [t.value for t in trials], axis="x")
    maximize = study.direction == "maximize"
    groups = [("all", f"all ({len(trials)})", trials, COLORS["best"], 1.8)]
    by_round = {}
    for rec in study.rounds():
        by_round.setdefault(rec["round"], set()).update(rec["trials"])
    if len(by_round) > 1:
        for k, numbers in sorted(by_round.items()):
            ts = [t for t in trials if t.number in numbers]
            if ts:
                groups.append((f"round-{k}", f"round {k} ({len(ts)})", ts,
                               f"C{(k - 1) % 10}", 1.2))
    for gid, label, ts, color, width in groups:
        if not ts:
            continue
        v = np.clip(np.sort([t.value for t in ts]), lo, hi)
        if maximize:                    # the fraction at least this good: this value or more
            frac = 1.0 - np.arange(len(v)) / len(v)
            ax.step(np.r_[lo, v, hi], np.r_[1.0, frac, 0.0], where="pre", color=color, lw=width,
                    gid=gid, label=label)
        else:                           # this value or less
            frac = np.arange(1, len(v) + 1) / len(v)
            ax.step(np.r_[lo, v, hi], np.r_[0.0, frac, 1.0], where="post", color=color,
                    lw=width, gid=gid, label=label)
    ax.set_ylim(0, 1.04)
    ax.set_xlabel(_value_label(study))
    ax.set_ylabel("fraction of trials at least this good")
    ax.set_title(f"{metric}: empirical distribution", fontsize=10)
    if trials:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig
