"""Where trials land in the unit cube: random or quasi-random points, in a box.

Trial ``i``'s raw point comes from (study seed, ``i``) alone, so 1, 2 or 50
workers draw the same configurations in any order:

- ``"random"``: ``np.random.default_rng(SeedSequence(seed, spawn_key=(i, 0)))``;
- ``"sobol"`` / ``"halton"``: point ``i`` of a scrambled sequence of
  ``scipy.stats.qmc`` seeded by the study seed (more even coverage than
  random points for a few dozen trials; scipy is the ``qmc`` extra).

Coarse-to-fine: the raw point is stretched into the current box,
``lo + raw * (hi - lo)``. After a round, :func:`zoom` shrinks the box to the
bounding box of the best trials plus a margin (see its docstring).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from fastnn.search.space import Space

__all__ = ["SAMPLERS", "Sampler", "trial_seed", "zoom"]

SAMPLERS = ("random", "sobol", "halton")
_BELOW_ONE = np.nextafter(1.0, 0.0)


def seed_sequence(seed: int, number: int, stream: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(number, stream))


def trial_seed(seed: int, number: int) -> int:
    """Trial ``number``'s own seed (an int in [0, 2**32)), for the model's initialization."""
    return int(seed_sequence(seed, number, 1).generate_state(1)[0])


class Sampler:
    """Raw unit points of a study, one per trial number.

    Parameters
    ----------
    kind : {"random", "sobol", "halton"}
    seed : int
        The study seed.
    n_dims : int
        Number of parameters of the space.
    """

    def __init__(self, kind: str, seed: int, n_dims: int):
        if kind not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {kind!r}")
        if kind != "random" and importlib.util.find_spec("scipy") is None:
            raise ImportError(f"sampler {kind!r} needs scipy (scipy.stats.qmc): "
                              "pip install scipy")
        self.kind, self.seed, self.n_dims = kind, seed, n_dims
        self._points = np.empty((0, n_dims))

    def raw(self, number: int) -> np.ndarray:
        """Point ``number`` in [0, 1)^n_dims: array of shape (n_dims,)."""
        if self.kind == "random":
            return np.random.default_rng(seed_sequence(self.seed, number, 0)).random(self.n_dims)
        if number >= len(self._points):
            self._points = self._qmc(number + 1)
        return self._points[number]

    def _qmc(self, n: int) -> np.ndarray:
        """The first n' >= n points of the scrambled sequence (n' a power of 2 for Sobol)."""
        from scipy.stats import qmc

        m = max(int(np.ceil(np.log2(max(n, 2 * len(self._points), 16)))), 0)
        if self.kind == "sobol":
            return qmc.Sobol(self.n_dims, scramble=True, seed=self.seed).random_base2(m)
        return qmc.Halton(self.n_dims, scramble=True, seed=self.seed).random(2 ** m)

    def point(self, number: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Point ``number`` stretched into the box [lo, hi): array of shape (n_dims,)."""
        return np.minimum(lo + self.raw(number) * (hi - lo), _BELOW_ONE)


def zoom(space: Space, lo: np.ndarray, hi: np.ndarray, best_points: np.ndarray,
         margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The next round's box: the best trials' bounding box plus a margin.

    Parameters
    ----------
    space : Space
    lo, hi : arrays of shape (n_dims,)
        The current box in unit coordinates.
    best_points : array of shape (n_best, n_dims)
        Unit points of the best trials so far (NaN where a parameter was
        inactive).
    margin : float
        Each side grows by ``margin`` times the current box's width.

    Returns
    -------
    lo, hi : arrays of shape (n_dims,)
        Clipped to [0, 1]. A parameter no best trial used keeps its range;
        integer parameters widen to whole cells; Choice parameters keep all
        their options (options have no order, so a box over them means
        nothing).
    """
    if len(best_points) == 0:
        return lo, hi
    seen = ~np.all(np.isnan(best_points), axis=0)
    pmin, pmax = lo.copy(), hi.copy()
    pmin[seen] = np.nanmin(best_points[:, seen], axis=0)
    pmax[seen] = np.nanmax(best_points[:, seen], axis=0)
    width = hi - lo
    new_lo = np.clip(pmin - margin * width, 0.0, 1.0)
    new_hi = np.clip(pmax + margin * width, 0.0, 1.0)
    new_lo, new_hi = space.snap_box(new_lo, new_hi)
    return np.where(seen, new_lo, lo), np.where(seen, new_hi, hi)
