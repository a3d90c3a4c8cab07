"""Where the model sampler sent each batch: every parameter's values by trial number."""

from __future__ import annotations

from fastnn.plot._mpl import blank
from fastnn.plot.scales import position, scale_name, set_scale
from fastnn.plot.search import check_names, check_study

__all__ = ["batches"]


def batches(study, params=None):
    """Each parameter's value (on its own scale) against the trial number, coloured by the
    trial's value, with the batch boundaries of the model sampler.

    Parameters
    ----------
    study : fastnn.search.Study
        A study of a model sampler, "tpe" or "gp" (others have no batches).
    params : list of str, optional
        Parameter names to draw; default every parameter of the space.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per parameter, one above the other, sharing the trial
        axis: COMPLETE trials coloured by value (viridis, brighter is better
        in the study's direction), PRUNED and FAILED ones grey; a dashed
        line (gid "batch-k") where batch k began (gid "start-up" at the end
        of the random start-up).
    """
    study = check_study(study)
    if study.batching is None:
        raise ValueError(f"study {study.name!r} uses sampler={study.sampler!r}, which has no "
                         "batches; this figure is for the model samplers 'tpe' and 'gp'")
    names = check_names(study, params)
    trials = study.trials
    last = max((t.number for t in trials), default=0)
    fig = blank(7.0, 1.5 * len(names) + 0.8)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    done = [t.value for t in trials if str(t.state) == "COMPLETE"]
    lo, hi = (min(done), max(done)) if done else (0.0, 1.0)
    cmap = "viridis" if study.direction == "maximize" else "viridis_r"
    n_startup, batch_size = study.batching
    starts = list(range(n_startup, last + 1, batch_size))
    for ax, name in zip(axes, names):
        dist = study.space[name]
        active = [t for t in trials if name in t.params]
        good = [t for t in active if str(t.state) == "COMPLETE"]
        rest = [t for t in active if str(t.state) != "COMPLETE"]
        if rest:
            ax.scatter([t.number for t in rest], [position(dist, t.params[name]) for t in rest],
                       s=12, color="#bbbbbb", gid="not complete", zorder=2)
        if good:
            ax.scatter([t.number for t in good], [position(dist, t.params[name]) for t in good],
                       s=16, c=[t.value for t in good], cmap=cmap, vmin=lo, vmax=hi,
                       gid="COMPLETE", zorder=3)
        for k, s in enumerate(starts):
            ax.axvline(s - 0.5, color="grey", ls="--", lw=0.7, zorder=1,
                       gid="start-up" if k == 0 else f"batch-{k}")
        set_scale(ax, dist, "y")
        ax.set_ylabel(f"{name}\n({scale_name(dist)})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("trial (dashed: where the start-up ended and each batch began)")
    axes[-1].set_xlim(-0.5, max(last, 1) + 0.5)
    axes[0].set_title(f"study {study.name!r}: where the model sent each batch "
                      f"(batches of {batch_size} after {n_startup} at random)",
                      fontsize=9)
    return fig
