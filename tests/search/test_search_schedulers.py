"""ASHA and the median rule on synthetic learning curves whose fate is known."""

import pytest

from fastnn.search import ASHA, MedianStopping, Space, Study, TrialState, Uniform

# ASHA(grace_period=1, reduction_factor=3, max_resource=9): rungs at steps 1 and 3.
# Trials run one after another; trial i reports LEVELS[i] at every step 1..9.
# At a rung holding n values a trial goes on if it is among the top max(1, n // 3):
#  t0 0.50  rung 1: [.5] best -> on; rung 3: [.5] -> on                  COMPLETE
#  t1 0.40  rung 1: top 1 of 2 is .5 -> stop at 1                        PRUNED
#  t2 0.60  rung 1: best of 3 -> on; rung 3: best of [.5 .6] -> on      COMPLETE
#  t3 0.45  rung 1: top 1 of 4 is .6 -> stop at 1
#  t4 0.70  rung 1: best of 5 -> on; rung 3: best of 3 -> on            COMPLETE
#  t5 0.30  rung 1: top 2 of 6 are .7 .6 -> stop at 1
#  t6 0.55  rung 1: top 2 of 7 are .7 .6 -> stop at 1
#  t7 0.65  rung 1: top 2 of 8 are .7 .65 -> on; rung 3: top 1 of 4 is .7 -> stop at 3
#  t8 0.20  stop at 1
LEVELS = [0.50, 0.40, 0.60, 0.45, 0.70, 0.30, 0.55, 0.65, 0.20]
ASHA_STEPS = [9, 1, 9, 1, 9, 1, 1, 3, 1]

# MedianStopping(grace_period=1, min_trials=2), steps 1..5:
#  t0 .50, t1 .40: fewer than 2 others -> complete; t2 .60: median(.5, .4) = .45 -> complete
#  t3 .45: median(.5 .4 .6) = .5 -> stop at 1; t4 .70 -> complete
#  t5 .52: step 1: median(.5 .4 .6 .45 .7) = .5 -> on;
#          step 2: median(.5 .4 .6 .7) = .55 (t3 stopped at 1) -> stop at 2
MEDIAN_LEVELS = [0.50, 0.40, 0.60, 0.45, 0.70, 0.52]
MEDIAN_STEPS = [5, 5, 5, 1, 5, 2]


def curve_objective(levels, n_steps, sign=1.0):
    def objective(params, trial):
        value = sign * levels[trial.number]
        for step in range(1, n_steps + 1):
            trial.report(value, step)
            if trial.should_stop():
                break
        return value
    return objective


def run(levels, n_steps, scheduler, direction="maximize", sign=1.0, **kw):
    study = Study(None, space=Space({"x": Uniform(0, 1)}), direction=direction, seed=0)
    study.optimize(curve_objective(levels, n_steps, sign), n_trials=len(levels),
                   scheduler=scheduler, **kw)
    return study


def fates(study):
    return [len(t.intermediate) for t in study.trials], [t.state for t in study.trials]


@pytest.mark.parametrize("direction, sign", [("maximize", 1.0), ("minimize", -1.0)])
def test_asha_stops_each_trial_at_the_rung_it_must(direction, sign):
    study = run(LEVELS, 9, ASHA(1, 3, max_resource=9), direction, sign)
    steps, states = fates(study)
    assert steps == ASHA_STEPS
    assert states == [TrialState.COMPLETE if s == 9 else TrialState.PRUNED for s in ASHA_STEPS]
    pruned = study.trials[7]
    assert pruned.value == sign * 0.65 and pruned.intermediate == tuple(
        (s, sign * 0.65) for s in (1, 2, 3))


def test_asha_rungs_directly():
    asha = ASHA(grace_period=2, reduction_factor=2, max_resource=16, direction="minimize")
    assert [asha.rung_step(k) for k in range(4)] == [2, 4, 8, 16]
    assert asha.report(0, 1, 5.0) is False          # before the grace period
    assert asha.report(0, 2, 5.0) is False          # first at rung 0
    assert asha.report(1, 2, 6.0) is True           # top 1 of [5, 6] is 5
    assert asha.report(2, 3, 1.0) is False          # first report past rung 0 records it there
    assert asha.rungs[0] == {0: 5.0, 1: 6.0, 2: 1.0}
    assert asha.report(2, 9, 1.0) is False          # passes rungs 4 and 8 at once
    assert asha.rungs[1] == {2: 1.0} and asha.rungs[2] == {2: 1.0}
    assert asha.report(2, 16, 1.0) is False and len(asha.rungs) == 3   # 16 = max: no rung
    assert asha.report(3, 2, 5.5) is True           # top 2 of 4 at rung 0: 1, 5
    # replaying a report already recorded changes nothing
    assert asha.report(1, 2, 0.0) is False and asha.rungs[0][1] == 6.0


def test_asha_replays_stored_reports_when_a_study_goes_on():
    study = run(LEVELS[:5], 9, ASHA(1, 3, max_resource=9))
    objective = curve_objective(LEVELS, 9)
    study.optimize(objective, n_trials=4, scheduler=ASHA(1, 3, max_resource=9))
    assert fates(study)[0] == ASHA_STEPS


def test_median_rule():
    study = run(MEDIAN_LEVELS, 5, MedianStopping(grace_period=1, min_trials=2))
    steps, states = fates(study)
    assert steps == MEDIAN_STEPS
    assert states == [TrialState.COMPLETE if s == 5 else TrialState.PRUNED for s in MEDIAN_STEPS]
    study = run(MEDIAN_LEVELS, 5, MedianStopping(1, 2), "minimize", -1.0)
    assert fates(study)[0] == MEDIAN_STEPS


def test_median_rule_grace_period_and_min_trials():
    rule = MedianStopping(grace_period=3, min_trials=1, direction="maximize")
    rule.report(0, 1, 1.0), rule.report(0, 3, 1.0)
    assert rule.report(1, 1, 0.0) is False                      # step 1 < grace period 3
    assert rule.report(1, 3, 0.0) is True
    assert MedianStopping(1, 5, "maximize").report(0, 1, 0.0) is False   # too few others


def test_scheduler_direction_must_match_the_study():
    with pytest.raises(ValueError, match="made for direction='minimize'"):
        run(LEVELS, 2, ASHA(direction="minimize"))


@pytest.mark.parametrize("make, match", [
    (lambda: ASHA(grace_period=0), "grace_period must be an integer >= 1"),
    (lambda: ASHA(reduction_factor=1), "reduction_factor must be an integer >= 2"),
    (lambda: ASHA(max_resource=2.5), "max_resource"),
    (lambda: ASHA(direction="up"), "direction"),
    (lambda: MedianStopping(min_trials=0), "min_trials"),
    (lambda: MedianStopping(grace_period=-1), "grace_period"),
])
def test_bad_scheduler_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
