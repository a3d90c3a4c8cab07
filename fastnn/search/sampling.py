"""Where trials land in the unit cube: random or quasi-random points, in a box.

(And what the model samplers of ``tpe.py`` and ``gp.py`` share:
:class:`ModelSampler`, their random start-up, batches and evidence.)

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

from fastnn.search._checks import count
from fastnn.search.distributions import Choice
from fastnn.search.space import Space
from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["MODEL_SAMPLER_NAMES", "SAMPLERS", "SAMPLER_NAMES", "ModelSampler", "Sampler",
           "rank_key", "trial_seed", "zoom"]

SAMPLERS = ("random", "sobol", "halton")
# the model samplers' names (their classes: fastnn.search.study.MODEL_SAMPLERS)
MODEL_SAMPLER_NAMES = ("tpe", "gp")
SAMPLER_NAMES = MODEL_SAMPLER_NAMES + SAMPLERS       # every name Study(sampler=) takes
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


_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


def rank_key(trial: FrozenTrial, sign: float) -> tuple:
    """Sort key, best first: COMPLETE by value, then PRUNED by last step reached and value,
    then FAILED. ``sign`` is -1 to maximize, +1 to minimize."""
    if trial.state == TrialState.COMPLETE:
        return (0, 0, sign * trial.value, trial.number)
    if trial.state == TrialState.PRUNED and trial.value is not None:
        last = trial.intermediate[-1][0] if trial.intermediate else 0
        return (1, -last, sign * trial.value, trial.number)
    return (2, 0, 0.0, trial.number)


class ModelSampler:
    """What a model sampler ("tpe", "gp") shares: random start-up, then batches.

    Trials numbered below ``n_startup`` take the random sampler's point for
    their number. After start-up, trials come in batches of ``batch_size``
    numbers; batch k's model sees only the trials numbered before the batch
    (:meth:`evidence`). Subclasses define :meth:`point`.

    Parameters
    ----------
    space : Space
    seed : int
        The study seed.
    batch_size : int
        Trials proposed from one model; does not depend on the workers.
    n_startup : int
        Trials drawn at random before the model starts.
    direction : {"maximize", "minimize"}
    """

    def __init__(self, space: Space, seed: int, batch_size: int, n_startup: int,
                 direction: str):
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize'; got {direction!r}")
        self.space, self.seed = space, seed
        self.batch_size = count(batch_size, "batch_size")
        self.n_startup = count(n_startup, "n_startup", minimum=0)
        self.sign = -1.0 if direction == "maximize" else 1.0
        # options of each coordinate that is a Choice, else 0
        self.choices = [d.n if isinstance(d, Choice) else 0 for _, d in space.items()]
        self.random = Sampler("random", seed, len(space))
        self._units: dict[int, np.ndarray | None] = {}    # trial number: its unit point

    def batch_start(self, number: int) -> int:
        """The first number of ``number``'s batch (0 for start-up trials)."""
        if number < self.n_startup:
            return 0
        return self.n_startup + (number - self.n_startup) // self.batch_size * self.batch_size

    def batch_end(self, number: int) -> int:
        """One past the last number of ``number``'s batch."""
        if number < self.n_startup:
            return self.n_startup
        return self.batch_start(number) + self.batch_size

    def unit_point(self, params: dict) -> np.ndarray | None:
        """A trial's unit point (NaN where inactive), None for a trial of an earlier space."""
        try:
            return self.space.to_unit_point(params)
        except ValueError:
            return None

    def evidence(self, number: int, trials) -> tuple[list, list]:
        """What trial ``number``'s proposal may use: ``(seen, pending)``. ``seen``: the
        finished trials numbered before its batch, best first (:func:`rank_key`), as
        (trial, unit point) pairs; ``pending``: the unit points of its batch's trials
        numbered before it."""
        start = self.batch_start(number)
        seen = sorted((t for t in trials if t.number < start and t.state in _DONE),
                      key=lambda t: rank_key(t, self.sign))
        seen = [(t, u) for t in seen if (u := self._unit_point_of(t)) is not None]
        pending = [u for t in trials if start <= t.number < number
                   if (u := self._unit_point_of(t)) is not None]
        return seen, pending

    def _unit_point_of(self, trial) -> np.ndarray | None:
        """:meth:`unit_point` of a trial's params, kept by its number (a trial's params
        never change)."""
        if trial.number not in self._units:
            self._units[trial.number] = self.unit_point(trial.params)
        return self._units[trial.number]
