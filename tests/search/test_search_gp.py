"""The Gaussian-process sampler's own parts: the kernel's fit, the ranks, the acquisition.

Its contract as a model sampler (start-up draws, batches, any worker count,
0.1 files, pruned trials) is tested with the Parzen sampler's in
test_search_tpe.py."""

import math

import numpy as np
import pytest

from fastnn.search import (Choice, IntLogUniform, IntUniform, LogUniform, Space, Study,
                           TrialState, Uniform, default_mlp_space)
from fastnn.search.gp import GPSampler, _GP, _log_h
from fastnn.search.trial import FrozenTrial


def _lml(gp, theta):
    kmat = gp._kernel(gp.d2, theta)[0]
    kmat = kmat + (math.exp(theta[-1]) + 1e-8) * np.eye(len(gp.y))
    chol = np.linalg.cholesky(kmat)
    return -0.5 * gp.y @ np.linalg.solve(kmat, gp.y) - np.sum(np.log(np.diag(chol)))


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4))
    x[:, 3] = rng.integers(0, 3, n)             # a Choice of 3 options, as its index
    y = np.sin(5 * x[:, 0]) + 0.5 * (x[:, 3] == 1) + 0.05 * rng.standard_normal(n)
    return x, y


def test_the_likelihoods_gradient_is_its_finite_difference():
    x, y = _data()
    gp = _GP([0, 0, 0, 3])
    gp.x, gp.y, gp.d2 = x, y, gp.sq_dists(x, x)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = 0.5 * rng.standard_normal(6)
        numeric = [(_lml(gp, theta + h) - _lml(gp, theta - h)) / 2e-6
                   for h in 1e-6 * np.eye(6)]
        assert np.allclose(gp._grad(theta), numeric, rtol=1e-5, atol=1e-6)


def test_the_fit_finds_which_coordinates_matter():
    x, y = _data(60)
    gp = _GP([0, 0, 0, 3])
    gp.fit(x, y)
    lengths = np.exp(gp.theta[:4])
    # y moves with x0 and the option; x1 and x2 do nothing
    assert lengths[0] < 0.5 * min(lengths[1], lengths[2])
    assert lengths[3] < min(lengths[1], lengths[2])
    mean, sd = gp.predict(x)
    assert np.corrcoef(mean, y)[0, 1] > 0.95 and np.all(sd > 0)
    far_mean, far_sd = gp.predict(np.array([[0.5, 0.5, 0.5, 2.0]]))
    assert far_sd[0] < math.exp(gp.theta[-2]) ** 0.5 + 1e-12


def test_a_believed_point_lowers_the_variance_around_it_not_the_mean():
    x, y = _data()
    gp = _GP([0, 0, 0, 3])
    gp.fit(x, y)
    new = np.array([[0.31, 0.62, 0.2, 1.0]])
    believer = gp.with_points(new)
    m0, s0 = gp.predict(new)
    m1, s1 = believer.predict(new)
    assert abs(m1[0] - m0[0]) < 0.05 * s0[0] and s1[0] < 0.7 * s0[0]
    assert len(believer.y) == len(y) + 1 and len(gp.y) == len(y)    # the model is kept


def test_expected_improvements_log_is_stable_in_the_left_tail():
    z = np.linspace(-8, 5, 200)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in z])
    assert np.allclose(_log_h(z), np.log(z * cdf + phi), rtol=1e-9)
    far = _log_h(np.array([-12.0, -12.0 - 1e-9, -20.0, -40.0, -1e3]))
    assert np.all(np.isfinite(far)) and np.all(np.diff(far) < 0)
    assert abs(far[0] - far[1]) < 1e-6 * abs(far[1])           # the two forms meet at -12


def test_ranks_become_normal_scores_with_ties_shared():
    def t(number, state, value, steps=()):
        return FrozenTrial(number, state, {}, value, tuple((s, value) for s in steps))

    ranked = [t(4, TrialState.COMPLETE, 0.9), t(1, TrialState.COMPLETE, 0.5),
              t(6, TrialState.COMPLETE, 0.5), t(3, TrialState.PRUNED, 0.4, (1, 3)),
              t(2, TrialState.FAILED, None), t(5, TrialState.FAILED, None)]
    scores = GPSampler._scores(ranked, -1.0)
    assert scores[0] > scores[1] == scores[2] > scores[3] > scores[4] == scores[5]
    distinct = GPSampler._scores(ranked[:2] + ranked[3:5], -1.0)
    assert np.allclose(distinct, -distinct[::-1])   # without ties, symmetric around 0


def test_a_batch_spreads_out_and_stays_in_the_cube():
    sp = Space({"x": Uniform(0, 1), "y": Uniform(0, 1), "act": Choice(["a", "b"]),
                "n": IntLogUniform(1, 64)})
    study = Study(None, space=sp, seed=2, sampler="random")
    study.optimize(lambda p, t: -(p["x"] - 0.3) ** 2 - (p["y"] - 0.7) ** 2, n_trials=20)
    trials = study.trials
    sampler = GPSampler(sp, 2, batch_size=8, n_startup=20)
    points = []
    for number in range(20, 28):
        u = sampler.point(number, trials)
        params = sp.from_unit_point(u)
        trials = trials + [FrozenTrial(number, TrialState.RUNNING, params, None)]
        points.append(u)
    points = np.array(points)
    assert np.all((points >= 0) & (points < 1))
    xy = points[:, :2]
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2)[np.triu_indices(8, 1)]
    assert gaps.min() > 1e-3                       # no two proposals of a batch coincide
    assert np.median(np.linalg.norm(xy - [0.3, 0.7], axis=1)) < 0.3


def test_conditions_on_options_are_read_for_all_candidates_at_once():
    # Space.canonical, which scores candidates, agrees with the row-by-row map
    sp = default_mlp_space()
    rng = np.random.default_rng(3)
    units = rng.random((500, len(sp)))
    units[:3], units[3:6] = 0.0, 1.0
    rows = np.array([sp.to_unit_point(sp.from_unit_point(u)) for u in units])
    fast = sp.canonical(units)
    assert np.array_equal(np.isnan(fast), np.isnan(rows))
    assert np.nanmax(np.abs(fast - rows)) < 1e-9
    # a condition given as a callable is read row by row
    sp2 = Space({"n": IntUniform(1, 3), "w": LogUniform(1e-3, 1, when=lambda p: p["n"] > 1)})
    got = sp2.canonical(units[:, :2])
    assert np.array_equal(np.isnan(got[:, 1]), [sp2.from_unit_point(u)["n"] == 1
                                               for u in units[:, :2]])
    with pytest.raises(ValueError, match=r"units must have shape \(m, 2\)"):
        sp2.canonical(units)


def test_bad_settings_name_the_argument():
    sp = default_mlp_space()
    for kw, word in [({"n_candidates": 0}, "n_candidates"), ({"batch_size": 0}, "batch_size"),
                     ({"n_startup": -1}, "n_startup"), ({"direction": "up"}, "direction"),
                     ({"local_scale": 0.0}, "local_scale"), ({"local_scale": 2}, "local_scale"),
                     ({"length_prior": "huge"}, "length_prior"),
                     ({"noise_prior": 0.0}, "noise_prior"), ({"noise_prior": 1e9}, "noise_prior"),
                     ({"noise_prior": float("nan")}, "noise_prior")]:
        with pytest.raises(ValueError, match=word):
            GPSampler(sp, 0, **kw)


def test_a_prior_that_grows_with_the_dimension_keeps_the_model_smoother():
    # on pure noise the likelihood says little: the length scales stay near the prior's
    # median, far longer with length_prior="dim" (median exp(sqrt 2) sqrt(d)) than "fixed"
    rng = np.random.default_rng(4)
    x, y = rng.random((25, 6)), rng.standard_normal(25)
    lengths = {}
    for prior in ((0.5, 1.0), (math.exp(math.sqrt(2)) * math.sqrt(6), math.sqrt(3))):
        gp = _GP([0] * 6)
        gp.fit(x, y, length_prior=prior)
        lengths[prior[0]] = np.exp(gp.theta[:6])
    short, long = lengths.values()
    assert np.median(long) > 3 * np.median(short)
    sp = default_mlp_space()
    study = Study(None, space=sp, seed=5, sampler="random")
    study.optimize(lambda p, t: -abs(math.log10(p["lr"]) + 2), n_trials=16)
    u = GPSampler(sp, 5, n_startup=16, length_prior="dim").point(16, study.trials)
    assert np.all((u >= 0) & (u < 1))
    assert not np.array_equal(u, GPSampler(sp, 5, n_startup=16).point(16, study.trials))


def test_a_proposal_holds_numpys_blas_at_one_thread(monkeypatch):
    # the model's matrices are small; a threaded BLAS beside busy workers ran a fit of 100
    # trials many times slower than one thread
    import threadpoolctl             # a runtime dependency of fastnn

    sp = Space({"x": Uniform(0, 1), "y": Uniform(0, 1)})
    study = Study(None, space=sp, seed=0, sampler="random")
    study.optimize(lambda p, t: -(p["x"] - 0.3) ** 2, n_trials=12)
    def counts():
        return [(lib["filepath"], lib["num_threads"]) for lib in threadpoolctl.threadpool_info()
                if lib["user_api"] == "blas"]

    seen = []
    fit = _GP.fit

    def recording_fit(self, *args, **kwargs):
        seen.extend(n for _, n in counts())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(_GP, "fit", recording_fit)

    # 2 threads where a BLAS takes them (a sequential one, as MKL's layer here, stays at 1)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = counts()
        GPSampler(sp, 0, batch_size=4, n_startup=12).point(12, study.trials)
        after = counts()
    assert any(n == 2 for _, n in before)
    assert seen and set(seen) == {1}
    assert after == before              # given back when the proposal is made
