"""Learning curves: of a fit, of a babysitting run (nudges and rollbacks marked), of a study."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from fastnn.plot._mpl import COLORS, figure

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
          trial's reported values by step, coloured by state (gids
          "COMPLETE", "PRUNED", "FAILED": LineCollections, one line per
          trial).

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
    if metric:
        ax = axes[0, 1]
        keys = ("val_r2",) if metric == "val_r2" else ("accuracy", "val_accuracy")
        for key in keys:
            _plot_known(ax, epochs, h[key], key,
                        COLORS["val"] if key.startswith("val") else COLORS["train"])
        ax.set_xlabel("epoch")
        ax.set_title("R^2" if metric == "val_r2" else "accuracy")
        ax.legend(fontsize=8)
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

    fig, axes = figure(width=6.0, height=3.4)
    ax = axes[0, 0]
    drawn = 0
    for state in ("COMPLETE", "PRUNED", "FAILED"):
        lines = [np.array(t.intermediate, dtype=float) for t in trials
                 if str(t.state) == state and t.intermediate]
        if not lines:
            continue
        drawn += len(lines)
        ax.add_collection(LineCollection(lines, colors=COLORS[state], linewidths=1.0,
                                         alpha=0.8, gid=state,
                                         label=f"{state.lower()} ({len(lines)})"))
    ax.autoscale()
    ax.set_xlabel("step")
    ax.set_ylabel("reported value" + (f" ({direction})" if direction else ""))
    ax.set_title(f"{title}: reported values of {drawn} trials")
    if drawn:
        ax.legend(fontsize=8)
    return fig
