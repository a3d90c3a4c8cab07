"""study.importances(): PED-ANOVA finds the parameters that matter; its report figure."""

import math

import pytest

from fastnn.search import Choice, LogUniform, Space, Study, Uniform, default_mlp_space


def lr_only(params, trial):
    return -abs(math.log10(params["lr"]) + 2.5)


def batch_only(params, trial):
    return {16: 0.0, 32: 0.9, 64: 0.2, 128: 0.1, 256: 0.0}[params["batch_size"]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_learning_rate_comes_first_when_only_it_matters(seed):
    study = Study(None, space=default_mlp_space(), seed=seed, sampler="random")
    study.optimize(lr_only, n_trials=100)
    imp = study.importances()
    assert list(imp)[0] == "lr" and imp["lr"] > 0.4
    assert math.isclose(sum(imp.values()), 1.0)
    assert set(imp) == set(default_mlp_space().names)


def test_a_choice_that_matters_comes_first():
    study = Study(None, space=default_mlp_space(), seed=3, sampler="random")
    study.optimize(batch_only, n_trials=100)
    imp = study.importances()
    assert list(imp)[0] == "batch_size" and imp["batch_size"] > 0.4


def test_parameters_that_do_nothing_share_little():
    sp = Space({"x": Uniform(0, 1), "a": Uniform(0, 1), "b": Uniform(0, 1),
                "c": Choice(["p", "q", "r"])})
    study = Study(None, space=sp, seed=0, sampler="random")
    study.optimize(lambda p, t: -(p["x"] - 0.3) ** 2, n_trials=150)
    imp = study.importances(quantile=0.1)
    assert imp["x"] > 0.6 and max(imp["a"], imp["b"], imp["c"]) < 0.25


def test_bad_input():
    study = Study(None, space=Space({"lr": LogUniform(1e-4, 1e-1)}), seed=0)
    with pytest.raises(ValueError, match="importances need at least 3"):
        study.importances()
    study.optimize(lr_only, n_trials=6)
    for q in (0, 1.5, "a", True):
        with pytest.raises(ValueError, match="quantile must be a number in"):
            study.importances(q)


def test_the_figure_and_the_report_show_them(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn import plot
    from fastnn.plot.importances import course_tier, importances

    study = Study(tmp_path / "s.db", space=default_mlp_space(), seed=0, sampler="random")
    study.optimize(lr_only, n_trials=40)
    fig = importances(study)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "lr  (course: 1)"                 # the top bar
    assert "units_3  (course: 2)" in labels and "lr_decay  (course: 3)" in labels
    widths = [p.get_width() for p in ax.patches]
    assert widths[-1] == max(widths) and math.isclose(sum(widths), 1.0)
    assert course_tier("units_7") == 2 and course_tier("dropout") is None
    page = plot.report(study)
    assert 'id="fig-importances"' in page and "PED-ANOVA" in page
