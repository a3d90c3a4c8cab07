"""Study: determinism, failures, storage, re-opening, enqueue, retest, reports, validation."""

import json
import math
import sqlite3
import time

import numpy as np
import pytest

import fastnn
from fastnn.search import (ASHA, Choice, IntUniform, LogUniform, Space, Study, TrialState,
                           fingerprint)
from fastnn.search.sampling import trial_seed


def space():
    return Space({"lr": LogUniform(1e-4, 1e-1), "n_layers": IntUniform(1, 3),
                  "units_2": IntUniform(8, 64, when={"n_layers": (2, 3)}),
                  "act": Choice(["relu", "tanh"])})


def score(params, trial):
    """Deterministic in the params; reports a rising curve."""
    value = -abs(math.log10(params["lr"]) + 2.5) + 0.1 * params["n_layers"]
    for step in range(1, 4):
        trial.report(value - 1.0 / step, step)
    trial.user_attrs["n_threads"] = trial.n_threads
    trial.user_attrs["seed"] = trial.seed
    return value


def configs(study):
    return [(t.number, t.params, t.value) for t in study.trials]


def test_one_and_two_workers_draw_the_same_trials():
    one, two = Study(None, space=space(), seed=3), Study(None, space=space(), seed=3)
    one.optimize(score, n_trials=24, n_jobs=1)
    two.optimize(score, n_trials=24, n_jobs=2)
    assert configs(one) == configs(two)
    assert [t.number for t in one.trials] == list(range(24))
    other = Study(None, space=space(), seed=4)
    other.optimize(score, n_trials=24)
    assert [t.params for t in other.trials] != [t.params for t in one.trials]


def test_trial_fields_and_storage_columns(tmp_path):
    path = tmp_path / "study.db"
    fp = fingerprint(np.arange(6.0).reshape(2, 3), np.array([0, 1]))
    study = Study(path, space=space(), seed=5, name="s", data_fingerprint=fp)
    ran = study.optimize(score, n_trials=4, n_jobs=2)
    assert [t.number for t in ran] == [0, 1, 2, 3]
    for t in ran:
        assert t.state == TrialState.COMPLETE and t.seed == trial_seed(5, t.number)
        assert t.user_attrs == {"n_threads": max(1, fastnn.get_num_threads() // 2),
                                "seed": t.seed}
        assert [s for s, _ in t.intermediate] == [1, 2, 3]
        assert t.fastnn_version == fastnn.__version__ and t.data_fingerprint == fp
        assert t.duration is not None and t.duration >= 0
    study.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        name, direction, seed, sampler, desc = db.execute(
            "SELECT name, direction, seed, sampler, space FROM fastnn_studies").fetchone()
        assert (name, direction, seed, sampler) == ("s", "maximize", "5", "gp")
        assert Space.from_dict(json.loads(desc)) == space()
        row = db.execute("SELECT params, value, state FROM fastnn_trials WHERE number = 0").fetchone()
        assert json.loads(row[0]) == ran[0].params and row[1] == ran[0].value


def test_failures_are_recorded_and_the_study_goes_on():
    def flaky(params, trial):
        if trial.number == 1:
            raise RuntimeError("out of memory")
        if trial.number == 2:
            return float("nan")
        if trial.number == 3:
            trial.report(0.5, 1)
            trial.report(float("inf"), 2)
            assert trial.should_stop()
            return 0.5
        if trial.number == 4:
            return "good"
        return 1.0

    study = Study(None, space=space(), seed=0)
    study.optimize(flaky, n_trials=7, n_jobs=2)
    t = study.trials
    assert [x.state for x in t] == [TrialState.COMPLETE] + [TrialState.FAILED] * 4 + \
        [TrialState.COMPLETE] * 2
    assert t[1].error == "RuntimeError: out of memory" and "raise RuntimeError" in t[1].traceback
    assert t[2].error == "objective returned nan" and t[2].value is None
    assert t[3].error == "reported inf at step 2" and t[3].intermediate == ((1, 0.5),)
    assert "objective returned 'good'" in t[4].error
    assert study.best.number == 0


def test_enqueued_params_run_first_and_are_validated():
    study = Study(None, space=space(), seed=1)
    assert study.enqueue({"lr": 3e-3, "n_layers": 1, "act": "tanh"}) == 0
    assert study.enqueue({"lr": np.float64(1e-2), "n_layers": np.int64(2), "units_2": 16,
                          "act": "relu"}) == 1
    for bad, match in [({"lr": 3e-3, "n_layers": 1, "act": "tanh", "momentum": 0.9}, "unknown"),
                       ({"lr": 3.0, "n_layers": 1, "act": "tanh"}, "outside LogUniform"),
                       ({"lr": 3e-3, "n_layers": 2, "act": "tanh"}, "missing parameter"),
                       ({"lr": 3e-3, "n_layers": 1, "units_2": 8, "act": "tanh"}, "condition")]:
        with pytest.raises(ValueError, match=match):
            study.enqueue(bad)
    study.optimize(score, n_trials=4)
    t = study.trials
    assert t[0].params == {"lr": 3e-3, "n_layers": 1, "act": "tanh"}
    assert t[1].params == {"lr": 1e-2, "n_layers": 2, "units_2": 16, "act": "relu"}
    assert len(t) == 4 and all(x.state == TrialState.COMPLETE for x in t)
    fresh = Study(None, space=space(), seed=1)
    fresh.optimize(score, n_trials=4)
    assert t[2].params == fresh.trials[2].params      # numbering, not order, fixes a draw


def test_reopen_continues_and_checks_settings(tmp_path):
    path = tmp_path / "s.db"
    study = Study(path, space=space(), direction="minimize", seed=9, name="a")
    study.optimize(score, n_trials=3)
    study.close()
    again = Study(path, name="a")                      # space, direction, seed from storage
    assert (again.direction, again.seed, again.space) == ("minimize", 9, space())
    again.optimize(score, n_trials=2)
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="has direction='minimize'; got direction='maximize'"):
        Study(path, name="a", direction="maximize")
    with pytest.raises(ValueError, match="has seed=9; got seed=10"):
        Study(path, name="a", seed=10)
    with pytest.raises(ValueError, match="has sampler='gp'"):
        Study(path, name="a", sampler="sobol")
    with pytest.raises(ValueError, match="opened with another space .* nothing was changed"):
        Study(path, name="a", space={"lr": LogUniform(1e-5, 1e-1)})
    with pytest.raises(ValueError, match="study 'b' does not exist.*its studies: 'a'"):
        Study(path, name="b")
    other = Study(path, space=space(), name="b", seed=9)   # two studies in one file
    assert other.trials == []


def test_reopen_on_other_data_is_refused_unless_said(tmp_path):
    path = tmp_path / "s.db"
    Study(path, space=space(), seed=1, data_fingerprint=fingerprint(np.zeros(3))).close()
    with pytest.raises(ValueError, match="data fingerprint differs"):
        Study(path, data_fingerprint=fingerprint(np.ones(3)))
    with pytest.warns(UserWarning, match="data fingerprint differs"):
        s = Study(path, data_fingerprint=fingerprint(np.ones(3)), on_mismatch="continue")
    assert s.data_fingerprint == fingerprint(np.ones(3))


def test_timeout_stops_launching_trials():
    def slow(params, trial):
        time.sleep(0.02)
        return 1.0

    study = Study(None, space=space(), seed=0)
    ran = study.optimize(slow, n_trials=10_000, n_jobs=2, timeout=0.2)
    assert 1 <= len(ran) < 10_000
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_retest_reranks_the_best_trials():
    study = Study(None, space=space(), seed=2)
    study.optimize(score, n_trials=12)
    old = study.ranked()[:4]

    def new_data(params, trial):
        # on "new data" the lowest learning rate wins; each seed adds a little noise
        return -params["lr"] + 1e-6 * trial.seed

    report = study.retest(new_data, top_k=4, seeds=(0, 1, 2))
    rows = report.rows
    assert [r.new_rank for r in rows] == [1, 2, 3, 4]
    assert sorted(r.old_rank for r in rows) == [1, 2, 3, 4]
    by_lr = sorted(old, key=lambda t: t.params["lr"])
    assert [r.number for r in rows] == [t.number for t in by_lr]
    for r in rows:
        assert r.old_value == old[r.old_rank - 1].value and len(r.new_values) == 3
        assert r.new_mean == pytest.approx(-r.params["lr"] + 1e-6)
    text = str(report)
    assert "new_rank" in text and "old_rank" in text and len(text.splitlines()) == 7
    stored = study.retests()
    assert len(stored) == 12 and {s["seed"] for s in stored} == {0, 1, 2}
    assert study.retest(new_data, top_k=1, seeds=[5]).retest == 1


def test_retest_with_failures_ranks_them_last():
    study = Study(None, space=space(), seed=2)
    study.optimize(score, n_trials=5)
    best = study.best.number

    def broken_for_best(params, trial):
        if trial.number == best:
            raise ValueError("diverged")
        return 0.0

    rows = study.retest(broken_for_best, top_k=3, seeds=(0, 1)).rows
    assert rows[-1].number == best and rows[-1].n_failed == 2 and math.isnan(rows[-1].new_mean)


def test_leaderboard_and_dataframe():
    study = Study(None, space=space(), seed=6)
    study.optimize(score, n_trials=8, scheduler=ASHA(max_resource=3))
    board = study.leaderboard(k=3)
    lines = board.splitlines()
    assert lines[0].startswith("study 'default' (maximize):") and "8 trials" in lines[0]
    assert lines[1].split()[:4] == ["rank", "trial", "value", "lr"]
    assert lines[3].split()[:2] == ["1", str(study.best.number)]
    assert len(lines) == 3 + min(3, len(study.ranked()))
    df = study.to_dataframe()
    assert len(df) == 8 and list(df["number"]) == list(range(8))
    assert {"state", "value", "params_lr", "params_act", "user_attrs_seed", "duration"} <= \
        set(df.columns)


def test_to_dataframe_without_pandas_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="pip install pandas"):
        Study(None, space=space(), seed=0).to_dataframe()


def test_best_without_complete_trials_raises():
    with pytest.raises(ValueError, match="no complete trial"):
        Study(None, space=space(), seed=0).best


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_trials": 0}, ValueError, "n_trials must be an integer >= 1"),
    ({"n_trials": 2.5}, ValueError, "n_trials"),
    ({"n_trials": True}, ValueError, "n_trials"),
    ({"n_trials": 3, "n_jobs": 0}, ValueError, "n_jobs must be an integer >= 1"),
    ({"n_trials": 3, "rounds": 4}, ValueError, r"rounds \(4\) must not exceed n_trials \(3\)"),
    ({"n_trials": 3, "top_k": 0}, ValueError, "top_k"),
    ({"n_trials": 3, "timeout": -1}, ValueError, "timeout must be a positive number"),
    ({"n_trials": 3, "margin": -0.1}, ValueError, "margin"),
    ({"n_trials": 3, "n_threads": 0}, ValueError, "n_threads"),
    ({"n_trials": 3, "executor": "gpu"}, ValueError, "executor must be None"),
    ({"n_trials": 3, "scheduler": "asha"}, TypeError, "report"),
    ({"n_trials": 3, "executor": "process", "objective": lambda p, t: 0.0}, TypeError,
     "cannot be pickled"),
    ({"n_trials": 3, "objective": 3}, TypeError, "objective must be callable"),
])
def test_bad_optimize_arguments(kwargs, error, match):
    kwargs = {"objective": score, **kwargs}
    with pytest.raises(error, match=match):
        Study(None, space=space(), seed=0).optimize(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"direction": "up"}, ValueError, "direction must be one of"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"seed": 1.5}, ValueError, "seed"),
    ({"sampler": "grid"}, ValueError, "sampler must be one of"),
    ({"name": ""}, ValueError, "name"),
    ({"data_fingerprint": 3}, TypeError, "data_fingerprint"),
    ({"space": {"lr": (1e-4, 1e-1)}}, TypeError, "must be a distribution"),
])
def test_bad_study_arguments(kwargs, error, match):
    kwargs = {"space": space(), **kwargs}
    with pytest.raises(error, match=match):
        Study(None, **kwargs)


def test_bad_report_and_retest_arguments():
    def bad_steps(params, trial):
        trial.report(0.1, 2)
        trial.report(0.2, 2)
        return 0.0

    study = Study(None, space=space(), seed=0)
    study.optimize(bad_steps, n_trials=1)
    assert study.trials[0].error == ("ValueError: trial.report(value, step): steps must increase; "
                                     "got step 2 after 2")
    with pytest.raises(ValueError, match="no complete trial to retest"):
        study.retest(score)
    study.optimize(score, n_trials=1)
    for seeds in [(), (1, 1), (-1,), (1.5,)]:
        with pytest.raises(ValueError, match="seeds must be distinct non-negative"):
            study.retest(score, seeds=seeds)
    with pytest.raises(ValueError, match="top_k"):
        study.retest(score, top_k=0)


def test_fingerprint():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert fingerprint(a) == fingerprint(a.copy()) and len(fingerprint(a)) == 64
    assert fingerprint(a) != fingerprint(a.reshape(4, 3))
    assert fingerprint(a) != fingerprint(a.astype(np.float64))
    assert fingerprint(a, a[0]) != fingerprint(a)
    assert fingerprint(np.asfortranarray(a)) == fingerprint(a)
    with pytest.raises(TypeError, match="dtype object"):
        fingerprint(np.array([None, 1]))
    with pytest.raises(ValueError, match="at least one array"):
        fingerprint()
