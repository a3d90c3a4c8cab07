"""A driver killed mid-study (SIGKILL) loses nothing: re-open and go on."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest

from fastnn.search import Study, TrialState

N_TRIALS, N_DONE_BEFORE_KILL = 20, 6

# Trials 0..5 finish; trials 6 and 7 (two workers) hang until the driver is killed.
DRIVER = f"""
import math, sys, time
from fastnn.search import IntUniform, LogUniform, Space, Study

def objective(params, trial):
    if trial.number >= {N_DONE_BEFORE_KILL}:
        time.sleep(600)
    return -abs(math.log10(params["lr"]) + 2.5) + 0.1 * params["k"]

space = Space({{"lr": LogUniform(1e-4, 1e-1), "k": IntUniform(1, 5)}})
Study(sys.argv[1], space=space, seed=7, name="crash").optimize(
    objective, n_trials={N_TRIALS}, n_jobs=2)
"""


def objective(params, trial):
    import math

    return -abs(math.log10(params["lr"]) + 2.5) + 0.1 * params["k"]


def counts(path):
    """Trials per state, as another process sees the file (empty until it exists)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM fastnn_trials GROUP BY state"))
    except sqlite3.OperationalError:   # file or table not created yet
        return {}


def run_and_kill(path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while counts(path) != {"COMPLETE": N_DONE_BEFORE_KILL, "RUNNING": 2}:
            if driver.poll() is not None:
                pytest.fail(f"the driver exited early: {driver.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the driver did not reach 6 done + 2 running: {counts(path)}")
            time.sleep(0.05)
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        driver.stdout.close(), driver.stderr.close()


def test_resume_after_the_driver_is_killed(tmp_path):
    path = tmp_path / "crash.db"
    run_and_kill(path)
    study = Study(path, name="crash")
    before = {t.number: t for t in study.trials}
    done = [n for n, t in before.items() if t.state == TrialState.COMPLETE]
    running = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert done == list(range(6)) and running == [6, 7]

    ran = study.optimize(objective, n_trials=N_TRIALS - len(done), n_jobs=2)
    assert [t.number for t in ran] == list(range(6, N_TRIALS))     # 6, 7 re-run first
    after = study.trials
    assert [t.number for t in after] == list(range(N_TRIALS))      # none lost, none twice
    assert all(t.state == TrialState.COMPLETE for t in after)
    for n in done:                                                 # finished ones untouched
        assert after[n] == before[n]
    for n in running:                                              # same number, same params
        assert after[n].params == before[n].params and after[n].datetime_end is not None

    fresh = Study(None, space=study.space, seed=7)
    fresh.optimize(objective, n_trials=N_TRIALS)
    assert [(t.params, t.value) for t in after] == [(t.params, t.value) for t in fresh.trials]
