"""Many drivers on one study file: atomic trial numbers, owners and heartbeats, no overwrite."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from fastnn.search import IntUniform, Space, Study, TrialState, Uniform
from fastnn.search.storage import Owner, Storage, StudyFileError
from fastnn.search.trial import Outcome

SEED = 5
DRIVER = """
import json, sys, time
from fastnn.search import IntUniform, Space, Study, Uniform

def objective(params, trial):
    time.sleep(float(sys.argv[4]))
    trial.report(params["x"], 1)
    return params["x"] + params["k"]

space = Space({"x": Uniform(0.0, 1.0), "k": IntUniform(1, 9)})
study = Study(sys.argv[1], space=space, seed=%d, name="many")
ran = study.optimize(objective, n_trials=int(sys.argv[2]), n_jobs=int(sys.argv[3]))
print(json.dumps([t.number for t in ran]))
""" % SEED


def space():
    return Space({"x": Uniform(0.0, 1.0), "k": IntUniform(1, 9)})


def start(path, n_trials, n_jobs=1, sleep=0.0):
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(path), str(n_trials), str(n_jobs),
                             str(sleep)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def integrity(path):
    with closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA integrity_check").fetchall()


def check_trials(study, n):
    """Trials 0..n-1, each once, COMPLETE, with the parameters its number draws and its value."""
    trials = study.trials
    assert [t.number for t in trials] == list(range(n))
    assert all(t.state == TrialState.COMPLETE for t in trials), \
        [(t.number, t.state, t.error) for t in trials if t.state != TrialState.COMPLETE]
    fresh = Study(None, space=space(), seed=SEED)
    fresh.optimize(lambda p, t: (t.report(p["x"], 1), p["x"] + p["k"])[1], n_trials=n)
    assert [t.params for t in trials] == [t.params for t in fresh.trials]
    for t in trials:
        assert t.value == t.params["x"] + t.params["k"]
        assert t.intermediate == ((1, t.params["x"]),)


def test_four_drivers_times_twenty_trials_give_eighty(tmp_path):
    path = tmp_path / "many.db"
    drivers = [start(path, 20, n_jobs=1 + i % 2) for i in range(4)]
    ran = []
    for d in drivers:
        out, err = d.communicate(timeout=120)
        assert d.returncode == 0, err
        ran.append(json.loads(out))
    assert all(len(r) == 20 for r in ran)
    numbers = sorted(n for r in ran for n in r)
    assert numbers == list(range(80))                    # no number taken twice
    assert integrity(path) == [("ok",)]
    with Study(path, name="many") as study:
        check_trials(study, 80)


def running_by(path):
    """owner pid -> trials it has RUNNING, as another process sees the file."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute("SELECT owner_pid, COUNT(*) FROM fastnn_trials "
                              "WHERE state = 'RUNNING' GROUP BY owner_pid").fetchall()
    except sqlite3.OperationalError:       # not created yet
        return {}
    return dict(rows)


def test_killed_and_restarted_drivers_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "killed.db"
    rng = random.Random(0)
    drivers = [start(path, 10, n_jobs=2, sleep=0.05) for _ in range(3)]
    orphaned, deadline = [], time.monotonic() + 120
    while len(orphaned) < 3 and time.monotonic() < deadline:
        busy = running_by(path)
        victims = [d for d in drivers if d.poll() is None and d.pid in busy]
        if not victims:
            time.sleep(0.02)
            continue
        victim = rng.choice(victims)
        victim.send_signal(signal.SIGKILL)      # in the middle of its trials
        victim.communicate()                    # reaped: its pid is gone
        orphaned.append(busy[victim.pid])
        drivers.append(start(path, 6, n_jobs=2, sleep=0.05))
    assert len(orphaned) == 3 and sum(orphaned) >= 3
    finished = []                               # what each driver that was not killed ran
    for d in drivers:
        out, err = d.communicate(timeout=120)
        assert d.returncode in (0, -signal.SIGKILL), err
        assert "Error" not in err
        if d.returncode == 0:
            finished.append(json.loads(out))
    assert finished and all(len(ran) in (6, 10) for ran in finished)
    numbers = [n for ran in finished for n in ran]
    assert len(set(numbers)) == len(numbers)    # no trial run by two drivers to the end
    assert integrity(path) == [("ok",)]
    with Study(path, name="many") as study:
        left = [t for t in study.trials if t.state != TrialState.COMPLETE]
        assert all(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in left)
        if left:                                # a last driver's leftovers run here
            study.optimize(lambda p, t: (t.report(p["x"], 1), p["x"] + p["k"])[1],
                           n_trials=len(left))
        n = len(study.trials)
        assert n >= len(numbers)
        check_trials(study, n)


def outcome(value):
    now = time.time()
    return Outcome(TrialState.COMPLETE, value, [(1, value)], {}, None, None, now, now)


def claim(storage, study_id, owner):
    return storage.claim(study_id, owner, "x", None, lambda n: {"x": n / 10},
                         lambda n: n)[0]


@pytest.fixture
def storage(tmp_path):
    storage = Storage(tmp_path / "s.db")
    study_id = storage.create_study("s", "maximize", 0, "random", {}, None, "x")
    yield storage, study_id
    storage.close()


def set_owner(path, number, pid, host, age):
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE fastnn_trials SET owner_pid = ?, owner_host = ?, heartbeat = ? "
                   "WHERE number = ?", (pid, host, time.time() - age, number))


def states(storage, study_id):
    return [str(t.state) for t in storage.trials(study_id)]


def test_a_running_trial_is_requeued_only_when_its_owner_is_gone(storage):
    storage, sid = storage
    other = Owner("d1", 1, "elsewhere")
    assert [claim(storage, sid, other) for _ in range(4)] == [0, 1, 2, 3]
    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        set_owner(storage.path, 0, 1, "elsewhere", age=5)           # another host, fresh
        set_owner(storage.path, 1, 1, "elsewhere", age=600)         # another host, stale
        set_owner(storage.path, 2, sleeper.pid, Owner.new().host, age=5)   # alive here
        set_owner(storage.path, 3, dead.pid, Owner.new().host, age=5)      # ended here
        assert storage.requeue_orphans(sid) == 2
        assert states(storage, sid) == ["RUNNING", "WAITING", "RUNNING", "WAITING"]
        # the next claims take the re-queued trials first, same parameters
        assert claim(storage, sid, other) == 1 and claim(storage, sid, other) == 3
        assert claim(storage, sid, other) == 4
        assert [t.params["x"] for t in storage.trials(sid)] == [0.0, 0.1, 0.2, 0.3, 0.4]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_driver_of_this_process_owns_its_trials_until_it_ends(storage):
    storage, sid = storage
    storage.heartbeat_interval = 0.05
    with storage.driver() as owner:
        number = claim(storage, sid, owner)
        set_owner(storage.path, number, owner.pid, owner.host, age=600)
        assert storage.requeue_orphans(sid) == 0                   # alive: not taken
        time.sleep(0.3)
        (beat,), = storage._run("SELECT heartbeat FROM fastnn_trials WHERE number = ?",
                                (number,))
        assert time.time() - beat < 5                               # refreshed by the driver
    assert states(storage, sid) == ["WAITING"]                      # an interrupted driver's
    with storage.driver() as owner:                                 # trial runs again
        assert claim(storage, sid, owner) == number
    storage.heartbeat_timeout = 0.0
    with storage.driver() as owner:
        claim(storage, sid, owner)
        assert storage.requeue_orphans(sid) == 0   # a live driver here: its pid, not its beat


def test_a_stored_result_is_never_overwritten(storage):
    storage, sid = storage
    owner = Owner.new()
    number = claim(storage, sid, owner)
    assert storage.finish_trial(sid, number, outcome(1.0)) is True
    assert storage.finish_trial(sid, number, outcome(2.0)) is False
    assert storage.release(sid, number, owner) is False
    (t,) = storage.trials(sid)
    assert t.state == TrialState.COMPLETE and t.value == 1.0 and t.intermediate == ((1, 1.0),)


def test_a_late_result_of_a_presumed_dead_driver_is_dropped(tmp_path):
    path = tmp_path / "late.db"
    study = Study(path, space=space(), seed=SEED, name="many")
    study.optimize(lambda p, t: 1.0, n_trials=1)
    second = Study(path, name="many")
    seen = []

    def late(params, trial):
        # meanwhile another driver stores trial 1's result
        study._storage.finish_trial(study._id, trial.number, outcome(7.0))
        seen.append(trial.number)
        return 3.0

    ran = second.optimize(late, n_trials=1)
    assert seen == [1] and ran[0].value == 7.0
    assert [t.value for t in study.trials] == [1.0, 7.0]
    study.close(), second.close()


def test_a_busy_file_is_waited_for_then_named(storage):
    storage, sid = storage
    holder = sqlite3.connect(storage.path, isolation_level=None, timeout=0,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")                 # another process writing, for a while
    release = threading.Timer(0.3, holder.execute, ("COMMIT",))
    release.start()
    assert claim(storage, sid, Owner.new()) == 0      # waited for the lock, then went on
    release.join()
    holder.execute("BEGIN IMMEDIATE")
    storage.busy_timeout = 0.2
    try:
        with pytest.raises(StudyFileError, match=r"s\.db' stayed locked by another process "
                                                 r"for more than 0\.2 s"):
            claim(storage, sid, Owner.new())
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert [t.number for t in storage.trials(sid)] == [0]


def test_two_drivers_retesting_at_once_each_get_a_retest_number(tmp_path):
    path = tmp_path / "retest.db"
    first = Study(path, space=space(), seed=SEED, name="many")
    first.optimize(lambda p, t: p["x"], n_trials=4)
    second = Study(path, name="many")

    def slow(params, trial):
        time.sleep(0.05)
        return params["x"] + trial.seed

    runs = [threading.Thread(target=s.retest, args=(slow,), kwargs={"top_k": 2, "seeds": (0, 1)})
            for s in (first, second)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    rows = first.retests()
    assert sorted({r["retest"] for r in rows}) == [0, 1] and len(rows) == 8
    assert all(r["state"] == "COMPLETE" for r in rows)
    first.close(), second.close()
