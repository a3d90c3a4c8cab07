"""Which parameters mattered: PED-ANOVA importances from a study's own trials.

PED-ANOVA (Watanabe, Bansal and Hutter, IJCAI 2023) asks, for each
parameter, how differently it is spread among the best trials than among
all of them: the importance of parameter d is the Pearson divergence

    I_d = integral of p_all(x) * (p_top(x) / p_all(x) - 1) ** 2 dx

between the density ``p_top`` of its unit coordinate over the top
``quantile`` of COMPLETE trials and ``p_all`` over all COMPLETE trials (a
Gaussian kernel density on a grid of [0, 1] for ordered parameters, smoothed
frequencies for a Choice). A parameter whose best values sit anywhere has
I_d near 0; one whose best values crowd into one part of its range has a
large I_d. A few trials picked at random also differ from all of them, the
more so the fewer they are; so the mean divergence of random picks of the
same size is subtracted (clipped at 0), which keeps a conditional parameter
seen in a few top trials from looking important by chance. The importances
are divided by their sum. Working in the unit
coordinates puts each parameter on its own scale (a learning rate on a log
scale, ``1 - beta1`` on a log scale). A conditional parameter is judged on
the trials in which it was active (those of the top set against all). Unlike fANOVA, it needs no surrogate
model, so it is cheap and deterministic, and it reads the region that
matters (the top trials) rather than the whole space.
"""

from __future__ import annotations

import math

import numpy as np

from fastnn.search.distributions import Choice
from fastnn.search.trial import TrialState

__all__ = ["ped_anova", "COURSE_ORDER"]

#: The course's order of importance for the default MLP space: 1 most important.
COURSE_ORDER = {"lr": 1, "beta1": 2, "units_1": 2, "batch_size": 2, "n_layers": 3,
                "lr_decay": 3}

_GRID = np.linspace(0.0, 1.0, 201)
_NULL_DRAWS = 32


def _integral(y: np.ndarray) -> float:
    """Trapezoid rule over _GRID (numpy 1.x has no np.trapezoid)."""
    return float((y.sum() - 0.5 * (y[0] + y[-1])) * (_GRID[1] - _GRID[0]))


def _divergence(top: np.ndarray, p_all: np.ndarray, n_cells: int) -> float:
    """Pearson divergence of the density of ``top`` from ``p_all``."""
    ratio = (_density(top, n_cells) / p_all - 1.0) ** 2 * p_all
    return float(ratio.sum()) if n_cells else _integral(ratio)


def _density(u: np.ndarray, n_cells: int) -> np.ndarray:
    """Density of unit coordinates ``u`` on _GRID (continuous: Silverman's bandwidth,
    floored) or over the cells (Choice)."""
    if n_cells:
        counts = np.bincount(np.minimum((u * n_cells).astype(int), n_cells - 1),
                             minlength=n_cells)
        return (counts + 1.0 / n_cells) / (len(u) + 1.0)
    bw = max(1.06 * float(np.std(u)) * len(u) ** -0.2, 0.02)
    z = (_GRID[:, None] - u[None, :]) / bw
    dens = np.exp(-0.5 * z * z).sum(axis=1)
    return dens / _integral(dens)


def ped_anova(study, quantile: float = 0.1, min_top: int = 2) -> dict[str, float]:
    """PED-ANOVA importance of each parameter of ``study``'s space, from its COMPLETE trials.

    Parameters
    ----------
    study : Study
    quantile : float, default 0.1
        The top fraction of trials compared with all of them.
    min_top : int, default 2
        At least this many trials in the top set.

    Returns
    -------
    dict name -> float
        Importances summing to 1, most important first. A conditional
        parameter is compared on the trials where it was active: among the
        top trials, against all; active in fewer than ``min_top`` of the top
        trials, it gets 0.
    """
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) \
            or not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be a number in (0, 1]; got {quantile!r}")
    ranked = [t for t in study.ranked() if t.state == TrialState.COMPLETE]
    if len(ranked) < min_top + 1:
        raise ValueError(f"study {study.name!r} has {len(ranked)} complete trial(s); "
                         f"importances need at least {min_top + 1}")
    space = study.space
    points = []
    for t in ranked:                    # best first
        try:
            points.append(space.to_unit_point(t.params))
        except ValueError:              # a trial of an earlier space
            continue
    points = np.array(points).reshape(-1, len(space))
    n_top = max(min_top, math.ceil(quantile * len(points)))
    raw = {}
    for j, (name, dist) in enumerate(space.items()):
        active = ~np.isnan(points[:, j])
        u, top = points[active, j], points[:n_top, j][active[:n_top]]   # best first
        if len(top) < min_top or len(u) <= len(top):
            raw[name] = 0.0
            continue
        cells = dist.n if isinstance(dist, Choice) else 0
        p_all = _density(u, cells)
        # a few trials picked at random also differ from all: subtract what random picks of
        # the same size give on average, so that a conditional parameter seen in few trials
        # does not look important by chance
        rng = np.random.default_rng(0)
        null = np.mean([_divergence(rng.choice(u, len(top), replace=False), p_all, cells)
                        for _ in range(_NULL_DRAWS)])
        raw[name] = max(0.0, _divergence(top, p_all, cells) - float(null))
    total = sum(raw.values())
    scaled = {k: (float(v) / total if total > 0 else 0.0) for k, v in raw.items()}
    return dict(sorted(scaled.items(), key=lambda kv: -kv[1]))
