"""fastnn.plot: what the figures hold (scales, ticks, points, states, boxes), not only that they exist."""

import numpy as np
import pytest

import fastnn
from fastnn import plot
from fastnn.datasets import load_digits
from fastnn.search import Babysitter, Study, TrialState

from _plot_study import make_study, objective


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    study = make_study(tmp_path_factory.mktemp("plot") / "study.db")
    yield study
    study.close()


def _ax(fig, title):
    return next(ax for ax in fig.axes if ax.get_title() == title)


def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _states(study):
    trials = study.trials
    return {s: [t for t in trials if t.state == s]
            for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)}


def test_the_fixture_study_has_every_end_state_and_three_rounds(study):
    states = _states(study)
    assert all(len(v) >= 2 for v in states.values()), {k: len(v) for k, v in states.items()}
    assert [r["round"] for r in study.rounds()] == [1, 2, 3]


def test_slices_draw_each_parameter_on_its_own_scale(study):
    fig = plot.slices(study)
    assert _ax(fig, "lr").get_xscale() == "log"
    assert _ax(fig, "units").get_xscale() == "log"
    assert _ax(fig, "n_layers").get_xscale() == "linear"
    labels = [t.get_text() for t in _ax(fig, "lr").get_xticklabels()]
    assert labels == ["0.0001", "0.001", "0.01", "0.1"]
    # 1 - beta: ticks read as beta, equally spaced, beta growing to the right
    beta = _ax(fig, "beta1")
    assert beta.get_xscale() == "function"
    assert [t.get_text() for t in beta.get_xticklabels()] == ["0.9", "0.99", "0.999"]
    px = beta.transData.transform([(b, 0) for b in (0.9, 0.99, 0.999)])[:, 0]
    assert px[0] < px[1] < px[2]
    assert np.isclose(px[1] - px[0], px[2] - px[1], rtol=1e-6)
    # a Choice: one slot per option, labelled with it
    choice = _ax(fig, "batch_size")
    assert [t.get_text() for t in choice.get_xticklabels()] == ["16", "32", "64"]
    assert choice.get_xlim() == (-0.5, 2.5)


def test_slices_mark_complete_pruned_and_failed_trials_apart(study):
    states = _states(study)
    ax = _ax(plot.slices(study), "lr")
    for state, trials in states.items():
        (points,) = _gid(ax, str(state))
        assert len(points.get_offsets()) == len(trials), state
    complete = np.asarray(_gid(ax, "COMPLETE")[0].get_offsets())
    assert sorted(complete[:, 0]) == pytest.approx(sorted(t.params["lr"]
                                                          for t in states[TrialState.COMPLETE]))
    assert sorted(complete[:, 1]) == pytest.approx(sorted(t.value
                                                          for t in states[TrialState.COMPLETE]))
    # failed trials have no value: crosses on the bottom edge (axes coordinates)
    failed = _gid(ax, "FAILED")[0]
    assert np.allclose(np.asarray(failed.get_offsets())[:, 1], 0.02)
    y_px = failed.get_offset_transform().transform([(1e-3, 0.02)])[0, 1]
    assert y_px == pytest.approx(ax.transAxes.transform([(0, 0.02)])[0, 1])
    (best,) = _gid(ax, "best")
    assert best.get_offsets()[0][1] == pytest.approx(study.best.value)
    # a few integer or option slots: points spread a little around their slot, never past it
    for name in ("n_layers", "batch_size"):
        x = np.asarray(_gid(_ax(ax.figure, name), "COMPLETE")[0].get_offsets())[:, 0]
        dist = study.space[name]
        slots = sorted(plot.scales.position(dist, t.params[name])
                       for t in states[TrialState.COMPLETE])
        assert sorted(np.round(x)) == slots and np.abs(x - np.round(x)).max() <= 0.15 + 1e-9
        assert np.abs(x - np.round(x)).max() > 0
        lo, hi = _ax(ax.figure, name).get_xlim()
        assert lo < x.min() - 0.3 and x.max() + 0.3 < hi                # well inside the axes


def test_history_shows_best_so_far_and_round_boundaries(study):
    ax = plot.history(study).axes[0]
    (best,) = _gid(ax, "best so far")
    y = best.get_ydata()
    assert np.all(np.diff(y) >= 0) and y[-1] == pytest.approx(study.best.value)
    for rec in study.rounds()[1:]:
        (line,) = _gid(ax, f"round-{rec['round']}")
        assert line.get_xdata()[0] == min(rec["trials"]) - 0.5
    assert not _gid(ax, "round-1")


def test_zoom_draws_each_rounds_box_on_the_parameters_scale(study):
    fig = plot.zoom(study)
    lr, choice = _ax(fig, "lr"), _ax(fig, "batch_size")
    assert lr.get_xscale() == "log"
    for rec in study.rounds():
        (box,) = _gid(lr, f"round-{rec['round']}")
        x = box.get_paths()[0].vertices[:, 0]
        assert (x.min(), x.max()) == pytest.approx(tuple(rec["ranges"]["lr"]))
        y = box.get_paths()[0].vertices[:, 1]
        assert (y.min(), y.max()) == (min(rec["trials"]) - 0.5, max(rec["trials"]) + 0.5)
        (opts,) = _gid(choice, f"round-{rec['round']}")
        assert opts.get_paths()[0].vertices[:, 0].min() == -0.5   # every option, every round
    boxes = [tuple(r["ranges"]["lr"]) for r in study.rounds()]
    assert boxes[2][1] - boxes[2][0] < boxes[0][1] - boxes[0][0]     # it zoomed in
    assert lr.yaxis_inverted()                                        # round 1 on top


def test_parallel_coordinates_one_line_per_trial_on_unit_scales(study):
    states = _states(study)
    ax = plot.parallel_coordinates(study).axes[0]
    (complete,) = _gid(ax, "COMPLETE")
    (pruned,) = _gid(ax, "PRUNED")
    assert len(complete.get_segments()) == len(states[TrialState.COMPLETE])
    assert len(pruned.get_segments()) == len(states[TrialState.PRUNED])
    lr = study.space["lr"]
    worst = min(states[TrialState.COMPLETE], key=lambda t: (t.value, -t.number))
    seg = complete.get_segments()[0]                     # drawn first: the best on top
    assert seg[0][1] == pytest.approx(lr.to_unit(worst.params["lr"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == study.space.names + ["value"]


def test_learning_curves_of_a_study_one_line_per_reporting_trial(study):
    ax = plot.learning_curves(study).axes[0]
    for state, trials in _states(study).items():
        (lines,) = _gid(ax, str(state))
        assert len(lines.get_segments()) == len([t for t in trials if t.intermediate])
    pruned = _gid(ax, "PRUNED")[0].get_segments()
    assert all(len(seg) == 2 for seg in pruned)          # stopped at their second report


def test_learning_curves_of_a_fit_and_of_a_model():
    X, y = load_digits()
    model = fastnn.MLP(hidden=(16,), seed=0)
    history = model.fit(X[:600], y[:600], epochs=3, validation_data=(X[600:900], y[600:900]))
    for source in (history, model):
        fig = plot.learning_curves(source)
        loss, acc = fig.axes
        (line,) = _gid(loss, "val_loss")
        assert list(line.get_xdata()) == [1, 2, 3]
        assert list(line.get_ydata()) == pytest.approx(history["val_loss"])
        assert {a.get_gid() for a in acc.get_lines()} == {"accuracy", "val_accuracy"}
    with pytest.raises(ValueError, match="fit it first"):
        plot.learning_curves(fastnn.MLP(hidden=(4,)))


def test_learning_curves_of_a_babysitting_run_mark_nudges_and_rollbacks(tmp_path):
    X, y = load_digits()
    run = tmp_path / "run"
    sitter = Babysitter(fastnn.MLP(hidden=(16,), seed=0), X[:400], y[:400], (X[400:600], y[400:600]),
                        run, fastnn.Adam(lr=0.01), batch_size=64)
    sitter.train(2)
    sitter.nudge(factor=0.5)
    sitter.train(1)
    sitter.rollback(2)
    sitter.train(1)
    for source in (run, str(run), sitter):
        fig = plot.learning_curves(source)
        top = fig.axes[0]
        assert [a.get_gid() for a in top.get_lines() if (a.get_gid() or "")[:5] in
                ("rollb", "nudge")] == ["nudge-1", "rollback-1"]
        (loss,) = _gid(top, "loss")
        assert np.isfinite(loss.get_ydata()).sum() == 4        # every epoch run
        assert np.isnan(loss.get_ydata()).sum() == 1           # no line across the rollback
        lr = _gid(fig.axes[-1], "lr")[0].get_ydata()
        assert list(lr) == pytest.approx([0.01, 0.01, 0.005, 0.005])


def test_figures_check_their_inputs(study):
    with pytest.raises(TypeError, match="study must be a fastnn.search.Study"):
        plot.slices("study.db")
    with pytest.raises(ValueError, match="params must name parameters"):
        plot.slices(study, params=["nope"])
    with pytest.raises(TypeError, match="params must be a list"):
        plot.zoom(study, params="lr")
    with pytest.raises(TypeError, match="source must be"):
        plot.learning_curves(42)
    with pytest.raises(FileNotFoundError, match="holds no babysitting run"):
        plot.learning_curves(".")


def test_rounds_are_stored_with_the_study(study):
    again = Study(study.storage_path)
    try:
        assert again.rounds() == study.rounds()
        assert [r["call"] for r in again.rounds()] == [0, 0, 0]
        again.optimize(objective, 4, rounds=2)                 # a second call adds its rounds
        assert [(r["call"], r["round"]) for r in again.rounds()] == [
            (0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]
        assert again.rounds()[3]["trials"] == [24, 25]
        ax = plot.history(again).axes[0]
        (call,) = _gid(ax, "call-2")
        assert call.get_xdata()[0] == 23.5 and len(_gid(ax, "round-2")) == 2
    finally:
        again.close()


def test_import_plot_loads_no_matplotlib_and_says_what_to_install(fresh_python):
    code = ("import sys, fastnn, fastnn.plot, fastnn.search\n"
            "assert not {'matplotlib', 'tqdm'} & set(sys.modules), 'imported too early'\n"
            "sys.modules['matplotlib'] = None   # as if it were not installed\n"
            "from fastnn.search import Study, LogUniform\n"
            "s = Study(None, space={'x': LogUniform(1, 10)})\n"
            "try:\n    fastnn.plot.history(s)\nexcept ImportError as e:\n    print(e)\n")
    out = fresh_python(code, timeout=120)              # a process that has not loaded either
    assert out.returncode == 0, out.stderr
    assert "needs matplotlib: pip install matplotlib" in out.stdout
    assert "fastnn[" not in out.stdout                  # names the package, not an extra
