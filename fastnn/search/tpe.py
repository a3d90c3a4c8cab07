"""The model-guided sampler: a multivariate Parzen estimator of good vs bad trials (TPE).

How a trial's unit point is made (``sampler="tpe"``):

- Start-up: trials numbered below ``n_startup`` take the random sampler's
  point for their number, so a study's first trials are the same draws
  ``sampler="random"`` would make, on every parameter's own scale.
- Batches: after start-up, trials come in batches of ``batch_size``
  numbers. Batch k's model sees only the trials numbered before the batch
  (their parameters and results); each trial of the batch draws with a
  generator seeded by (study seed, its number). A batch's proposals
  therefore depend on the study seed, their numbers and the results of the
  earlier batches alone: 1, 2 or 50 workers, threads, processes or a Dask
  cluster try the same configurations. The study waits at each batch
  boundary for the batch's trials to end.
- The model (Bergstra et al. 2011; the multivariate form of Falkner et al.
  2018, as Optuna's ``multivariate=True``): the observed trials are ranked
  (COMPLETE by value; then PRUNED, those that reached a later step first,
  each step's by value; FAILED last) and split into the best
  ``ceil(gamma * n)`` (at least one) and the rest. Each side becomes a
  mixture in the unit cube: one component per trial (a product over
  parameters of a normal truncated to [0, 1] with bandwidth ``0.2 *
  n ** (-1 / (d + 4))``, or, for a Choice, a smoothed one-hot over its
  options) plus a flat prior component. ``n_candidates`` points are drawn
  from the good mixture l(x) and the one with the highest l(x) / g(x) is
  proposed. Trials proposed earlier in the same batch join the bad side
  ("constant liar"), so a batch spreads out instead of repeating itself.
- Conditional parameters: a trial in which a parameter was inactive has
  NaN there; its component is flat in that coordinate (it says nothing
  about it), so ``units_3`` is learned from the three-layer trials only.

What it is good at, and why it is not the default: the spaces mix
log-scaled reals, integers, unordered choices and conditional parameters,
which a Parzen estimator takes as they are; its cost is linear in the
trials and it needs no optimizer of an acquisition function; pruned and
failed trials fit in as ranked evidence. But measured against Optuna's TPE
on the same objective (W8, ``bench/search_quality.py``), it was level, not
ahead, and no setting tried on MNIST-1D did better; the Gaussian-process
sampler (:mod:`fastnn.search.gp`) found better configurations on three of
the six W8 cells and matched it on the others, so it is the default
(figures in ``bench/RESULTS.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from fastnn._validation import boolean, real
from fastnn.search._checks import count
from fastnn.search.sampling import ModelSampler, rank_key, seed_sequence
from fastnn.search.space import Space
from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["TPESampler", "rank_key"]

_BELOW_ONE = np.nextafter(1.0, 0.0)
# the standard normal's CDF and its inverse, elementwise, from the standard library (fastnn
# needs no scipy at run time); the arrays here are small: one value per trial or candidate
_erfc = np.frompyfunc(math.erfc, 1, 1)
_inv_cdf = np.frompyfunc(NormalDist().inv_cdf, 1, 1)


def ndtr(x: np.ndarray) -> np.ndarray:
    """P(Z <= x) for a standard normal Z, elementwise."""
    return 0.5 * _erfc(-np.asarray(x, dtype=float) / math.sqrt(2)).astype(float)


def ndtri(q: np.ndarray) -> np.ndarray:
    """The x with P(Z <= x) = q, elementwise, for q in (0, 1)."""
    return _inv_cdf(np.asarray(q, dtype=float)).astype(float)


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(a))) along ``axis``, without overflow."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))



def _gaps(mu: np.ndarray) -> np.ndarray:
    """Each point's bandwidth in one coordinate: the larger gap to its neighbours among the
    active points, the cube's ends counting only when fewer than two points (Optuna's rule)."""
    out = np.ones(len(mu))
    active = np.flatnonzero(~np.isnan(mu))
    if len(active) == 0:
        return out
    order = active[np.argsort(mu[active])]
    ends = np.concatenate([[0.0], mu[order], [1.0]])
    gap = np.maximum(ends[1:-1] - ends[:-2], ends[2:] - ends[1:-1])
    if len(ends) >= 4:
        gap[0], gap[-1] = ends[2] - ends[1], ends[-2] - ends[-3]
    out[order] = gap
    return out


class _Mixture:
    """Parzen mixture in the unit cube: one component per point plus a flat prior."""

    def __init__(self, points: np.ndarray, choices: list[int], bandwidth: str = "scott",
                 weights: np.ndarray | None = None):
        # points: (n, d), NaN where a parameter was inactive; choices[j]: options of
        # coordinate j if it is a Choice, else 0
        n, d = points.shape
        self.points, self.choices = points, choices
        self.n, self.d = n, d
        floor = 1.0 / min(100, n + 1)
        if bandwidth == "gap":
            self.sigma = np.ones((n, d))
            for j in range(d):
                self.sigma[:, j] = _gaps(points[:, j])
            self.sigma = np.clip(self.sigma, floor, 1.0)
        else:       # one bandwidth for every point and coordinate
            self.sigma = float(np.clip(0.2 * max(n, 1) ** (-1.0 / (d + 4)), floor, 1.0))
        self.log_w = np.full(n + 1, -math.log(n + 1))   # equal weights, the prior last
        self.p = None                                   # (n + 1,) when not equal
        if weights is not None and n:                   # the points share n / (n + 1)
            self.p = np.append(weights / weights.sum() * n / (n + 1), 1 / (n + 1))
            self.log_w = np.log(self.p)
        self.smooth = 1.0 / max(n, 1)

    def _sigma(self, j: int) -> float | np.ndarray:
        """Coordinate j's bandwidths: one per point (n,), or one for all."""
        return self.sigma if isinstance(self.sigma, float) else self.sigma[:, j]

    def _cell(self, u: np.ndarray, k: int) -> np.ndarray:
        return np.minimum((u * k).astype(int), k - 1)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density at x: array of shape (m, d) -> (m,)."""
        m = len(x)
        comp = np.zeros((m, self.n + 1))            # log of each component at each x
        for j in range(self.d):
            mu, xj, k = self.points[:, j], x[:, j], self.choices[j]
            active = ~np.isnan(mu)
            if k:
                c = self._cell(xj, k)[:, None]
                obs = np.where(active, self._cell(np.nan_to_num(mu), k), -1)[None, :]
                p = (np.where(c == obs, 1.0, 0.0) + self.smooth) / (1.0 + k * self.smooth)
                lp = np.where(active[None, :], np.log(p), -math.log(k)) + math.log(k)
            else:
                s = self._sigma(j)
                mu_a = np.nan_to_num(mu, nan=0.5)
                z = (xj[:, None] - mu_a[None, :]) / s
                norm = np.log(ndtr((1 - mu_a) / s) - ndtr(-mu_a / s))
                log_s = math.log(s) if isinstance(s, float) else np.log(s)[None, :]
                lp = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_s - norm[None, :]
                lp = np.where(active[None, :], lp, 0.0)
            comp[:, :self.n] += lp
        return logsumexp(comp + self.log_w[None, :], axis=1)

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """m points drawn from the mixture: array of shape (m, d)."""
        which = (rng.integers(0, self.n + 1, size=m) if self.p is None
                 else rng.choice(self.n + 1, size=m, p=self.p))
        out = rng.random((m, self.d))                        # the prior's draws, and flat cells
        for j in range(self.d):
            k = self.choices[j]
            mu = np.concatenate([self.points[:, j], [np.nan]])[which]
            active = ~np.isnan(mu)
            if not active.any():
                continue
            if k:
                # the observed option with probability 1 / (1 + k smooth), else one of
                # all k uniformly: smooth / (1 + k smooth) each, as log_pdf's kernel
                keep = rng.random(m) < (1.0 / (1.0 + k * self.smooth))
                cell = np.where(keep & active, self._cell(np.nan_to_num(mu), k),
                                self._cell(out[:, j], k))
                out[:, j] = (cell + 0.5) / k
            else:
                s = self._sigma(j)
                s = s if isinstance(s, float) else np.concatenate([s, [1.0]])[which]
                mu_a = np.nan_to_num(mu, nan=0.5)
                lo, hi = ndtr(-mu_a / s), ndtr((1 - mu_a) / s)
                q = np.clip(lo + rng.random(m) * (hi - lo), 1e-300, 1 - 1e-16)
                x = np.clip(mu_a + s * ndtri(q), 0.0, _BELOW_ONE)
                out[:, j] = np.where(active, x, out[:, j])
        return out


class TPESampler(ModelSampler):
    """Unit points of a study's trials from a Parzen estimator of good vs bad trials.

    Parameters
    ----------
    space, seed, batch_size, n_startup, direction
        As :class:`fastnn.search.sampling.ModelSampler`'s (defaults: batches
        of 8, 10 start-up trials, "maximize").
    gamma : float, default 0.15
        Fraction of the ranked trials taken as good.
    n_candidates : int, default 24
        Points drawn from the good mixture for each proposal.
    bandwidth : {"scott", "gap"}, default "scott"
        "scott": one bandwidth per mixture, ``0.2 * n ** (-1 / (d + 4))``.
        "gap": each point's own in each coordinate, the larger gap to its
        neighbours (the rule of Optuna 5's ``TPESampler``); on MNIST-1D at
        40 trials it found worse configurations than "scott" (W8 tuning
        runs, ``bench/RESULTS.md``).
    multivariate : bool, default True
        True: one mixture over all parameters, so the model sees which
        values go together. False: each parameter on its own (a mixture per
        coordinate over the trials in which it was active, its candidates
        drawn and ranked alone), as Optuna's ``TPESampler`` by default.
    rank_weights : bool, default False
        True: the good trials' components weigh by rank (the best
        ``n_good``, the next ``n_good - 1``... the last 1); False: equally.

    See the module docstring for the method.
    """

    def __init__(self, space: Space, seed: int, batch_size: int = 8, n_startup: int = 10,
                 gamma: float = 0.15, n_candidates: int = 24, direction: str = "maximize",
                 bandwidth: str = "scott", multivariate: bool = True,
                 rank_weights: bool = False):
        super().__init__(space, seed, batch_size, n_startup, direction)
        if bandwidth not in ("scott", "gap"):
            raise ValueError(f"bandwidth must be 'scott' or 'gap'; got {bandwidth!r}")
        self.gamma = real(gamma, "gamma", 0.0, 1.0, lo_open=True)
        self.n_candidates = count(n_candidates, "n_candidates")
        self.bandwidth = bandwidth
        self.multivariate = boolean(multivariate, "multivariate")
        self.rank_weights = boolean(rank_weights, "rank_weights")

    def point(self, number: int, trials: Sequence[FrozenTrial]) -> np.ndarray:
        """Trial ``number``'s unit point: array of shape (n_dims,).

        ``trials``: the study's trials; only those numbered before the batch
        (finished) and those of the batch before ``number`` are used.
        """
        if number < self.n_startup:
            return self.random.raw(number)
        seen, pending = self.evidence(number, trials)
        usable = [t for t, _ in seen if t.state != TrialState.FAILED]
        if not usable:
            return self.random.raw(number)
        n_good = max(1, min(len(usable), math.ceil(self.gamma * len(seen))))
        points = np.array([u for _, u in seen])
        good, bad = points[:n_good], points[n_good:]
        if pending:
            bad = np.vstack([bad.reshape(-1, len(self.space)), np.array(pending)])
        rng = np.random.default_rng(seed_sequence(self.seed, number, 2))
        weights = np.arange(n_good, 0, -1.0) if self.rank_weights else None
        if self.multivariate:
            return self._propose(rng, good, bad, self.choices, weights)
        # each parameter on its own, from the trials in which it was active (a trial that
        # left it inactive says nothing of it)
        out = np.empty(len(self.space))
        for j, k in enumerate(self.choices):
            g, b = good[:, j], bad[:, j]
            keep = ~np.isnan(g)
            out[j] = self._propose(rng, g[keep, None], b[~np.isnan(b), None], [k],
                                   None if weights is None else weights[keep])[0]
        return out

    def _propose(self, rng: np.random.Generator, good: np.ndarray, bad: np.ndarray,
                 choices: list[int], weights: np.ndarray | None = None) -> np.ndarray:
        """Of ``n_candidates`` points drawn from the good trials' mixture (its components
        weighted by ``weights``, or equally), the one with the highest l(x) / g(x)."""
        below = _Mixture(good, choices, self.bandwidth, weights)
        above = _Mixture(bad, choices, self.bandwidth)
        cand = below.sample(rng, self.n_candidates)
        score = below.log_pdf(cand) - above.log_pdf(cand)
        return cand[int(np.argmax(score))]
