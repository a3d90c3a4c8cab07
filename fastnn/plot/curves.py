"""Learning curves: of a fit, of a babysitting run (nudges and rollbacks marked), of a study."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from fastnn.plot._mpl import COLORS, figure, integer_ticks

__all__ = ["learning_curves"]


def learning_curves(source):
    """Learning curves from a fit, a babysitting run or a study.

    Parameters
    ----------
    source : History, model, Babysitter, str or path-like, Study or list of FrozenTrial
        - a :class:`fastnn.History` or a fitted model (its ``history_``):
          loss and validation loss by epoch, and accuracy (or validation
          R^2) when recorded;
        - a :class:`~fastnn.search.Babysitter` or its checkpoint directory:
          every epoch it trained, rolled-back ones included, by epochs run;
          the learning rate below; a dashed line (gid "rollback-i") at each
          rollback and a dotted one (gid "nudge-i") at each change of the
          learning rate;
        - a :class:`~fastnn.search.Study` or a list of its trials: each
          trial's reported values by step (epoch, when the objective
          recorded its epochs), on whole-number ticks: COMPLETE trials
          coloured by rank (a colour bar reads it), PRUNED ones grey and
          dashed, FAILED ones red (gids "COMPLETE", "PRUNED", "FAILED":
          LineCollections, one line per trial), the best trial a thick
          black line ending in a star (gid "best"), the legend below the
          axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from fastnn.search import Babysitter, FrozenTrial, Study
    from fastnn.train import History

    if isinstance(source, History):
        return _fit_curves(source.to_dict())
    if isinstance(getattr(source, "history_", None), History):
        if not len(source.history_):
            raise ValueError("the model has no learning curve yet: fit it first")
        return _fit_curves(source.history_.to_dict())
    if isinstance(getattr(source, "loss_curve_", None), list):   # a fitted MLPClassifier...
        return _fit_curves(_estimator_history(source))
    if (hasattr(source, "get_params") and hasattr(source, "partial_fit")) or \
            getattr(source, "solver", None) == "lbfgs":                # ... without a curve
        why = ("solver='lbfgs' keeps none (loss_curve_ is kept by 'adam' and 'sgd')"
               if getattr(source, "solver", None) == "lbfgs" else "fit it first")
        raise ValueError(f"the {type(source).__name__} has no learning curve: {why}")
    if isinstance(source, Babysitter):
        return _babysit_curves(source.dir)
    if isinstance(source, (str, os.PathLike)):
        return _babysit_curves(source)
    if isinstance(source, Study):
        return _study_curves(source.trials, f"study {source.name!r}", source.direction)
    if (isinstance(source, Sequence) and source
            and all(isinstance(t, FrozenTrial) for t in source)):
        return _study_curves(list(source), "trials", None)
    raise TypeError("source must be a History, a fitted model, a Babysitter or its directory, "
                    f"a Study or a list of FrozenTrial; got {type(source).__name__}")


def _estimator_history(est) -> dict:
    """A fitted scikit-learn-style estimator's ``loss_curve_`` (and, with early stopping,
    ``validation_scores_``: accuracy or R^2) in History's form."""
    loss = list(est.loss_curve_)
    n = len(loss)
    if not n:
        raise ValueError(f"the {type(est).__name__} has no learning curve yet: fit it first")
    scores = list(getattr(est, "validation_scores_", None) or [None] * n)
    classifier = hasattr(est, "classes_")
    none = [None] * n
    return {"epoch": list(range(1, n + 1)), "loss": loss, "val_loss": none, "accuracy": none,
            "val_accuracy": scores if classifier else none,
            "val_r2": none if classifier else scores}


def _fit_curves(h: dict):
    metric = next((k for k in ("accuracy", "val_accuracy", "val_r2")
                   if any(v is not None for v in h[k])), None)
    fig, axes = figure(1, 2 if metric else 1, width=4.2, height=3.2)
    epochs = h["epoch"]
    ax = axes[0, 0]
    for key, color in (("loss", COLORS["train"]), ("val_loss", COLORS["val"])):
        _plot_known(ax, epochs, h[key], key, color)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.legend(fontsize=8)
    integer_ticks(ax.xaxis)
    if metric:
        ax = axes[0, 1]
        keys = ("val_r2",) if metric == "val_r2" else ("accuracy", "val_accuracy")
        for key in keys:
            _plot_known(ax, epochs, h[key], key,
                        COLORS["val"] if key.startswith("val") else COLORS["train"])
        ax.set_xlabel("epoch")
        ax.set_title("R^2" if metric == "val_r2" else "accuracy")
        ax.legend(fontsize=8)
        integer_ticks(ax.xaxis)
    return fig


def _plot_known(ax, x, y, label, color) -> None:
    """A line through the known points; a NaN in ``y`` breaks it (a rollback)."""
    pts = [(a, b) for a, b in zip(x, y) if b is not None]
    if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", ms=3, color=color, label=label, gid=label)


def _babysit_curves(checkpoint_dir):
    from fastnn.search.babysitter import read_run

    if not os.path.isdir(checkpoint_dir):
        raise FileNotFoundError(f"{checkpoint_dir} is not a directory (a babysitting run's "
                                "checkpoint directory was expected)")
    _, events = read_run(checkpoint_dir)
    runs, marks = [], []             # epoch records by epochs run; (x, kind, event)
    for event in events:
        if event["event"] == "epoch":
            runs.append(event)
        elif event["event"] in ("rollback", "nudge", "diverged"):
            marks.append((len(runs) + 0.5, event["event"], event))
    metric = "val_accuracy" if any(r.get("val_accuracy") is not None for r in runs) else None
    fig, axes = figure(2 + bool(metric), 1, width=7.0, height=2.3, sharex=True)
    axes = axes[:, 0]
    x, cut = [], {pos for pos, kind, _ in marks if kind == "rollback"}
    for i in range(1, len(runs) + 1):
        x += [i - 0.5, i] if i - 0.5 in cut else [i]    # no line across a rollback

    def series(key):
        values = iter([r.get(key) for r in runs])
        return [math.nan if v != int(v) else next(values) for v in x]

    _plot_known(axes[0], x, series("loss"), "loss", COLORS["train"])
    _plot_known(axes[0], x, series("val_loss"), "val_loss", COLORS["val"])
    axes[0].set_ylabel("loss")
    if metric:
        _plot_known(axes[1], x, series(metric), metric, COLORS["val"])
        axes[1].set_ylabel("val accuracy")
    lr_ax = axes[-1]
    if runs:
        lr_ax.step(range(1, len(runs) + 1), [r["lr"] for r in runs], where="mid",
                   color=COLORS["lr"], gid="lr")
        lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_xlabel("epochs run (rolled-back ones included)")
    integer_ticks(lr_ax.xaxis)
    counts = {"rollback": 0, "nudge": 0, "diverged": 0}
    for pos, kind, event in marks:
        counts[kind] += 1
        style = {"rollback": ("--", "#d62728"), "nudge": (":", COLORS["lr"]),
                 "diverged": ("-", "#d62728")}[kind]
        for ax in axes:
            ax.axvline(pos, ls=style[0], color=style[1], lw=1.0,
                       gid=f"{kind}-{counts[kind]}" if ax is axes[0] else None)
        text = {"rollback": lambda e: f"back to {e['to_epoch']}",
                "nudge": lambda e: f"lr {e['lr']:.2g}",
                "diverged": lambda e: "diverged"}[kind](event)
        target = axes[0] if kind != "nudge" else lr_ax
        target.annotate(text, (pos, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -2),
                        textcoords="offset points", va="top", fontsize=7, color=style[1],
                        rotation=90)
    axes[0].set_title(f"babysitting run {os.fspath(checkpoint_dir)}: {len(runs)} epochs run, "
                      f"{counts['rollback']} rollbacks, {counts['nudge']} lr changes")
    axes[0].legend(fontsize=8, loc="upper right")
    return fig


def _study_curves(trials, title: str, direction: str | None):
    from matplotlib.collections import LineCollection

    from fastnn.plot._mpl import RANK_CMAP, hover
    from fastnn.plot.search import describe, ranks, robust_range, value_name

    fig, axes = figure(width=7.5, height=3.8)
    ax = axes[0, 0]
    metric = value_name(trials)
    curves = [t for t in trials if t.intermediate]
    rank = ranks([t for t in curves if str(t.state) == "COMPLETE"], direction or "maximize")
    drawn = 0
    for state in ("FAILED", "PRUNED", "COMPLETE"):
        ts = [t for t in curves if str(t.state) == state]
        if state == "COMPLETE":               # the worst first: the best on top
            ts.sort(key=lambda t: -rank.get(t.number, 0))
        if not ts:
            continue
        drawn += len(ts)
        style = {"COMPLETE": {"linewidths": 1.1, "alpha": 0.9},
                 "PRUNED": {"colors": "#9a9a9a", "linewidths": 0.8, "linestyles": "dashed"},
                 "FAILED": {"colors": COLORS["FAILED"], "linewidths": 0.8}}[state]
        lines = LineCollection([np.array(t.intermediate, dtype=float) for t in ts], gid=state,
                               label=f"{state.lower()} ({len(ts)})", zorder=2, **style)
        if state == "COMPLETE" and direction is not None:
            lines.set_array(np.array([rank[t.number] for t in ts], dtype=float))
            lines.set_cmap(RANK_CMAP)
            lines.set_clim(1, max(len(rank), 2))
            bar = fig.colorbar(lines, ax=ax, pad=0.01, label=f"rank by {metric} (1: best)")
            bar.ax.invert_yaxis()
        elif state == "COMPLETE":
            lines.set_color(COLORS["COMPLETE"])
        hover(lines, [describe(t, metric) for t in ts])
        ax.add_collection(lines)
    best = min(rank, key=rank.get) if rank else None
    if best is not None:
        t = next(t for t in curves if t.number == best)
        steps, values = np.array(t.intermediate, dtype=float).T
        ax.plot(steps, values, color="black", lw=2.2, gid="best", zorder=4,
                label=f"best: trial {best}")
        ax.scatter(steps[-1:], values[-1:], s=120, marker="*", color="gold",
                   edgecolors="black", linewidths=0.6, zorder=5)
    ax.autoscale()
    values = [v for t in curves for _, v in t.intermediate]
    if values:
        lo, hi = robust_range(values)
        pad = 0.06 * (hi - lo) or 0.05 * max(abs(hi), 1e-12)
        ax.set_ylim(lo - pad, hi + pad)
    integer_ticks(ax.xaxis)
    epochs = any("epochs" in t.user_attrs for t in curves)
    ax.set_xlabel("epoch" if epochs else "step")
    ax.set_ylabel(f"reported {metric}")
    ax.set_title(f"{title}: {metric} reported by {drawn} trials", fontsize=10)
    if drawn:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4,
                   fontsize=8, frameon=False)
    return fig
