"""The study figures as a reader meets them: the metric named, a value range that shows
where the trials differ, labels clear of the lines, colours that tell trials apart, and
each trial's parameters under the pointer."""

import math
import re

import numpy as np
import pytest

from fastnn import plot
from fastnn.plot.search import robust_range
from fastnn.search import Choice, IntUniform, LogUniform, OneMinusLogUniform, Study

SPACE = {"lr": LogUniform(1e-4, 1e-1), "beta1": OneMinusLogUniform(0.8, 0.999),
         "batch_size": Choice([16, 32, 64]), "n_layers": IntUniform(1, 3)}


def objective(params, trial):
    """An accuracy on 400 rows that depends on lr and beta1 alone; trials 3 and 8 collapse
    (a diverged run's chance level), trials 1 modulo 6 are pruned at their second epoch."""
    trial.user_attrs.update(metric="validation accuracy", val_rows=400)
    best = 0.97 - 0.08 * (math.log10(params["lr"]) + 2.5) ** 2 - 0.5 * (1 - params["beta1"])
    value = 0.1 if trial.number in (3, 8) else max(0.5, best)
    for epoch in range(1, 5):
        trial.report(value - 0.04 * (4 - epoch), epoch)
        if trial.number % 6 == 1 and epoch == 2:
            trial.user_attrs["epochs"] = epoch
            return value - 0.04 * 2
    trial.user_attrs["epochs"] = 4
    return round(value * 400) / 400


@pytest.fixture(scope="module")
def study():
    s = Study(None, space=SPACE, seed=3, direction="maximize", sampler="random")
    s.optimize(objective, 30, n_jobs=1, rounds=3, scheduler=_PruneOnes())
    yield s
    s.close()


class _PruneOnes:
    def report(self, number, step, value):
        return number % 6 == 1 and step >= 2


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _by_gid(fig, gid):
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


def test_the_value_axis_names_the_metric_and_spans_the_bulk(study):
    fig = plot.history(study)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "validation accuracy (higher is better)"
    values = [t.value for t in study.trials if t.value is not None]
    low, high = ax.get_ylim()
    assert low > 0.4 and min(values) == pytest.approx(0.1)    # the collapsed trials are out...
    outliers = _by_gid(fig, "outliers")                        # ...marked at the edge
    lo, _ = robust_range(values)
    assert len(outliers) == 1 and len(outliers[0].get_offsets()) == sum(v < lo for v in values)
    assert {3, 8} <= {int(x) for x, _ in outliers[0].get_offsets()}
    assert outliers[0].get_label().startswith(f"below {lo:.3g} (")
    assert high >= max(values)
    assert robust_range([0.9, 0.91, 0.92, 0.93, 0.1]) == (0.9, 0.93)     # 0.1: 3 IQRs out
    assert robust_range([1.0, 2.0]) == (1.0, 2.0)


def test_the_best_so_far_line_crosses_no_round_label(study):
    fig = plot.history(study)
    renderer = _drawn(fig)
    line = _by_gid(fig, "best so far")[0]
    labels = [a for a in fig.findobj() if (getattr(a, "get_gid", lambda: None)() or "").endswith(
        "-label")]
    assert {a.get_text() for a in labels} == {"round 2", "round 3"}
    path = line.get_transform().transform(line.get_xydata())
    for label in labels:
        box = label.get_window_extent(renderer)
        assert not any(box.contains(x, y) for x, y in path), label.get_text()
        assert box.y0 >= fig.axes[0].get_window_extent(renderer).y1 - 1   # above the axes
    for tick in fig.axes[0].get_xticks():
        assert float(tick).is_integer()


def test_parallel_coordinates_colours_each_rank_and_labels_stand_clear(study):
    fig = plot.parallel_coordinates(study)
    renderer = _drawn(fig)
    lines = _by_gid(fig, "COMPLETE")[0]
    ranks = np.asarray(lines.get_array())
    n = len([t for t in study.trials if str(t.state) == "COMPLETE"])
    assert sorted(ranks) == list(range(1, n + 1))            # every trial its own shade
    colours = {tuple(np.round(c, 3)) for c in lines.get_colors()}
    assert len(colours) == n
    ticks = _by_gid(fig, "tick-label")
    assert ticks and all(t.get_fontsize() >= 9 for t in ticks)
    assert all(t.get_zorder() > lines.get_zorder() for t in ticks)
    assert all(t.get_bbox_patch() is not None and t.get_bbox_patch().get_facecolor()[:3] ==
               (1.0, 1.0, 1.0) for t in ticks)
    # a label's ground hides the lines under it: none is wider than the gap between axes
    gap = fig.axes[0].transData.transform([(1, 0)])[0][0] - fig.axes[0].transData.transform(
        [(0, 0)])[0][0]
    assert all(t.get_window_extent(renderer).width < 0.6 * gap for t in ticks)
    assert any("rank by validation accuracy" in ax.get_ylabel() for ax in fig.axes)


def test_zoom_has_a_colour_bar_and_a_legend_for_rounds_and_pruned_trials(study):
    fig = plot.zoom(study)
    assert any(ax.get_ylabel() == "rank by validation accuracy (1: best)" for ax in fig.axes)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels[:3] == ["round 1: its box", "round 2: its box", "round 3: its box"]
    assert "pruned" in labels


def test_learning_curves_by_epoch_each_trial_its_colour_the_best_marked(study):
    fig = plot.learning_curves(study)
    _drawn(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "reported validation accuracy"
    assert all(float(t).is_integer() for t in ax.get_xticks())
    complete = _by_gid(fig, "COMPLETE")[0]
    assert len({tuple(np.round(c, 3)) for c in complete.get_colors()}) == len(complete.get_paths())
    best = _by_gid(fig, "best")[0]
    assert best.get_label() == f"best: trial {study.best.number}"
    assert ax.get_legend() is None and fig.legends           # the legend is below, not over
    assert fig.legends[0].get_window_extent().y1 < ax.get_window_extent().y0


def test_importances_find_the_parameters_the_value_depends_on(study):
    shares = study.importances()
    assert list(shares)[:2] in (["lr", "beta1"], ["beta1", "lr"]) or list(shares)[0] == "lr"
    assert all(0.0 <= v <= 1.0 for v in shares.values())
    fig = plot.contour(study)
    title = fig.axes[0].get_title()
    assert title.startswith(f"validation accuracy over {list(shares)[0]} and {list(shares)[1]}")
    assert _by_gid(fig, "contour") and _by_gid(fig, "best")
    with pytest.raises(ValueError, match="two parameters"):
        plot.contour(study, ["lr"])


def test_edf_counts_trials_at_least_this_good(study):
    fig = plot.edf(study)
    ax = fig.axes[0]
    line = _by_gid(fig, "all")[0]
    x, y = line.get_data()
    assert y[0] == 1.0 and y[-1] == 0.0 and np.all(np.diff(y) <= 0)   # falls as values rise
    assert {ln.get_gid() for ln in ax.get_lines()} >= {"all", "round-1", "round-2", "round-3"}
    assert ax.get_ylabel() == "fraction of trials at least this good"


def test_the_report_leaderboard_and_hover_text(study, tmp_path):
    page = plot.report(study)
    board = page[page.index("<h2>Leaderboard"):page.index("<h2>Figures")]
    header = re.findall(r"<th(?: class=\"text\")?>(.*?)</th>", board)
    assert header[:7] == ["rank", "trial", "validation accuracy", "state", "epochs", "seconds",
                          "rows behind best"]
    assert "on 400 validation rows: one row is 0.0025" in board
    first = re.findall(r"<td(?: class=\"text\")?>(.*?)</td>", board)[:7]
    assert first[3] == "complete" and first[4] == "4" and first[6] == "0"
    # each point and line carries its trial: SVG titles, no links left behind
    titles = re.findall(r"<title>(trial \d+ \([^<]*)</title>", page)
    assert len(titles) > 3 * len(study.trials)
    assert any("lr=" in t and "validation accuracy" in t for t in titles)
    assert "fastnn-hover" not in page and "<a " not in page
    for key in ("history", "slices", "parallel", "contour", "edf", "zoom", "curves"):
        assert f'id="fig-{key}"' in page, key


def test_a_fit_s_curves_tick_whole_epochs():
    import fastnn
    from fastnn.datasets import load_digits

    X, y = load_digits()
    model = fastnn.MLP(hidden=(8,), seed=0)
    model.fit(X[:300], y[:300], epochs=3, validation_data=(X[300:400], y[300:400]))
    fig = plot.learning_curves(model)
    _drawn(fig)
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        assert all(float(t).is_integer() for t in ax.get_xticks()), ax.get_xticks()


def test_every_figure_draws_an_empty_study_and_one_of_few_trials():
    study = Study(None, space={"x": LogUniform(1, 10), "y": IntUniform(0, 3)})
    figures = (plot.history, plot.slices, plot.parallel_coordinates, plot.contour, plot.edf,
               plot.zoom, plot.learning_curves)
    for draw in figures:
        draw(study)
    assert "No complete trial yet" in plot.report(study)

    def two_of_four(params, trial):
        if trial.number % 2:
            raise RuntimeError("no value")
        return params["y"] / 3

    study.optimize(two_of_four, 4)
    for draw in figures:
        draw(study)                  # 2 complete trials: a contour of points alone
    page = plot.report(study)
    assert 'id="fig-edf"' in page and 'id="fig-contour"' not in page
    study.close()


def test_study_show_names_the_metric(tmp_path, capsys):
    from fastnn.cli import main

    path = tmp_path / "named.db"
    with Study(path, space=SPACE, seed=3) as named:
        named.optimize(objective, 4, n_jobs=1)
        best = named.best
    assert main(["study", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"best: trial {best.number}, validation accuracy {best.value:.4f}, lr=" in out


def test_the_leaderboard_follows_the_complete_trials_with_the_best_pruned():
    study = Study(None, space=SPACE, seed=3)
    study.optimize(objective, 14, n_jobs=1, scheduler=_PruneOnes())
    page = plot.report(study)
    board = page[page.index("<h2>Leaderboard"):page.index("<h2>Figures")]
    rows = re.findall(r"<tr>(.*?)</tr>", board)[1:]
    cells = [re.findall(r"<td(?: class=\"text\")?>(.*?)</td>", row) for row in rows]
    complete = [t for t in study.trials if str(t.state) == "COMPLETE"]
    pruned = [t for t in study.trials if str(t.state) == "PRUNED"]
    assert len(complete) < 20 and pruned
    assert [c[3] for c in cells] == ["complete"] * len(complete) + ["pruned"] * min(
        len(pruned), 20 - len(complete))
    assert [c[0] for c in cells[:len(complete)]] == [str(i) for i in range(1, len(complete) + 1)]
    assert all(c[0] == "-" and c[4] == "2" for c in cells[len(complete):])   # stopped at 2
    assert "Pruned trials follow, unranked" in board
    study.close()
