"""The report's figure of where the model sampler sent each batch."""

import math

import pytest

from fastnn.search import Study, default_mlp_space


def lr_only(params, trial):
    return -abs(math.log10(params["lr"]) + 2.5)


def test_batches_figure_marks_each_batch_and_draws_every_trial():
    pytest.importorskip("matplotlib")
    from fastnn import plot
    from fastnn.plot.batches import batches

    study = Study(None, space=default_mlp_space(), seed=0, batch_size=5)
    study.optimize(lr_only, n_trials=27)
    fig = batches(study, params=["lr", "units_3"])
    lr_ax, units_ax = fig.axes
    lines = [line.get_gid() for line in lr_ax.get_lines()]
    assert lines == ["start-up", "batch-1", "batch-2", "batch-3"]     # at 10, 15, 20, 25
    assert [line.get_xdata()[0] for line in lr_ax.get_lines()] == [9.5, 14.5, 19.5, 24.5]
    (points,) = [c for c in lr_ax.collections if c.get_gid() == "COMPLETE"]
    assert len(points.get_offsets()) == 27
    assert sorted(points.get_offsets()[:, 1]) == sorted(t.params["lr"] for t in study.trials)
    n_deep = sum("units_3" in t.params for t in study.trials)
    assert sum(len(c.get_offsets()) for c in units_ax.collections) == n_deep
    assert lr_ax.get_yscale() == "log"
    page = plot.report(study)
    assert 'id="fig-batches"' in page and 'id="fig-zoom"' not in page
    assert "No box: the model sampler draws from the whole space" in page


def test_batches_figure_needs_the_model_sampler():
    pytest.importorskip("matplotlib")
    from fastnn.plot.batches import batches

    study = Study(None, space=default_mlp_space(), seed=0, sampler="random")
    study.optimize(lr_only, n_trials=3)
    with pytest.raises(ValueError, match="sampler='random', which has no batches"):
        batches(study)
    with pytest.raises(TypeError, match="study must be a fastnn.search.Study"):
        batches("study.db")
