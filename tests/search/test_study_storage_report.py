"""trial.report(value, step), Optuna's order; fastnn 0.1's (step, value) fails loudly."""

import pytest

from fastnn.search import MLPObjective, Space, Study, TrialState, Uniform
from fastnn.search.trial import Trial


def test_report_takes_value_then_step():
    trial = Trial(0, {}, 0, 1)
    trial.report(0.25, 1)
    trial.report(value=0.5, step=2)
    trial.report(3, 3)                        # an integer value is a value
    assert trial._reports == [(1, 0.25), (2, 0.5), (3, 3.0)]


@pytest.mark.parametrize("args, error, match", [
    ((1, 0.93), TypeError, r"step must be an integer; got 0\.93; did you mean "
                           r"trial\.report\(0\.93, 1\)\? The order is \(value, step\)"),
    ((0.5, 2.0), TypeError, r"step must be an integer; got 2\.0$"),
    ((0.5, "2"), TypeError, "step must be an integer"),
    (("0.5", 2), TypeError, "value must be a real number; got '0.5'"),
    ((0.5, True), TypeError, "step must be an integer"),
    ((0.5, -1), ValueError, "step must be >= 0; got -1"),
])
def test_bad_reports_raise_and_store_nothing(args, error, match):
    trial = Trial(0, {}, 0, 1)
    with pytest.raises(error, match=match):
        trial.report(*args)
    assert trial._reports == []


def test_an_old_order_call_fails_the_trial_with_the_hint():
    def old_order(params, trial):
        for epoch in range(1, 3):
            trial.report(epoch, params["x"])      # fastnn 0.1's (step, value)
        return params["x"]

    study = Study(None, space=Space({"x": Uniform(0.1, 0.9)}), seed=0)
    study.optimize(old_order, n_trials=2)
    for t in study.trials:
        assert t.state == TrialState.FAILED and t.intermediate == ()
        assert "did you mean trial.report(" in t.error and "(value, step)" in t.error


def test_mlp_objective_reports_accuracies_by_epoch():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    objective = MLPObjective(X[:80], y[:80], X[80:], y[80:], max_epochs=3)
    study = Study(None, space=Space({"lr": Uniform(0.001, 0.01)}), seed=0)
    (t,) = study.optimize(objective, n_trials=1)
    assert [s for s, _ in t.intermediate] == [1, 2, 3]
    assert all(0.0 <= v <= 1.0 for _, v in t.intermediate)
    assert t.intermediate[-1][1] == t.value
