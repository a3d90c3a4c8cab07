"""Study files: prefixed tables, a schema version, 0.1 files migrated on open."""

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fastnn.search import Study, TrialState
from fastnn.search.storage import SCHEMA_VERSION, Storage

FIXTURE = Path(__file__).parent.parent / "data" / "study-0.1.db"
OPTUNA_TABLES = {"studies", "trials", "version_info", "alembic_version", "trial_values",
                 "trial_params", "trial_intermediate_values", "study_directions"}


def tables(path):
    with closing(sqlite3.connect(path)) as db:
        return {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def old_rows(path):
    """The 0.1 file's trials and retests, read with plain sqlite3 before it is migrated."""
    with closing(sqlite3.connect(path)) as db:
        names = dict(db.execute("SELECT study_id, name FROM studies"))
        trials = {(names[s], n): (state, json.loads(p), v, json.loads(i), json.loads(u), seed, e)
                  for s, n, state, p, v, i, u, seed, e in db.execute(
                      "SELECT study_id, number, state, params, value, intermediate, user_attrs, "
                      "seed, error FROM trials")}
        retests = db.execute("SELECT retest, number, seed, state, value FROM retests "
                             "ORDER BY retest, number, seed").fetchall()
    return trials, retests


@pytest.fixture
def old_file(tmp_path):
    path = tmp_path / "study.db"
    shutil.copy(FIXTURE, path)
    return path


def test_new_files_have_prefixed_tables_and_a_schema_version(tmp_path):
    path = tmp_path / "new.db"
    Storage(path).close()
    assert tables(path) >= {"fastnn_schema", "fastnn_studies", "fastnn_trials",
                            "fastnn_retests"}
    assert not tables(path) & OPTUNA_TABLES
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version FROM fastnn_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_a_0_1_file_is_migrated_with_every_trial_and_value(old_file):
    assert {"studies", "trials", "retests"} <= tables(old_file)
    trials, retests = old_rows(old_file)
    states = [trials[k][0] for k in sorted(trials) if k[0] == "fixture"]
    assert {"COMPLETE", "PRUNED", "FAILED", "WAITING", "RUNNING"} <= set(states)

    study = Study(old_file, name="fixture")
    assert not tables(old_file) & OPTUNA_TABLES           # the old names are gone
    assert study.seed == 12 and study.direction == "maximize"
    assert study.data_fingerprint == "abc123"
    got = {("fixture", t.number): t for t in study.trials}
    with Study(old_file, name="second") as second:
        assert second.direction == "minimize"
        got.update({("second", t.number): t for t in second.trials})
    assert set(got) == set(trials)
    for key, (state, params, value, inter, attrs, seed, error) in trials.items():
        t = got[key]
        assert (str(t.state), t.params, t.value, t.user_attrs, t.seed, t.error) == \
            (state, params, value, attrs, seed, error)
        assert [list(s) for s in t.intermediate] == inter
    assert [(r["retest"], r["number"], r["seed"], r["state"], r["value"])
            for r in study.retests()] == retests
    assert sum(len(t.intermediate) for t in got.values()) > 20
    study.close()


def test_a_migrated_study_goes_on(old_file):
    trials, _ = old_rows(old_file)
    study = Study(old_file, name="fixture")
    waiting = [t.number for t in study.trials if t.state in (TrialState.WAITING,
                                                            TrialState.RUNNING)]
    assert waiting == [10, 11]                 # enqueued, and left RUNNING by a killed driver
    ran = study.optimize(lambda p, t: p["dropout"], n_trials=3)
    assert [t.number for t in ran] == [10, 11, 12]
    assert ran[0].params == trials[("fixture", 10)][1]       # the enqueued params ran
    assert all(t.state == TrialState.COMPLETE for t in ran)
    study.close()
    reopened = Study(old_file, name="fixture")                 # opening twice migrates once
    assert len(reopened.trials) == 13
    reopened.close()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Storage(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE fastnn_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ValueError, match=f"new.db.*version {SCHEMA_VERSION + 1}.*upgrade"):
        Storage(path)
