"""One SQLite file (stdlib sqlite3, WAL mode) holding studies, trials and retests.

Only a study's driver writes; workers send results back to it. Each write
commits at once, so a driver killed at any moment loses no finished trial.
Several studies (by name) can share a file. ``path=None`` keeps everything
in memory.

Tables: ``studies`` (name, direction, seed, sampler, space description,
data fingerprint, fastnn version), ``trials`` (number, state, params and
reported values as JSON, final value, seed, start and end times, error and
traceback, fastnn version, data fingerprint) and ``retests`` (one row per
re-evaluation of a trial with a seed).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime, timezone

from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["Storage", "now"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    seed TEXT NOT NULL,
    sampler TEXT NOT NULL,
    space TEXT NOT NULL,
    data_fingerprint TEXT,
    fastnn_version TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study_id INTEGER NOT NULL REFERENCES studies(study_id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    value REAL,
    intermediate TEXT NOT NULL DEFAULT '[]',
    user_attrs TEXT NOT NULL DEFAULT '{}',
    seed INTEGER NOT NULL,
    datetime_start TEXT,
    datetime_end TEXT,
    error TEXT,
    traceback TEXT,
    fastnn_version TEXT,
    data_fingerprint TEXT,
    PRIMARY KEY (study_id, number)
);
CREATE TABLE IF NOT EXISTS retests (
    study_id INTEGER NOT NULL REFERENCES studies(study_id),
    retest INTEGER NOT NULL,
    number INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    user_attrs TEXT NOT NULL DEFAULT '{}',
    datetime_start TEXT,
    datetime_end TEXT,
    error TEXT,
    traceback TEXT,
    fastnn_version TEXT,
    data_fingerprint TEXT,
    PRIMARY KEY (study_id, retest, number, seed)
);
"""

_TRIAL_COLUMNS = ("number", "state", "params", "value", "intermediate", "user_attrs", "seed",
                  "datetime_start", "datetime_end", "error", "traceback", "fastnn_version",
                  "data_fingerprint")


def now(timestamp: float | None = None) -> str:
    """An ISO 8601 UTC time: now, or of a ``time.time()`` timestamp."""
    when = datetime.now(timezone.utc) if timestamp is None else \
        datetime.fromtimestamp(timestamp, timezone.utc)
    return when.isoformat()


def _jsonable(obj):
    """JSON fallback: numpy scalars and arrays as Python values, anything else as its repr."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return repr(obj)


def dumps(obj) -> str:
    return json.dumps(obj, default=_jsonable, allow_nan=True)


class Storage:
    """A study database.

    Parameters
    ----------
    path : str or os.PathLike or None
        The SQLite file (created if missing), or None for memory.
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if path is None else self.path, timeout=30.0,
                                   isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args=()) -> list:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ------------------------------------------------------------ studies

    def load_study(self, name: str) -> dict | None:
        """A study's settings by name, or None if there is no such study."""
        rows = self._run("SELECT study_id, direction, seed, sampler, space, data_fingerprint "
                         "FROM studies WHERE name = ?", (name,))
        if not rows:
            return None
        study_id, direction, seed, sampler, space, fingerprint = rows[0]
        return {"study_id": study_id, "direction": direction, "seed": int(seed),
                "sampler": sampler, "space": json.loads(space), "data_fingerprint": fingerprint}

    def create_study(self, name: str, direction: str, seed: int, sampler: str, space: dict,
                     data_fingerprint: str | None, version: str) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO studies (name, direction, seed, sampler, space, data_fingerprint, "
                "fastnn_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, direction, str(seed), sampler, json.dumps(space), data_fingerprint,
                 version, now()))
            return cur.lastrowid

    def update_study(self, study_id: int, **fields) -> None:
        """Change ``space`` (a dict) or ``data_fingerprint`` of a study."""
        for key, value in fields.items():
            if key not in ("space", "data_fingerprint"):
                raise ValueError(f"cannot change a study's {key}")
            value = json.dumps(value) if key == "space" else value
            self._run(f"UPDATE studies SET {key} = ? WHERE study_id = ?", (value, study_id))

    # ------------------------------------------------------------ trials

    def next_number(self, study_id: int) -> int:
        (n,), = self._run("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?",
                          (study_id,))
        return n

    def add_trial(self, study_id: int, number: int, state: TrialState, params: dict,
                  seed: int) -> None:
        self._run("INSERT INTO trials (study_id, number, state, params, seed) "
                  "VALUES (?, ?, ?, ?, ?)", (study_id, number, str(state), dumps(params), seed))

    def start_trial(self, study_id: int, number: int, version: str,
                    data_fingerprint: str | None) -> None:
        self._run("UPDATE trials SET state = ?, datetime_start = ?, fastnn_version = ?, "
                  "data_fingerprint = ? WHERE study_id = ? AND number = ?",
                  (str(TrialState.RUNNING), now(), version, data_fingerprint, study_id, number))

    def finish_trial(self, study_id: int, number: int, outcome) -> None:
        """Store a worker's :class:`~fastnn.search.trial.Outcome`."""
        self._run("UPDATE trials SET state = ?, value = ?, intermediate = ?, user_attrs = ?, "
                  "datetime_start = ?, datetime_end = ?, error = ?, traceback = ? "
                  "WHERE study_id = ? AND number = ?",
                  (str(outcome.state), outcome.value, dumps(outcome.reports),
                   dumps(outcome.user_attrs), now(outcome.start), now(outcome.end),
                   outcome.error, outcome.traceback, study_id, number))

    def requeue_running(self, study_id: int) -> int:
        """Mark trials left RUNNING (by a driver that died) WAITING; return how many."""
        with self._lock:
            cur = self._db.execute("UPDATE trials SET state = ? WHERE study_id = ? AND state = ?",
                                   (str(TrialState.WAITING), study_id, str(TrialState.RUNNING)))
            return cur.rowcount

    def trials(self, study_id: int, state: TrialState | None = None) -> list[FrozenTrial]:
        """A study's trials by number, optionally only those in ``state``."""
        sql = f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials WHERE study_id = ?"
        args: tuple = (study_id,)
        if state is not None:
            sql, args = sql + " AND state = ?", (study_id, str(state))
        return [_frozen(row) for row in self._run(sql + " ORDER BY number", args)]

    # ------------------------------------------------------------ retests

    def next_retest(self, study_id: int) -> int:
        (n,), = self._run("SELECT COALESCE(MAX(retest) + 1, 0) FROM retests WHERE study_id = ?",
                          (study_id,))
        return n

    def add_retest(self, study_id: int, retest: int, number: int, seed: int, outcome,
                   version: str, data_fingerprint: str | None) -> None:
        self._run("INSERT INTO retests (study_id, retest, number, seed, state, value, user_attrs, "
                  "datetime_start, datetime_end, error, traceback, fastnn_version, "
                  "data_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (study_id, retest, number, seed, str(outcome.state), outcome.value,
                   dumps(outcome.user_attrs), now(outcome.start), now(outcome.end),
                   outcome.error, outcome.traceback, version, data_fingerprint))

    def retests(self, study_id: int) -> list[dict]:
        """Every stored retest run of a study, as dicts."""
        cols = ("retest", "number", "seed", "state", "value", "error", "data_fingerprint")
        rows = self._run(f"SELECT {', '.join(cols)} FROM retests WHERE study_id = ? "
                         "ORDER BY retest, number, seed", (study_id,))
        return [dict(zip(cols, row)) for row in rows]


def _frozen(row) -> FrozenTrial:
    d = dict(zip(_TRIAL_COLUMNS, row))
    d["state"] = TrialState(d["state"])
    d["params"] = json.loads(d["params"])
    d["intermediate"] = tuple((int(s), float(v)) for s, v in json.loads(d["intermediate"]))
    d["user_attrs"] = json.loads(d["user_attrs"])
    return FrozenTrial(**d)
