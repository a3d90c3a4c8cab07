"""Samplers (random, Sobol, Halton), trial seeds, and coarse-to-fine zooming."""

import math

import numpy as np
import pytest

from fastnn.search import Choice, IntUniform, LogUniform, Space, Study, Uniform
from fastnn.search.sampling import Sampler, trial_seed, zoom

OPTIMUM = {"x": 1.3, "lr": 1e-3}


def space():
    return Space({"x": Uniform(-5, 5), "lr": LogUniform(1e-6, 1), "k": IntUniform(1, 8),
                  "act": Choice(["relu", "tanh", "elu"])})


def bowl(params, trial):
    """Maximum 0 at x = 1.3, lr = 1e-3, whatever k and act."""
    return -(params["x"] - OPTIMUM["x"]) ** 2 - (math.log10(params["lr"]) + 3) ** 2


@pytest.mark.parametrize("kind", ["random", "sobol", "halton"])
def test_point_i_depends_on_seed_and_i_only(kind):
    a, b = Sampler(kind, 7, 4), Sampler(kind, 7, 4)
    forward = np.array([a.raw(i) for i in range(40)])
    backward = np.array([b.raw(i) for i in reversed(range(40))])[::-1]
    assert np.array_equal(forward, backward)
    assert forward.min() >= 0 and forward.max() < 1
    assert not np.array_equal(forward, np.array([Sampler(kind, 8, 4).raw(i) for i in range(40)]))


def test_sobol_points_cover_the_cube_evenly():
    pts = np.array([Sampler("sobol", 1, 2).raw(i) for i in range(64)])
    # each of the 8 x 8 cells of a scrambled Sobol' (0, m, 2)-net holds one of 64 points
    cells = set(map(tuple, np.floor(pts * 8).astype(int)))
    assert len(cells) == 64


def test_trial_seeds_are_distinct_and_stable():
    seeds = [trial_seed(3, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2 ** 32 for s in seeds)
    assert seeds == [trial_seed(3, i) for i in range(100)]


def test_point_in_box_stays_in_box():
    s = Sampler("random", 0, 3)
    lo, hi = np.array([0.2, 0.0, 0.5]), np.array([0.3, 1.0, 0.5])
    for i in range(50):
        p = s.point(i, lo, hi)
        assert np.all(p >= lo) and np.all(p <= hi) and np.all(p < 1)


def test_zoom_bounds_the_best_points_plus_margin():
    sp = space()
    lo, hi = np.zeros(4), np.ones(4)
    best = np.array([[0.40, 0.50, 0.31, 0.1],
                     [0.45, 0.60, 0.44, 0.9]])
    new_lo, new_hi = zoom(sp, lo, hi, best, margin=0.1)
    np.testing.assert_allclose(new_lo[:2], [0.30, 0.40])
    np.testing.assert_allclose(new_hi[:2], [0.55, 0.70])
    # k (8 cells of width 1/8): 0.21..0.54 widened to whole cells 1/8..5/8
    np.testing.assert_allclose([new_lo[2], new_hi[2]], [1 / 8, 5 / 8])
    # act (a Choice) keeps all its options
    assert (new_lo[3], new_hi[3]) == (0.0, 1.0)
    # clipped to the cube; a parameter no best trial used keeps its range
    best = np.array([[0.02, np.nan, 0.5, 0.5], [0.99, np.nan, 0.5, 0.5]])
    new_lo, new_hi = zoom(sp, np.array([0, 0.2, 0, 0]), np.array([1, 0.4, 1, 1.0]), best, 0.1)
    assert (new_lo[0], new_hi[0]) == (0.0, 1.0) and (new_lo[1], new_hi[1]) == (0.2, 0.4)


def test_coarse_to_fine_closes_in_on_the_optimum():
    fine = Study(None, space=space(), seed=11, sampler="random")
    fine.optimize(bowl, n_trials=60, rounds=3, top_k=5)
    flat = Study(None, space=space(), seed=11, sampler="random")
    flat.optimize(bowl, n_trials=60)
    boxes = fine.zoom_history
    assert len(boxes) == 3 and len(flat.zoom_history) == 1
    assert boxes[0]["x"] == (-5.0, 5.0) and boxes[0]["lr"] == (1e-6, 1.0)
    assert boxes[0]["act"] == boxes[2]["act"] == ("relu", "tanh", "elu")
    x_lo, x_hi = boxes[2]["x"]
    lr_lo, lr_hi = boxes[2]["lr"]
    assert x_lo < OPTIMUM["x"] < x_hi and lr_lo < OPTIMUM["lr"] < lr_hi
    assert x_hi - x_lo < 0.4 * 10 and math.log10(lr_hi / lr_lo) < 0.4 * 6
    # the box shrinks round after round
    widths = [b["x"][1] - b["x"][0] for b in boxes]
    assert widths[0] > widths[1] > widths[2]
    # rounds are barriers: round r's trials lie in round r's box
    for t in fine.trials[40:]:
        assert x_lo <= t.params["x"] <= x_hi and lr_lo <= t.params["lr"] <= lr_hi
    assert fine.best.value > flat.best.value


def test_coarse_to_fine_is_deterministic_with_two_workers():
    a = Study(None, space=space(), seed=4, sampler="random")
    a.optimize(bowl, n_trials=30, rounds=3, top_k=4)
    b = Study(None, space=space(), seed=4, sampler="random")
    b.optimize(bowl, n_trials=30, rounds=3, top_k=4, n_jobs=2)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.zoom_history == b.zoom_history


@pytest.mark.parametrize("kind", ["sobol", "halton"])
def test_qmc_samplers_in_a_study(kind):
    a = Study(None, space=space(), seed=2, sampler=kind)
    a.optimize(bowl, n_trials=20, rounds=2, top_k=3)
    b = Study(None, space=space(), seed=2, sampler=kind)
    b.optimize(bowl, n_trials=20, rounds=2, top_k=3, n_jobs=2)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    r = Study(None, space=space(), seed=2, sampler="random")
    r.optimize(bowl, n_trials=20, rounds=2, top_k=3)
    assert [t.params for t in a.trials] != [t.params for t in r.trials]
