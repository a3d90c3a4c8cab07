"""trial_timeout= stops a trial (between epochs, killed, or left behind); timeout= bounds a study."""

import functools
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import fastnn.search.study
from fastnn.search import MLPObjective, Space, Study, TrialState, Uniform
from fastnn.search.executors import TrialProcesses, run_jobs

SPACE = Space({"x": Uniform(0.0, 1.0)})
RELEASE = threading.Event()         # lets threads left hanging end after each test


@pytest.fixture(autouse=True)
def release_hung_threads():
    RELEASE.clear()
    yield
    RELEASE.set()


def optimize_bounded(study, *args, **kwargs):
    """Run study.optimize in a thread; fail (instead of hanging) if it does not return."""
    result = {}
    driver = threading.Thread(target=lambda: result.setdefault(
        "ran", study.optimize(*args, **kwargs)), daemon=True)
    driver.start()
    driver.join(60)
    assert not driver.is_alive(), "optimize did not return"
    return result["ran"]


class HangOnTrialZero:
    """Trial 0 never returns (in a child process); module level, so processes can run it."""

    def __init__(self, pids=None):
        self.pids = pids                   # a file where trial 0 writes its process id

    def __call__(self, params, trial):
        trial.report(0.5, 1)
        if trial.number == 0:
            if self.pids is not None:
                with open(self.pids, "a") as f:
                    f.write(f"{os.getpid()}\n")
            while not RELEASE.wait(0.05):
                pass
        return params["x"]


def hang_always(params, trial):
    time.sleep(3600)


@pytest.fixture
def forkserver():
    """Trial processes fork from a forkserver that their first start launches (a new
    interpreter importing fastnn.search: ~1 s on a busy machine); launched and waited for
    here, it does not eat into the time limits a test sets."""
    TrialProcesses()                    # sets the forkserver's preload, as trials have it
    process = multiprocessing.get_context("forkserver").Process(target=os.getpid)
    process.start()
    process.join()


def test_a_thread_that_never_returns_is_failed_and_the_study_goes_on():
    study = Study(None, space=SPACE, seed=0)
    ran = optimize_bounded(study, HangOnTrialZero(), n_trials=5, n_jobs=1, trial_timeout=0.4)
    assert [t.number for t in ran] == [0, 1, 2, 3, 4]
    first, rest = ran[0], ran[1:]
    assert first.state == TrialState.FAILED and first.error == "timed out after 0.4 s"
    assert first.intermediate == ((1, 0.5),)              # what it reported before hanging
    assert all(t.state == TrialState.COMPLETE and t.value == t.params["x"] for t in rest)


def test_mlp_objective_stops_between_epochs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    objective = MLPObjective(X[:150], y[:150], X[150:], y[150:], max_epochs=100_000)
    objective.train({"lr": 0.01}, epochs=1)             # a first fit pays one-time costs
    study = Study(None, space=Space({"lr": Uniform(0.001, 0.01)}), seed=0)
    (t,) = optimize_bounded(study, objective, n_trials=1, trial_timeout=0.5)
    assert t.state == TrialState.FAILED and t.error == "timed out after 0.5 s"
    assert 1 <= len(t.intermediate) < 100_000
    deadline = time.monotonic() + 10                   # its thread stops after an epoch
    while any(th.name.startswith("fastnn-trial") for th in threading.enumerate()):
        assert time.monotonic() < deadline, "the trial's thread did not stop"
        time.sleep(0.02)


def test_a_process_past_its_time_is_killed(tmp_path, forkserver):
    # a trial's time runs from when its process starts it: trials 1 and 2 take well under
    # a millisecond of it, trial 0 writes its pid at once and then hangs
    pids = tmp_path / "pids"
    study = Study(None, space=SPACE, seed=0)
    ran = optimize_bounded(study, HangOnTrialZero(str(pids)), n_trials=3, n_jobs=2,
                           executor="process", trial_timeout=0.5)
    assert [str(t.state) for t in ran] == ["FAILED", "COMPLETE", "COMPLETE"]
    assert ran[0].error == "timed out after 0.5 s"
    (pid,) = [int(line) for line in pids.read_text().split()]
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):              # killed and reaped
        assert time.monotonic() < deadline, "the trial's process was not killed"
        time.sleep(0.02)


@pytest.mark.parametrize("executor", [None, "process"])
def test_timeout_bounds_a_study_whose_trials_never_return(executor, request, monkeypatch):
    if executor == "process":           # both trials start before the timeout
        request.getfixturevalue("forkserver")
    # trials that never return are put back however long they were given to stop by
    # themselves after the timeout (STOP_GRACE, 1 s): a tenth of a second here
    monkeypatch.setattr(fastnn.search.study, "run_jobs", functools.partial(run_jobs, grace=0.1))
    study = Study(None, space=SPACE, seed=0)
    ran = optimize_bounded(study, hang_always, n_trials=10, n_jobs=2, executor=executor,
                           timeout=0.5)
    assert ran == []                                   # nothing finished...
    assert [str(t.state) for t in study.trials] == ["WAITING", "WAITING"]   # ...nor lost
    ran = study.optimize(lambda p, t: p["x"], n_trials=3)
    assert [t.number for t in ran] == [0, 1, 2]       # they run first next time
    assert all(t.state == TrialState.COMPLETE for t in ran)


def test_at_the_timeout_trials_that_stop_are_pruned():
    def patient(params, trial):
        for step in range(1, 100_000):
            trial.report(params["x"] / step, step)
            if trial.should_stop():
                return params["x"] / step
            time.sleep(0.01)
        return 0.0

    study = Study(None, space=SPACE, seed=0)
    ran = optimize_bounded(study, patient, n_trials=5, n_jobs=2, timeout=0.3)
    assert len(ran) == 2
    for t in ran:
        assert t.state == TrialState.PRUNED and t.error is None
        assert t.value == t.intermediate[-1][1] and len(t.intermediate) >= 2


@pytest.mark.parametrize("bad", [0, -1.0, "1", True])
def test_bad_trial_timeouts(bad):
    study = Study(None, space=SPACE, seed=0)
    with pytest.raises(ValueError, match="trial_timeout must be a positive number of seconds"):
        study.optimize(lambda p, t: 0.0, n_trials=1, trial_timeout=bad)
