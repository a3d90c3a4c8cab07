"""bench/search_quality.py (W8): Optuna draws the same space on the same scales, the chosen
configuration of a budget is a prefix's best, and a quick run caches and reports."""

import json
import math
import os
import sys

import numpy as np
import pytest
from scipy import stats

from fastnn.search import default_mlp_space

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import search_quality as sq  # noqa: E402


def test_optuna_draws_the_space_on_its_scales_with_its_conditions():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = default_mlp_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(600):
        trial = study.ask()
        drawn.append(sq.suggest(trial, space))
        study.tell(trial, 0.0)
    for params in drawn:
        assert space.validate(params) == params          # active parameters only, in range
    assert {p["n_layers"] for p in drawn} == {1, 2, 3}
    lr = np.log10([p["lr"] for p in drawn])
    assert stats.kstest(lr, stats.uniform(loc=-4, scale=3).cdf).pvalue > 0.01
    r = np.log10([1 - p["beta1"] for p in drawn])
    assert stats.kstest(r, stats.uniform(loc=math.log10(0.001), scale=math.log10(200)).cdf
                        ).pvalue > 0.01


def test_chosen_is_the_best_of_the_prefix_with_its_test_score():
    trials = [[0.5, 0.4, 20], [None, None, 3], [0.7, 0.6, 20], [0.7, 0.1, 20], [0.9, 0.8, 20]]
    assert sq.chosen(trials, 4) == (0.7, 0.6)            # ties: the earlier trial
    assert sq.chosen(trials) == (0.9, 0.8)
    assert all(math.isnan(x) for x in sq.chosen([[None, None, 1]]))


def test_a_quick_run_caches_each_search_and_reports(tmp_path, capsys):
    pytest.importorskip("optuna")
    pytest.importorskip("sklearn")
    cache = tmp_path / "cache"
    assert sq.main(["--quick", "--cache", str(cache)]) == 0
    text = capsys.readouterr().out
    files = sorted(os.listdir(cache / "quick"))
    assert len(files) == 2 * (len(sq.METHODS) + len(sq.EARLY))
    for m in sq.METHODS:
        assert f"| {sq.label(m)} | 6 |" in text and f"| {sq.label(m)} | 12 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| Optuna TPESampler | 6 |"))
    assert row.count(" / ") == 1 and row.count(" ± ") == 4   # the paired gaps, val and test
    stamps = {f: os.path.getmtime(cache / "quick" / f) for f in files}
    assert sq.main(["--quick", "--cache", str(cache)]) == 0       # all from the cache
    assert capsys.readouterr().out == text
    assert stamps == {f: os.path.getmtime(cache / "quick" / f) for f in files}


def test_a_longer_run_replays_a_shorter_cached_one_and_a_shorter_run_is_its_prefix(tmp_path):
    pytest.importorskip("optuna")
    pytest.importorskip("sklearn")
    args = ["--datasets", "digits", "--seeds", "1", "--epochs", "1", "--no-early",
            "--methods", "fastnn,optuna-tpe"]
    grown, fresh = tmp_path / "grown", tmp_path / "fresh"
    assert sq.main(args + ["--trials", "12", "--cache", str(grown)]) == 0
    assert sq.main(args + ["--trials", "20", "--cache", str(grown)]) == 0    # 12 replayed
    assert sq.main(args + ["--trials", "20", "--cache", str(fresh)]) == 0
    tag = sq.tpe_tag(sq.fastnn_settings(None))
    for m, suffix in (("fastnn", tag), ("optuna-tpe", "")):
        name = f"digits-{m}-seed0-trials20-e1{suffix}.json"
        with open(grown / name) as a, open(fresh / name) as b:
            assert json.load(a)["trials"] == json.load(b)["trials"]     # model trials included
    assert sq.main(args + ["--trials", "15", "--cache", str(fresh)]) == 0   # from the 20
    assert not any("trials15" in f for f in os.listdir(fresh))


def test_tpe_settings_are_parsed_checked_and_cached_under_their_own_names(tmp_path):
    assert sq.parse_tpe("gamma=0.1,n_candidates=64,bandwidth=gap", "tpe") == {
        "sampler": "tpe", "gamma": 0.1, "n_candidates": 64, "bandwidth": "gap"}
    assert sq.tpe_tag({"gamma": 0.1, "bandwidth": "gap"}) == "-bandwidthgap-gamma0.1"
    assert sq.parse_tpe("multivariate=False,batch_size=1", "tpe") == {
        "sampler": "tpe", "multivariate": False, "batch_size": 1}
    assert sq.parse_tpe("local_scale=0.05", "gp") == {"sampler": "gp", "local_scale": 0.05}
    for bad in ("gama=0.1", "gamma", "seed=3"):
        with pytest.raises(ValueError, match="--tpe"):
            sq.parse_tpe(bad, "tpe")
    with pytest.raises(ValueError, match="--sampler: choose from"):
        sq.parse_tpe("", "bayes")
    with pytest.raises(SystemExit):
        sq.main(["--methods", "fastnn,hyperopt"])


def test_a_default_run_is_named_by_the_settings_whose_default_changed():
    from fastnn.search.gp import GPSampler
    from fastnn.search.study import DEFAULT_SAMPLER

    assert DEFAULT_SAMPLER == "gp"
    default = sq.fastnn_settings(None)
    assert default == {"sampler": "gp", "noise_prior": GPSampler(
        default_mlp_space(), 0).noise_prior}
    assert sq.fastnn_settings({"noise_prior": default["noise_prior"]}) == default
    assert sq.tpe_tag(sq.fastnn_settings({"noise_prior": 0.05})) != sq.tpe_tag(default)
    assert sq.fastnn_settings({"sampler": "tpe", "gamma": 0.1}) == {"gamma": 0.1}


def test_paired_gaps_are_means_of_the_per_seed_differences():
    runs, ref = [(0.8, 0.7), (0.6, 0.5)], [(0.7, 0.7), (0.6, 0.4)]
    assert sq.paired(runs, ref) == "+0.050 ± 0.050 / +0.050 ± 0.050"
    assert sq.paired(ref, runs) == "-0.050 ± 0.050 / -0.050 ± 0.050"
    assert sq.paired([(0.5, 0.4)], [(0.6, 0.4)]) == "-0.100 / +0.000"


@pytest.mark.parametrize("name", sq.DATASETS)
def test_each_data_set_splits_into_standardized_parts_with_every_class(name):
    X_tr, y_tr, X_val, y_val, X_te, y_te = sq.load(name)
    assert X_tr.dtype == np.float32 and X_tr.shape[1] == X_val.shape[1] == X_te.shape[1]
    assert len(X_tr) == len(y_tr) and len(X_val) == len(y_val) and len(X_te) == len(y_te)
    np.testing.assert_allclose(X_tr.mean(axis=0), 0.0, atol=1e-4)
    classes = np.unique(y_tr)
    assert len(classes) >= 2 and all(set(np.unique(y)) == set(classes) for y in (y_val, y_te))
    assert classes.tolist() == list(range(len(classes)))     # labels 0..k-1, as the MLP's
