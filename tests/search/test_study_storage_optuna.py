"""Study.to_optuna / Study.from_optuna: trials, values, curves, states and distributions."""

import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from fastnn.search import (Choice, IntLogUniform, IntUniform, LogUniform, OneMinusLogUniform,
                           Space, Study, TrialState, Uniform)

optuna.logging.set_verbosity(optuna.logging.WARNING)
FIXTURE = Path(__file__).parent.parent / "data" / "study-0.1.db"


def space():
    return Space({"lr": LogUniform(1e-4, 1e-1), "beta1": OneMinusLogUniform(0.8, 0.999),
                  "units": IntLogUniform(8, 512), "n_layers": IntUniform(1, 2),
                  "units_2": IntUniform(4, 64, when={"n_layers": (2,)}),
                  "act": Choice(["relu", "tanh", None]), "dropout": Uniform(0.0, 0.5)})


def objective(params, trial):
    if trial.number == 2:
        raise RuntimeError("out of memory")
    for step in range(1, 4):
        trial.report(params["dropout"] + 0.1 * step, step)
        if trial.number == 4 and step == 2:
            return params["dropout"]                       # with the ASHA-like stop below
    trial.user_attrs["epochs"] = 3
    return params["dropout"] + 0.3


def fastnn_study(path):
    study = Study(path, space=space(), seed=4, name="s", data_fingerprint="fp", sampler="random")
    study.optimize(objective, n_trials=6, rounds=2)
    study.enqueue({"lr": 0.01, "beta1": 0.9, "units": 32, "n_layers": 1, "act": "relu",
                   "dropout": 0.1})
    return study


def fields(t):
    return (t.number, t.state, t.params, t.value, t.intermediate, t.user_attrs, t.seed,
            t.error, t.datetime_start, t.datetime_end)


def test_to_optuna_keeps_trials_states_and_distributions():
    study = fastnn_study(None)
    opt = study.to_optuna()
    assert isinstance(opt, optuna.Study) and opt.study_name == "s"
    assert opt.direction == optuna.study.StudyDirection.MAXIMIZE
    assert [str(t.state) for t in opt.trials] == [
        "TrialState.COMPLETE", "TrialState.COMPLETE", "TrialState.FAIL", "TrialState.COMPLETE",
        "TrialState.COMPLETE", "TrialState.COMPLETE", "TrialState.WAITING"]
    for ours, theirs in zip(study.trials, opt.trials):
        assert theirs.params == ours.params and theirs.value == ours.value
        assert theirs.intermediate_values == dict(ours.intermediate)
        assert theirs.user_attrs["fastnn_seed"] == ours.seed
    d = opt.trials[0].distributions
    assert d["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["beta1"] == FloatDistribution(0.8, 0.999)              # on beta, scale noted
    assert opt.trials[0].user_attrs["fastnn_scale"] == {"beta1": "OneMinusLogUniform"}
    assert d["units"] == IntDistribution(8, 512, log=True)
    assert d["n_layers"] == IntDistribution(1, 2)
    assert d["act"] == CategoricalDistribution(["relu", "tanh", None])
    assert d["dropout"] == FloatDistribution(0.0, 0.5)
    assert all(("units_2" in t.params) == (t.params["n_layers"] == 2) for t in opt.trials)
    failed = opt.trials[2]
    assert failed.user_attrs["fastnn_error"] == "RuntimeError: out of memory"
    assert opt.best_trial.params == study.best.params
    assert opt.trials[1].datetime_complete > opt.trials[1].datetime_start


def test_a_round_trip_gives_the_same_study(tmp_path):
    study = fastnn_study(tmp_path / "a.db")
    back = Study.from_optuna(study.to_optuna(), storage=tmp_path / "b.db")
    assert back.name == "s" and back.seed == 4 and back.direction == "maximize"
    assert back.space == study.space and back.data_fingerprint == "fp"
    assert [fields(t) for t in back.trials] == [fields(t) for t in study.trials]
    assert len(study.rounds()) == 2 and back.rounds() == study.rounds()
    ran = back.optimize(objective, n_trials=2)                   # and it goes on
    assert [t.number for t in ran] == [6, 7]
    assert ran[0].params == study.trials[6].params               # the enqueued trial first


def test_the_optuna_study_can_share_a_migrated_0_1_file(tmp_path):
    path = tmp_path / "study.db"
    shutil.copy(FIXTURE, path)                 # fastnn 0.1's tables were named like Optuna's
    study = Study(path, name="fixture")
    opt = study.to_optuna(storage=f"sqlite:///{path}", study_name="s-optuna")
    again = optuna.load_study(study_name="s-optuna", storage=f"sqlite:///{path}")
    assert len(again.trials) == 12 and again.best_value == study.best.value
    assert opt.trials[11].state == optuna.trial.TrialState.RUNNING
    with closing(sqlite3.connect(path)) as db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"fastnn_trials", "fastnn_studies", "trials", "studies", "version_info"} <= tables
    before = [fields(t) for t in study.trials]
    study.close()
    with Study(path, name="fixture") as reopened:
        assert [fields(t) for t in reopened.trials] == before


def test_from_an_optuna_made_study():
    def optuna_objective(trial):
        x = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        k = trial.suggest_int("k", 1, 64, log=True)
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        for step in range(3):
            trial.report(x * k + step, step)
        if trial.number == 3:
            raise optuna.TrialPruned()
        if trial.number == 4:
            raise ValueError("bad")
        return x * k + (act == "relu")

    opt = optuna.create_study(direction="minimize", study_name="native",
                              sampler=optuna.samplers.RandomSampler(seed=0))
    opt.optimize(optuna_objective, n_trials=6, catch=(ValueError,))
    study = Study.from_optuna(opt)
    assert study.name == "native" and study.direction == "minimize"
    assert study.space == Space({"lr": LogUniform(1e-4, 1e-1), "k": IntLogUniform(1, 64),
                                 "act": Choice(["relu", "tanh"])})
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.FAILED,
                                                  TrialState.COMPLETE]
    for ours, theirs in zip(study.trials, opt.trials):
        assert ours.params == theirs.params and ours.value == theirs.value
        assert ours.intermediate == tuple(sorted(theirs.intermediate_values.items()))
    assert study.trials[4].error == "failed in Optuna"          # Optuna keeps no reason
    assert study.best.params == opt.best_params
    study.optimize(lambda p, t: p["lr"], n_trials=2)                 # a fastnn study now
    assert len(study.trials) == 8


def test_bridge_errors(tmp_path):
    study = fastnn_study(None)
    with pytest.raises(TypeError, match="optuna_study must be an optuna.Study"):
        Study.from_optuna(study)
    multi = optuna.create_study(directions=["minimize", "maximize"])
    with pytest.raises(ValueError, match="one objective; the Optuna study has 2"):
        Study.from_optuna(multi)
    stepped = optuna.create_study()
    stepped.optimize(lambda t: t.suggest_float("x", 0, 1, step=0.1), n_trials=1)
    with pytest.raises(ValueError, match="'x': fastnn has no stepped float"):
        Study.from_optuna(stepped)
    Study.from_optuna(study.to_optuna(), storage=tmp_path / "c.db")
    with pytest.raises(ValueError, match=r"already has a study named 's' \(7 trials\)"):
        Study.from_optuna(study.to_optuna(), storage=tmp_path / "c.db")
    with pytest.raises(ValueError, match="study_name must be a non-empty string"):
        study.to_optuna(study_name="")


def test_optuna_is_optional_and_imported_only_by_the_bridge(monkeypatch):
    code = ("import sys, fastnn, fastnn.search\n"
            "from fastnn.search import Space, Study, Uniform\n"
            "Study(None, space=Space({'x': Uniform(0, 1)})).optimize(lambda p, t: 0.0, 2)\n"
            "print('optuna' in sys.modules, 'sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr
    study = fastnn_study(None)
    monkeypatch.setitem(sys.modules, "optuna", None)              # as if not installed
    with pytest.raises(ImportError, match=r"needs optuna: pip install optuna$"):
        study.to_optuna()
    with pytest.raises(ImportError, match="needs optuna"):
        Study.from_optuna(object())


@pytest.mark.parametrize("sampler", [None, "tpe"])
def test_a_model_sampler_study_round_trips_and_its_trials_feed_the_model(tmp_path, sampler):
    # the default study ("gp") and a "tpe" one: the sampler travels as fastnn_sampler, and
    # the study read back goes on with the model. In memory its batches are the default
    # ones (start-up 10, as the original's); into a file, the imported trials are the
    # start-up, as for a study sampled at random that goes on with a model
    study = Study(tmp_path / "a.db", space=space(), seed=7, sampler=sampler)
    study.optimize(lambda p, t: p["dropout"] - abs(p["lr"] - 0.01), n_trials=12)
    opt = study.to_optuna()
    assert opt.user_attrs["fastnn_sampler"] == study.sampler
    for storage, batching in ((None, (10, 8)), (tmp_path / "b.db", (12, 8))):
        back = Study.from_optuna(opt, storage=storage)
        assert back.sampler == study.sampler and back.batching == batching
        assert [fields(t) for t in back.trials] == [fields(t) for t in study.trials]
        ran = back.optimize(lambda p, t: p["dropout"], n_trials=3)
        assert [t.number for t in ran] == [12, 13, 14]
        back.close()
