"""The model samplers ("tpe", "gp"): start-up draws, the model, batches, bad input, 0.1 files.

The tests of a model sampler's contract run for every sampler of
``MODEL_SAMPLERS``; those of the Parzen estimator's own parts name "tpe"."""

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fastnn.search import (Choice, IntLogUniform, IntUniform, LogUniform, OneMinusLogUniform,
                           Space, Study, TrialState, Uniform, default_mlp_space)
from fastnn.search.gp import GPSampler
from fastnn.search.sampling import Sampler
from fastnn.search.storage import stored_study_names
from fastnn.search.study import MODEL_SAMPLERS
from fastnn.search.tpe import TPESampler, rank_key
from fastnn.search.trial import FrozenTrial
from test_search_executors import dask_client  # noqa: F401  (the module's LocalCluster)

FIXTURE = Path(__file__).parent.parent / "data" / "study-0.1.db"


def space():
    return Space({"x": Uniform(-5, 5), "lr": LogUniform(1e-6, 1), "k": IntUniform(1, 8),
                  "act": Choice(["relu", "tanh", "elu"])})


def bowl(params, trial):
    """Maximum 0 at x = 1.3, lr = 1e-3, act = tanh, whatever k."""
    return (-(params["x"] - 1.3) ** 2 - (math.log10(params["lr"]) + 3) ** 2
            - 2.0 * (params["act"] != "tanh"))


def slow_bowl(params, trial):
    """bowl, taking a time that varies with the trial, so trials end out of order."""
    time.sleep(0.002 * (trial.number * 7 % 5))
    trial.report(bowl(params, trial) - 1.0, 1)
    return bowl(params, trial)


def trials_of(study):
    return [(t.number, t.params, t.value) for t in study.trials]


# ---------------------------------------------------------------- start-up and ranges

KINDS = list(MODEL_SAMPLERS)


def test_the_model_samplers_names_are_one_list():
    from fastnn.search.sampling import MODEL_SAMPLER_NAMES
    assert tuple(MODEL_SAMPLERS) == MODEL_SAMPLER_NAMES


@pytest.mark.parametrize("kind", KINDS)
def test_start_up_trials_are_the_random_samplers_draws(kind):
    sp = default_mlp_space()
    model, rnd = MODEL_SAMPLERS[kind](sp, 5), Sampler("random", 5, len(sp))
    for i in range(model.n_startup):
        assert np.array_equal(model.point(i, []), rnd.raw(i))


@pytest.mark.parametrize("kind", KINDS)
def test_first_batch_passes_the_scale_tests(kind):
    sp = Space({"lr": LogUniform(1e-4, 1e-1), "beta1": OneMinusLogUniform(0.9, 0.999),
                "units": IntLogUniform(16, 512)})
    values = [sp.from_unit_point(MODEL_SAMPLERS[kind](sp, seed).point(i, []))
              for seed in range(300) for i in range(10)]
    lr = np.log10([v["lr"] for v in values])
    assert stats.kstest(lr, stats.uniform(loc=-4, scale=3).cdf).pvalue > 0.01
    r = np.log10(1 - np.array([v["beta1"] for v in values]))
    assert stats.kstest(r, stats.uniform(loc=-3, scale=2).cdf).pvalue > 0.01
    units = np.array([v["units"] for v in values])
    assert 0.45 < np.mean(units < 90.5) < 0.55


@pytest.mark.parametrize("kind", KINDS)
def test_later_batches_stay_in_range_and_concentrate(kind):
    sp = space()
    good, ratios = 0, []
    for seed in range(6):
        study = Study(None, space=space(), seed=seed, sampler=kind)
        assert study.sampler == kind
        study.optimize(bowl, n_trials=50)
        for t in study.trials:
            assert sp.validate(t.params) == t.params
        late = [t.params for t in study.trials[26:]]
        early = [t.params for t in study.trials[:10]]
        good += sum(p["act"] == "tanh" for p in late)
        ratios.append(np.median([abs(p["x"] - 1.3) for p in late])
                      / np.median([abs(p["x"] - 1.3) for p in early]))
    # over 6 studies the model sends more than half the late trials to the good option
    # (random: a third; more than 72 of 144 at random: p < 1e-4) and, in the median study,
    # its late trials lie less than half as far from the optimum as the random start-up's
    assert good / (6 * 24) > 0.5
    assert np.median(ratios) < 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_beats_random_on_average(kind):
    gains = []
    for seed in range(6):
        best = {}
        for sampler in (kind, "random"):
            study = Study(None, space=space(), seed=seed, sampler=sampler)
            study.optimize(bowl, n_trials=40)
            best[sampler] = study.best.value
        gains.append(best[kind] - best["random"])
    assert np.mean(gains) > 0 and sum(g > 0 for g in gains) >= 4


@pytest.mark.parametrize("kind", KINDS)
def test_conditional_parameters_learn_from_the_trials_that_have_them(kind):
    sp = Space({"n_layers": IntUniform(1, 2),
                "units_2": IntLogUniform(8, 512, when={"n_layers": (2,)}),
                "lr": LogUniform(1e-4, 1e-1)})

    def objective(params, trial):
        deep = params["n_layers"] == 2
        units = -abs(math.log2(params["units_2"] / 256)) if deep else -3.0
        return units - abs(math.log10(params["lr"]) + 2)

    study = Study(None, space=sp, seed=1, sampler=kind)
    study.optimize(objective, n_trials=42)
    late = [t.params for t in study.trials[26:]]
    deep = [p for p in late if p["n_layers"] == 2]
    assert len(deep) >= 0.7 * len(late)
    assert np.median([abs(math.log2(p["units_2"] / 256)) for p in deep]) < 1.2
    assert all("units_2" not in p for p in late if p["n_layers"] == 1)


def test_pruned_trials_rank_after_complete_ones_and_by_the_step_they_reached():
    def t(number, state, value, steps=()):
        return FrozenTrial(number, state, {}, value, tuple((s, value) for s in steps))

    trials = [t(0, TrialState.PRUNED, 0.9, (1,)), t(1, TrialState.COMPLETE, 0.5),
              t(2, TrialState.FAILED, None), t(3, TrialState.PRUNED, 0.4, (1, 3)),
              t(4, TrialState.COMPLETE, 0.7), t(5, TrialState.PRUNED, 0.95, (1,))]
    ranked = [x.number for x in sorted(trials, key=lambda x: rank_key(x, -1.0))]
    assert ranked == [4, 1, 3, 5, 0, 2]
    ranked = [x.number for x in sorted(trials, key=lambda x: rank_key(x, 1.0))]
    assert ranked == [1, 4, 3, 0, 5, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_depends_only_on_the_results_before_it(kind):
    sp = space()
    study = Study(None, space=sp, seed=9, sampler=kind)
    study.optimize(bowl, n_trials=26)
    trials = study.trials
    sampler = MODEL_SAMPLERS[kind](sp, 9)
    assert sampler.batch_start(21) == 18 and sampler.batch_end(21) == 26
    point = sampler.point(21, trials)
    # later results and the values of the batch's own trials do not matter
    changed = [FrozenTrial(t.number, t.state, t.params, -99.0 if t.number >= 18 else t.value)
               for t in trials]
    assert np.array_equal(point, sampler.point(21, changed))
    # an earlier batch's results do
    changed = [FrozenTrial(t.number, t.state, t.params, -t.value) for t in trials]
    assert not np.array_equal(point, sampler.point(21, changed))
    assert sp.from_unit_point(point) == trials[21].params


# ---------------------------------------------------------------- any worker count

@pytest.fixture(scope="module", params=KINDS)
def reference(request):
    study = Study(None, space=space(), seed=21, batch_size=4, sampler=request.param)
    study.optimize(slow_bowl, n_trials=22)
    return request.param, trials_of(study), study.best.number


@pytest.mark.parametrize("executor", [None, "process"])
@pytest.mark.parametrize("n_jobs", [2, 4])
def test_same_trials_for_any_number_of_workers(reference, executor, n_jobs):
    kind, *expected = reference
    study = Study(None, space=space(), seed=21, batch_size=4, sampler=kind)
    study.optimize(slow_bowl, n_trials=22, n_jobs=n_jobs, executor=executor)
    assert [trials_of(study), study.best.number] == expected


@pytest.mark.parametrize("n_jobs", [1, 2, 4])
def test_same_trials_on_a_dask_cluster(reference, dask_client, n_jobs):  # noqa: F811
    kind, *expected = reference
    study = Study(None, space=space(), seed=21, batch_size=4, sampler=kind)
    study.optimize(slow_bowl, n_trials=22, n_jobs=n_jobs, executor=dask_client.get_executor())
    assert [trials_of(study), study.best.number] == expected


def test_a_study_split_over_calls_draws_the_same_trials(reference, tmp_path):
    kind, *expected = reference
    path = tmp_path / "study.db"
    for n in (3, 9, 10):            # calls that end inside the start-up and inside batches
        with Study(path, space=space(), seed=21, batch_size=4, sampler=kind) as study:
            study.optimize(slow_bowl, n_trials=n, n_jobs=2)
    with Study(path) as study:
        assert study.sampler == kind
        assert [trials_of(study), study.best.number] == expected


# ---------------------------------------------------------------- bad input

def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="sampler must be one of.*'tpe'.*got 'bayes'"):
        Study(None, space=space(), sampler="bayes")
    with pytest.raises(ValueError, match="batch_size"):
        Study(None, space=space(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size applies to the model samplers"):
        Study(None, space=space(), sampler="random", batch_size=4)
    with pytest.raises(ValueError, match="space has a single point"):
        Study(None, space=Space({"act": Choice(["relu"]), "bn": Choice([True])}))
    Study(None, space=Space({"act": Choice(["relu"])}), sampler="random")   # nothing to learn
    with pytest.raises(ValueError, match="rounds=3 zooms a box.*sampler='random'"):
        Study(None, space=space()).optimize(bowl, n_trials=9, rounds=3)


def test_continuing_with_another_sampler_or_batch_size_raises(tmp_path):
    path = tmp_path / "study.db"
    Study(path, space=space(), seed=0, batch_size=4, sampler="tpe").close()
    with pytest.raises(ValueError, match="has sampler='tpe'; got sampler='random'"):
        Study(path, sampler="random")
    with pytest.raises(ValueError, match="has batch_size=4; got batch_size=8"):
        Study(path, batch_size=8)
    with pytest.raises(ValueError, match="has sampler='tpe'; got sampler='gp'"):
        Study(path, sampler="gp")
    with Study(path, batch_size=4) as study:
        assert study.batching == (10, 4)
    Study(path, space=space(), seed=0, name="qmc", sampler="sobol").close()
    with pytest.raises(ValueError, match="has sampler='sobol'; got sampler='tpe'"):
        Study(path, name="qmc", sampler="tpe")


@pytest.mark.parametrize("kind, options", [("gp", {"noise_prior": 0.2, "n_candidates": 256}),
                                           ("tpe", {"gamma": 0.3, "multivariate": False})])
def test_sampler_options_are_stored_and_a_resumed_study_keeps_them(tmp_path, kind, options):
    path = tmp_path / "study.db"
    with Study(path, space=space(), seed=3, sampler=kind, sampler_options=options) as study:
        study.optimize(bowl, n_trials=18)
    assert all(getattr(study._sampler, k) == v for k, v in options.items())
    with Study(path) as resumed:        # no options given: the stored ones, not the defaults
        assert all(getattr(resumed._sampler, k) == v for k, v in options.items())
        resumed.optimize(bowl, n_trials=8)
        split = trials_of(resumed)
    with Study(None, space=space(), seed=3, sampler=kind, sampler_options=options) as whole:
        whole.optimize(bowl, n_trials=26)
        assert trials_of(whole) == split
    with Study(None, space=space(), seed=3, sampler=kind) as default:
        default.optimize(bowl, n_trials=26)
        assert trials_of(default)[18:] != split[18:]        # the options matter
    with Study(path, sampler_options=dict(options)):        # the stored values: accepted
        pass
    key = next(iter(options))
    other = {key: not options[key] if isinstance(options[key], bool) else 2 * options[key]}
    with pytest.raises(ValueError, match=f"has sampler_options .*got {{'{key}'"):
        Study(path, sampler_options=other)


def test_bad_sampler_options_name_the_setting_and_write_nothing(tmp_path):
    path = tmp_path / "study.db"
    with pytest.raises(ValueError, match=r"\['gamma'\] are not settings of the 'gp' sampler; "
                                         r"it has \['length_prior'"):
        Study(path, space=space(), sampler_options={"gamma": 0.2})
    with pytest.raises(ValueError, match="noise_prior must be"):
        Study(path, space=space(), sampler_options={"noise_prior": -1.0})
    with pytest.raises(TypeError, match="sampler_options must be a dict"):
        Study(path, space=space(), sampler_options=[("noise_prior", 0.2)])
    with pytest.raises(ValueError, match="sampler_options applies to the model samplers"):
        Study(path, space=space(), sampler="random", sampler_options={})
    with pytest.raises(ValueError, match="batch_size applies to the model samplers"):
        Study(path, space=space(), sampler="sobol", batch_size=4)
    assert stored_study_names(path) == []           # no refused call left a study behind
    Study(path, space=space(), sampler="tpe").close()
    with pytest.raises(ValueError, match=r"\['noise_prior'\] are not settings of the 'tpe'"):
        Study(path, sampler_options={"noise_prior": 0.2})


def test_a_study_stored_without_its_samplers_options_goes_on_with_the_defaults(tmp_path):
    # as an earlier fastnn stored it: batch size and start-up, not the model's own settings
    path = tmp_path / "study.db"
    with Study(path, space=space(), seed=5, sampler="gp") as study:
        study.optimize(bowl, n_trials=12)
        reference = Study(None, space=space(), seed=5, sampler="gp")
        reference.optimize(bowl, n_trials=20)
        study._storage._run("UPDATE fastnn_study_attrs SET value = ? WHERE key = ?",
                            ('[{"sampler": "gp", "batch_size": 8, "n_startup": 10}]',
                             "sampler_settings"))
    with Study(path) as old:
        attrs = old._storage.study_attrs(old._id)["sampler_settings"]
        assert attrs == [{"sampler": "gp", "batch_size": 8, "n_startup": 10}]  # opening: no write
        old.optimize(bowl, n_trials=8)
        assert trials_of(old) == trials_of(reference)
        stored = old._storage.study_attrs(old._id)["sampler_settings"]
    assert stored[-1]["options"] == {"n_candidates": 1024, "local_scale": 0.1,
                                     "length_prior": "fixed",
                                     "noise_prior": GPSampler(space(), 0).noise_prior}


def _mixed(params, trial):
    return params["lr"] * 100 - abs(params["dropout"] - 0.2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_0_1_study_goes_on_with_the_model_and_its_trials_feed_it(tmp_path, kind):
    path = tmp_path / "study.db"
    shutil.copy(FIXTURE, path)
    with Study(path, name="fixture") as study:          # no sampler given: the stored one
        assert study.sampler == "random"
    with Study(path, name="fixture", sampler=kind) as study:
        assert study.sampler == kind and study.batching == (12, 8)
        study.optimize(_mixed, n_trials=6, n_jobs=2)
        trials = study.trials
    assert [t.number for t in trials] == list(range(16))
    assert all(t.state != TrialState.WAITING for t in trials)
    with Study(path, name="fixture") as again:          # stored: it goes on with the model
        assert again.sampler == kind
        sampler, sp = again._sampler, again.space
    old = [t for t in trials if t.number < 12]
    for number in range(12, 16):
        assert sp.from_unit_point(sampler.point(number, trials)) == trials[number].params
        assert not np.array_equal(sampler.point(number, trials),
                                  Sampler("random", 12, len(sp)).raw(number))
    # the 0.1 trials are the evidence: other values for them, other proposals
    flipped = [FrozenTrial(t.number, t.state, t.params, None if t.value is None else -t.value,
                           t.intermediate) for t in old]
    assert not np.array_equal(sampler.point(12, trials), sampler.point(12, flipped))


@pytest.mark.parametrize("kind", KINDS)
def test_pruned_trials_steer_the_model_by_the_rung_they_reached(kind):
    # ASHA-like evidence: trials near x = 0.8 went on to step 9, the others were stopped at
    # step 1 (with higher values there, as early curves often are): the model follows the
    # rung reached, so it proposes near 0.8
    sp = Space({"x": Uniform(0, 1), "y": Uniform(0, 1)})
    rng = np.random.default_rng(0)
    trials = []
    for n, (x, y) in enumerate(rng.random((30, 2))):
        far = abs(x - 0.8) > 0.1
        steps = ((1, 0.6),) if far else ((1, 0.3), (3, 0.4), (9, 0.5))
        trials.append(FrozenTrial(n, TrialState.PRUNED, sp.from_unit_point([x, y]),
                                  steps[-1][1], steps))
    sampler = MODEL_SAMPLERS[kind](sp, 0, batch_size=8, n_startup=30)
    xs = [sp.from_unit_point(sampler.point(n, trials))["x"] for n in range(30, 38)]
    # uniform draws would give a median distance of 0.3; the stopped trials' higher
    # values at step 1 would pull the proposals away from 0.8
    assert np.median(np.abs(np.array(xs) - 0.8)) < 0.2


# ---------------------------------------------------------------- the bandwidth rules

def test_gap_bandwidths_are_the_larger_gap_to_a_neighbour():
    from fastnn.search.tpe import _gaps
    mu = np.array([0.5, np.nan, 0.1, 0.3, 0.9])
    # sorted active 0.1, 0.3, 0.5, 0.9; the ends' own gaps replace the cube's ends
    assert np.allclose(_gaps(mu), [0.4, 1.0, 0.2, 0.2, 0.4])
    assert np.allclose(_gaps(np.array([0.2])), [0.8])        # one point: the cube's ends count
    assert np.allclose(_gaps(np.array([np.nan, np.nan])), [1.0, 1.0])


@pytest.mark.parametrize("bandwidth", ["scott", "gap"])
@pytest.mark.parametrize("weights", [None, np.array([4.0, 3.0, 2.0, 1.0])])
def test_each_mixture_is_a_density_on_the_cube_and_samples_inside_it(bandwidth, weights):
    from fastnn.search.tpe import _Mixture
    rng = np.random.default_rng(0)
    pts = np.array([[0.05], [0.5], [0.52], [0.97]])
    mix = _Mixture(pts, [0], bandwidth, weights)
    grid = (np.arange(20000) + 0.5) / 20000
    assert abs(np.exp(mix.log_pdf(grid[:, None])).mean() - 1.0) < 1e-3
    if weights is not None:     # the first point weighs 4 times the last: against equal
        ends = np.array([[0.05], [0.97]])   # weights, more density at it, less at the last
        lift = mix.log_pdf(ends) - _Mixture(pts, [0], bandwidth).log_pdf(ends)
        assert lift[0] > 0.1 and lift[1] < -0.1
    draws = mix.sample(rng, 4000)
    assert draws.min() >= 0.0 and draws.max() < 1.0
    # the draws follow the density: a histogram against it, cell by cell
    hist, edges = np.histogram(draws[:, 0], bins=10, range=(0, 1))
    cells = [np.exp(mix.log_pdf(grid[(grid >= a) & (grid < b)][:, None])).mean() / 10
             for a, b in zip(edges[:-1], edges[1:])]
    assert stats.chisquare(hist, 4000 * np.array(cells) / sum(cells)).pvalue > 0.001


def test_bad_sampler_settings_name_the_argument():
    sp = default_mlp_space()
    for kw, word in [({"bandwidth": "silverman"}, "bandwidth"), ({"gamma": 0.0}, "gamma"),
                     ({"gamma": 1.5}, "gamma"), ({"n_candidates": 0}, "n_candidates"),
                     ({"batch_size": 0}, "batch_size"), ({"n_startup": -1}, "n_startup"),
                     ({"direction": "up"}, "direction")]:
        with pytest.raises(ValueError, match=word):
            TPESampler(sp, 0, **kw)
    with pytest.raises(TypeError, match="multivariate"):
        TPESampler(sp, 0, multivariate="no")
    with pytest.raises(TypeError, match="rank_weights"):
        TPESampler(sp, 0, rank_weights=1)


def test_each_parameter_on_its_own_proposes_from_the_trials_that_have_it():
    # multivariate=False: a mixture per parameter; proposals in the cube, reproducible, sent
    # to the good options, and a conditional parameter drawn from the trials that have it
    sp = Space({"x": Uniform(-5, 5), "lr": LogUniform(1e-6, 1),
                "act": Choice(["relu", "tanh", "elu"]), "n_layers": IntUniform(1, 2),
                "units_2": IntLogUniform(8, 512, when={"n_layers": (2,)})})

    def objective(params, trial):
        deep = -abs(math.log2(params["units_2"] / 256)) if params["n_layers"] == 2 else -3.0
        return bowl(params, trial) + deep - 4.0 * (params["act"] != "tanh")

    study = Study(None, space=sp, seed=4, sampler="random")
    study.optimize(objective, n_trials=40)
    trials = study.trials
    sampler = TPESampler(sp, 4, multivariate=False)
    points = np.array([sampler.point(n, trials) for n in range(40, 48)])
    assert np.array_equal(points, np.array([sampler.point(n, trials) for n in range(40, 48)]))
    assert np.all((points >= 0) & (points < 1))
    proposed = [sp.from_unit_point(u) for u in points]
    assert sum(p["act"] == "tanh" for p in proposed) >= 6
    assert sum(p["n_layers"] == 2 for p in proposed) >= 6
    assert all(sp.validate(p) == p and ("units_2" in p) == (p["n_layers"] == 2) for p in proposed)
    # the joint model proposes other points from the same evidence
    joint = np.array([TPESampler(sp, 4).point(n, trials) for n in range(40, 48)])
    assert not np.array_equal(points, joint)
