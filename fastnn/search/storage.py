"""One SQLite file (stdlib sqlite3, WAL mode) holding studies, trials and retests.

Each write commits at once, so a driver killed at any moment loses no
finished trial. Several studies (by name) can share a file. ``path=None``
keeps everything in memory.

Tables, all prefixed ``fastnn_`` so that other tools (Optuna) can keep their
own tables in the same file: ``fastnn_schema`` (the schema version),
``fastnn_studies`` (name, direction, seed, sampler, space description, data
fingerprint, fastnn version), ``fastnn_trials`` (number, state, params and
reported values as JSON, final value, seed, start and end times, error and
traceback, fastnn version, data fingerprint, and while RUNNING its owner
and heartbeat), ``fastnn_retests`` (one row per re-evaluation of a trial
with a seed) and ``fastnn_study_attrs`` (a study's JSON attributes: its
coarse-to-fine rounds, made on first write). A file written by fastnn 0.1 (tables ``studies``, ``trials``,
``retests``) is migrated when it is opened.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from fastnn._version import __version__
from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["Storage", "StudyFileError", "Owner", "SCHEMA_VERSION", "now"]

log = logging.getLogger("fastnn.search")

#: Version of the tables this fastnn writes; 1 is fastnn 0.1's unprefixed tables.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fastnn_schema (
    version INTEGER NOT NULL,
    fastnn_version TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fastnn_studies (
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
CREATE TABLE IF NOT EXISTS fastnn_trials (
    study_id INTEGER NOT NULL REFERENCES fastnn_studies(study_id),
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
    owner_driver TEXT,
    owner_pid INTEGER,
    owner_host TEXT,
    heartbeat REAL,
    PRIMARY KEY (study_id, number)
);
CREATE TABLE IF NOT EXISTS fastnn_retests (
    study_id INTEGER NOT NULL REFERENCES fastnn_studies(study_id),
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

_TABLES = ("fastnn_schema", "fastnn_studies", "fastnn_trials", "fastnn_retests")
_OLD_TABLES = ("studies", "trials", "retests")      # fastnn 0.1, schema version 1

_STUDY_COLUMNS = ("study_id", "name", "direction", "seed", "sampler", "space",
                  "data_fingerprint", "fastnn_version", "created")
_TRIAL_COLUMNS = ("number", "state", "params", "value", "intermediate", "user_attrs", "seed",
                  "datetime_start", "datetime_end", "error", "traceback", "fastnn_version",
                  "data_fingerprint")
_RETEST_COLUMNS = ("study_id", "retest", "number", "seed", "state", "value", "user_attrs",
                   "datetime_start", "datetime_end", "error", "traceback", "fastnn_version",
                   "data_fingerprint")

# what sqlite3 says -> what it means for the user
_REASONS = (
    ("file is not a database", "is not an SQLite database (is it a fastnn study file?)"),
    ("malformed", "is damaged (truncated or corrupted); restore it from a copy or start a new "
                  "file"),
    ("readonly", "is read-only: fastnn writes to the file and creates files next to it "
                 "(-wal, -shm) in its directory"),
    ("unable to open", "cannot be opened: check that its directory exists and is writable"),
    ("locked", "stayed locked by another process"),
    ("disk i/o", "could not be read or written (disk I/O error)"),
    ("disk is full", "could not be written: the disk is full"),
)


class StudyFileError(ValueError):
    """A study file that cannot be used; the message names the file and what is wrong."""


#: Seconds between heartbeats of a driver's RUNNING trials.
HEARTBEAT_INTERVAL = 5.0
#: A RUNNING trial whose heartbeat is older than this is re-queued (owner presumed gone).
HEARTBEAT_TIMEOUT = 60.0

_HOST = socket.gethostname()
_LIVE_DRIVERS: set[str] = set()      # drivers running in this process


@dataclass(frozen=True)
class Owner:
    """Who runs a trial: a driver id, its process and its host."""

    driver: str
    pid: int
    host: str

    @classmethod
    def new(cls) -> Owner:
        return cls(secrets.token_hex(8), os.getpid(), _HOST)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie does not)."""
    if os.name == "nt":       # no signal 0 there: only heartbeats tell
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _owner_gone(driver: str | None, pid: int | None, host: str | None,
                heartbeat: float | None, timeout: float) -> bool:
    """A RUNNING trial's owner is gone: none recorded (fastnn 0.1), a driver of this process
    that ended, a dead process of this host, or a heartbeat older than ``timeout``."""
    if driver is None or heartbeat is None:
        return True
    if host == _HOST and pid is not None:
        if pid == os.getpid():
            return driver not in _LIVE_DRIVERS
        if not _pid_alive(pid):
            return True
    return time.time() - heartbeat > timeout


def _next_number(db, study_id: int) -> int:
    (n,), = db.execute("SELECT COALESCE(MAX(number) + 1, 0) FROM fastnn_trials "
                       "WHERE study_id = ?", (study_id,)).fetchall()
    return n


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


def _check_path(path: str) -> None:
    """Refuse, before sqlite3 tries, paths it would fail on with a vague message."""
    if os.path.isdir(path):
        raise StudyFileError(f"study file {path!r} is a directory; give a file name")
    if os.path.exists(path):
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.listdir(folder)
    except FileNotFoundError:
        raise StudyFileError(f"study file {path!r} cannot be created: its directory {folder!r} "
                             "does not exist") from None
    except NotADirectoryError:
        raise StudyFileError(f"study file {path!r} cannot be created: {folder!r} is not a "
                             "directory") from None
    except PermissionError:
        raise StudyFileError(f"study file {path!r} cannot be created: no permission to enter "
                             f"its directory {folder!r}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StudyFileError(f"study file {path!r} cannot be created: its directory {folder!r} "
                             "is read-only")


class Storage:
    """A study database.

    Parameters
    ----------
    path : str or os.PathLike or None
        The SQLite file (created if missing), or None for memory.
    busy_timeout : float, default 60
        Seconds to keep retrying while another process holds the write lock.
    read_only : bool, default False
        Open an existing file only to read it: no table is created or migrated,
        nothing is written (a file without fastnn's tables is refused).

    Several drivers (processes of one machine) may share a file: each takes
    its trials with :meth:`claim` in a write transaction, marks them with
    its :class:`Owner` and refreshes their heartbeat (:meth:`driver`); a
    RUNNING trial goes back to WAITING only once its owner is gone.

    Raises
    ------
    StudyFileError
        The path is a directory, its directory is missing or read-only, or
        the file is not a fastnn study file (another kind of file, a damaged
        one, another program's database, or one from a newer fastnn).
    """

    def __init__(self, path: str | os.PathLike | None, busy_timeout: float = 60.0,
                 read_only: bool = False):
        self.path = None if path is None else os.fspath(path)
        self.busy_timeout = float(busy_timeout)
        self.read_only = bool(read_only)
        self.heartbeat_interval, self.heartbeat_timeout = HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT
        self._lock = threading.RLock()
        if self.path is not None:
            _check_path(self.path)
            if self.read_only and not os.path.isfile(self.path):
                raise StudyFileError(f"study file {self.path!r} does not exist")
        with self._errors():
            if self.read_only and self.path is not None:
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=min(5.0, self.busy_timeout),
                                           isolation_level=None, check_same_thread=False)
            else:
                self._db = sqlite3.connect(":memory:" if path is None else self.path,
                                           timeout=min(5.0, self.busy_timeout),
                                           isolation_level=None, check_same_thread=False)
            try:
                if path is not None and not self.read_only:
                    self._db.execute("PRAGMA journal_mode=WAL")
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._prepare()
            except BaseException:
                self._db.close()
                raise

    @property
    def _where(self) -> str:
        return "the in-memory study database" if self.path is None else \
            f"study file {self.path!r}"

    @contextmanager
    def _errors(self):
        """Turn sqlite3's errors into a StudyFileError naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc).lower()
            reason = next((said for key, said in _REASONS if key in text), None)
            if reason is None:
                reason = f"cannot be used: {exc}"
            elif "locked" in text:
                reason += f" for more than {self.busy_timeout:g} s"
            raise StudyFileError(f"{self._where} {reason}") from exc

    @contextmanager
    def _transaction(self):
        """A write transaction taken at once (BEGIN IMMEDIATE), retried while the file is busy."""
        if self.read_only:
            raise StudyFileError(f"{self._where} was opened read-only; open it with "
                                 "fastnn.search.Study to write to it")
        with self._lock, self._errors():
            deadline = time.monotonic() + self.busy_timeout
            while True:
                left = deadline - time.monotonic()      # sqlite3 waits up to this itself
                self._db.execute(f"PRAGMA busy_timeout = {int(max(0.0, min(left, 5.0)) * 1000)}")
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not busy or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.01)
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _run(self, sql: str, args=()) -> list:
        with self._lock, self._errors():
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ schema

    def _tables(self) -> set[str]:
        return {name for (name,) in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _prepare(self) -> None:
        """Check the file's tables; create them in a new file, migrate a 0.1 file."""
        tables = self._tables()
        if "fastnn_schema" in tables:
            self._check_version()
            return
        if self.read_only:
            if self._is_version_1(tables):
                raise StudyFileError(f"{self._where} holds fastnn 0.1's study tables: open it "
                                     "once with fastnn.search.Study (not read-only) to bring "
                                     "them up to date") from _Version1()
            what = ("an empty SQLite database" if not tables else
                    f"another program's tables: {', '.join(sorted(tables)[:6])}")
            raise StudyFileError(f"{self._where} holds no fastnn study ({what})")
        with self._transaction() as db:
            tables = self._tables()         # another process may have created them meanwhile
            if "fastnn_schema" in tables:
                self._check_version()
                return
            old = self._is_version_1(tables)
            own = {t for t in tables if t.startswith("fastnn_") or t.startswith("sqlite_")}
            if not old and tables - own:
                shown = ", ".join(sorted(tables - own)[:6])
                raise StudyFileError(f"{self._where} is another program's SQLite database "
                                     f"(tables {shown}), not a fastnn study file; give a new "
                                     "file name")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if old:
                self._migrate_version_1(db)
            db.execute("INSERT INTO fastnn_schema (version, fastnn_version, updated) "
                       "VALUES (?, ?, ?)", (SCHEMA_VERSION, __version__, now()))

    def _check_version(self) -> None:
        rows = self._db.execute("SELECT MAX(version) FROM fastnn_schema").fetchall()
        version = rows[0][0] if rows else None
        if version is None or isinstance(version, bool) or not isinstance(version, int) \
                or version < 1:
            said = "no version row" if version is None else f"version {version!r}, not a number"
            if isinstance(version, int) and version < 1:
                said = f"version {version}"
            raise StudyFileError(f"{self._where} has a damaged schema table (fastnn_schema: "
                                 f"{said}); restore the file from a copy")
        if version > SCHEMA_VERSION:
            raise StudyFileError(f"{self._where} has study tables of version {version}; this "
                                 f"fastnn ({__version__}) reads versions up to {SCHEMA_VERSION}: "
                                 "upgrade fastnn")

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def _is_version_1(self, tables: set[str]) -> bool:
        """Whether the file holds fastnn 0.1's tables (not another tool's of the same names)."""
        if not {"studies", "trials"} <= tables:
            return False
        return (set(_STUDY_COLUMNS) <= self._columns("studies")
                and set(_TRIAL_COLUMNS) <= self._columns("trials"))

    def _migrate_version_1(self, db) -> None:
        """Copy fastnn 0.1's tables into the prefixed ones and drop them (one transaction)."""
        copies = [("fastnn_studies", "studies", _STUDY_COLUMNS),
                  ("fastnn_trials", "trials", ("study_id",) + _TRIAL_COLUMNS)]
        if "retests" in self._tables():
            copies.append(("fastnn_retests", "retests", _RETEST_COLUMNS))
        for new, old, columns in copies:
            cols = ", ".join(columns)
            db.execute(f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {old}")
        for _, old, _ in reversed(copies):
            db.execute(f"DROP TABLE {old}")

    # ------------------------------------------------------------ studies

    def load_study(self, name: str) -> dict | None:
        """A study's settings by name, or None if there is no such study."""
        rows = self._run("SELECT study_id, direction, seed, sampler, space, data_fingerprint "
                         "FROM fastnn_studies WHERE name = ?", (name,))
        if not rows:
            return None
        study_id, direction, seed, sampler, space, fingerprint = rows[0]
        return {"study_id": study_id, "direction": direction, "seed": int(seed),
                "sampler": sampler, "space": json.loads(space), "data_fingerprint": fingerprint}

    def study_names(self) -> list[str]:
        """The names of the studies in the file."""
        return [name for (name,) in self._run("SELECT name FROM fastnn_studies ORDER BY study_id")]

    def create_study(self, name: str, direction: str, seed: int, sampler: str, space: dict,
                     data_fingerprint: str | None, version: str) -> int | None:
        """Add a study; return its id, or None if a study of that name exists already."""
        with self._transaction() as db:
            cur = _insert_study(db, name, direction, seed, sampler, space, data_fingerprint,
                                version)
            return cur.lastrowid if cur.rowcount == 1 else None

    def update_study(self, study_id: int, **fields) -> None:
        """Change ``space`` (a dict), ``data_fingerprint`` or ``sampler`` of a study."""
        for key in fields:
            if key not in ("space", "data_fingerprint", "sampler"):
                raise ValueError(f"cannot change a study's {key}")
        with self._transaction() as db:           # all fields or none
            for key, value in fields.items():
                value = json.dumps(value) if key == "space" else value
                db.execute(f"UPDATE fastnn_studies SET {key} = ? WHERE study_id = ?",
                           (value, study_id))

    def import_study(self, name: str, direction: str, seed: int, sampler: str, space: dict,
                     data_fingerprint: str | None, version: str, trials, rounds=()) -> int:
        """Add a study with its ``trials`` (FrozenTrial) and coarse-to-fine ``rounds``, all in
        one transaction; a study of that name already in the file is refused untouched."""
        with self._transaction() as db:
            cur = _insert_study(db, name, direction, seed, sampler, space, data_fingerprint,
                                version)
            if cur.rowcount != 1:
                (n,), = db.execute("SELECT COUNT(*) FROM fastnn_trials t JOIN fastnn_studies s "
                                   "ON t.study_id = s.study_id WHERE s.name = ?", (name,))
                raise StudyFileError(f"{self._where} already has a study named {name!r} ({n} "
                                     "trials); import into a new name or file (nothing was "
                                     "written)")
            study_id = cur.lastrowid
            self._add_trials(db, study_id, trials, rounds)
            return study_id

    def add_trials(self, study_id: int, trials, rounds=()) -> None:
        """Store whole trials (imported ones) and coarse-to-fine ``rounds``, in one
        transaction."""
        with self._transaction() as db:
            self._add_trials(db, study_id, trials, rounds)

    def _add_trials(self, db, study_id: int, trials, rounds) -> None:
        for trial in trials:
            self._insert_trial(db, study_id, trial)
        if rounds:
            db.execute(_ATTRS_TABLE)
            db.execute(_ATTRS_UPSERT, (study_id, "rounds", dumps(list(rounds))))

    def check_unchanged(self, db, study_id: int, space: dict, data_fingerprint) -> None:
        """Refuse to go on (in transaction ``db``) when another Study changed the stored space
        or data fingerprint since this one read them: its trials would mix with theirs."""
        row = db.execute("SELECT name, space, data_fingerprint FROM fastnn_studies WHERE "
                         "study_id = ?", (study_id,)).fetchone()
        if row is None:
            raise StudyFileError(f"{self._where}: the study was removed from the file")
        name, stored_space, stored_fp = row
        if json.loads(stored_space) != space or stored_fp != data_fingerprint:
            what = "space" if json.loads(stored_space) != space else "data fingerprint"
            raise StudyFileError(
                f"study {name!r} in {self._where}: its {what} was changed by another Study "
                f"object since this one opened it; this one stops rather than mix trials of "
                "two spaces or data sets: open the study again to go on with the stored one")

    # ------------------------------------------------------------ trials

    def enqueue(self, study_id: int, params: dict, seed_of: Callable[[int], int],
                expect: tuple | None = None) -> int:
        """Add a WAITING trial with ``params`` under the next free number; return the number.
        ``expect``: (space, data fingerprint) the study must still have
        (:meth:`check_unchanged`)."""
        with self._transaction() as db:
            if expect is not None:
                self.check_unchanged(db, study_id, *expect)
            number = _next_number(db, study_id)
            db.execute("INSERT INTO fastnn_trials (study_id, number, state, params, seed) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (study_id, number, str(TrialState.WAITING), dumps(params), seed_of(number)))
            return number

    def add_trial(self, study_id: int, trial: FrozenTrial) -> None:
        """Store a whole trial (an imported one) under its number, which must be free."""
        with self._transaction() as db:
            self._insert_trial(db, study_id, trial)

    def _insert_trial(self, db, study_id: int, trial: FrozenTrial) -> None:
        cur = db.execute(
            f"INSERT INTO fastnn_trials (study_id, {', '.join(_TRIAL_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (study_id, trial.number, str(trial.state), dumps(trial.params), trial.value,
             dumps(trial.intermediate), dumps(trial.user_attrs), trial.seed,
             trial.datetime_start, trial.datetime_end, trial.error, trial.traceback,
             trial.fastnn_version, trial.data_fingerprint))
        if cur.rowcount != 1:
            raise ValueError(f"{self._where}: trial {trial.number} exists already")

    def claim(self, study_id: int, owner: Owner, version: str, data_fingerprint: str | None,
              new_params: Callable[[int], dict],
              seed_of: Callable[[int], int], expect: tuple | None = None) -> tuple[int, dict, int]:
        """Take the next trial for ``owner`` and mark it RUNNING, in one transaction.

        First, RUNNING trials whose owner is gone are put back WAITING. Then
        the lowest-numbered WAITING trial is taken; if there is none, a new
        trial gets the next free number and ``new_params(number)``. Two
        drivers never get the same number.

        ``expect``: (space, data fingerprint) the study must still have, else nothing is
        claimed (:meth:`check_unchanged`).

        Returns
        -------
        number, params, requeued
            ``requeued``: how many trials of gone owners were put back.
        """
        with self._transaction() as db:
            if expect is not None:
                self.check_unchanged(db, study_id, *expect)
            requeued = self._requeue_orphans(db, study_id)
            row = db.execute("SELECT number, params FROM fastnn_trials WHERE study_id = ? AND "
                             "state = ? ORDER BY number LIMIT 1",
                             (study_id, str(TrialState.WAITING))).fetchone()
            if row is not None:
                number, params = row[0], json.loads(row[1])
            else:
                number = _next_number(db, study_id)
                params = new_params(number)
                db.execute("INSERT INTO fastnn_trials (study_id, number, state, params, seed) "
                           "VALUES (?, ?, ?, ?, ?)", (study_id, number, str(TrialState.WAITING),
                                                      dumps(params), seed_of(number)))
            db.execute("UPDATE fastnn_trials SET state = ?, datetime_start = ?, "
                       "fastnn_version = ?, data_fingerprint = ?, owner_driver = ?, "
                       "owner_pid = ?, owner_host = ?, heartbeat = ? "
                       "WHERE study_id = ? AND number = ?",
                       (str(TrialState.RUNNING), now(), version, data_fingerprint, owner.driver,
                        owner.pid, owner.host, time.time(), study_id, number))
            return number, params, requeued

    def finish_trial(self, study_id: int, number: int, outcome) -> bool:
        """Store a worker's :class:`~fastnn.search.trial.Outcome`; False if it was not stored.

        A trial that already has a result (COMPLETE, PRUNED or FAILED) keeps
        it: a driver presumed dead that finishes late, or a trial run twice,
        never overwrites a stored result.
        """
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE fastnn_trials SET state = ?, value = ?, intermediate = ?, user_attrs = ?, "
                "datetime_start = ?, datetime_end = ?, error = ?, traceback = ?, "
                "owner_driver = NULL, heartbeat = NULL "
                "WHERE study_id = ? AND number = ? AND state IN (?, ?)",
                (str(outcome.state), outcome.value, dumps(outcome.reports),
                 dumps(outcome.user_attrs), now(outcome.start), now(outcome.end), outcome.error,
                 outcome.traceback, study_id, number, str(TrialState.RUNNING),
                 str(TrialState.WAITING)))
            return cur.rowcount == 1

    def release(self, study_id: int, number: int, owner: Owner) -> bool:
        """Put ``owner``'s RUNNING trial back WAITING (it will run again); whether it was."""
        with self._transaction() as db:
            cur = db.execute("UPDATE fastnn_trials SET state = ?, owner_driver = NULL, "
                             "heartbeat = NULL WHERE study_id = ? AND number = ? AND state = ? "
                             "AND owner_driver = ?", (str(TrialState.WAITING), study_id, number,
                                                      str(TrialState.RUNNING), owner.driver))
            return cur.rowcount == 1

    def requeue_orphans(self, study_id: int) -> int:
        """Put RUNNING trials whose owner is gone back WAITING; return how many."""
        with self._transaction() as db:
            return self._requeue_orphans(db, study_id)

    def _requeue_orphans(self, db, study_id: int) -> int:
        rows = db.execute("SELECT number, owner_driver, owner_pid, owner_host, heartbeat FROM "
                          "fastnn_trials WHERE study_id = ? AND state = ?",
                          (study_id, str(TrialState.RUNNING))).fetchall()
        gone = [(str(TrialState.WAITING), study_id, n) for n, *who in rows
                if _owner_gone(*who, timeout=self.heartbeat_timeout)]
        db.executemany("UPDATE fastnn_trials SET state = ?, owner_driver = NULL, heartbeat = NULL "
                       "WHERE study_id = ? AND number = ?", gone)
        return len(gone)

    @contextmanager
    def driver(self):
        """Run as a driver: yield its :class:`Owner`, beat its heartbeat meanwhile.

        On exit, the owner's trials still RUNNING (an interrupted driver's)
        go back WAITING.
        """
        owner = Owner.new()
        _LIVE_DRIVERS.add(owner.driver)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(owner, stop), daemon=True,
                                name="fastnn-heartbeat")
        beat.start()
        try:
            yield owner
        finally:
            stop.set()
            _LIVE_DRIVERS.discard(owner.driver)
            beat.join()
            try:
                with self._transaction() as db:
                    db.execute("UPDATE fastnn_trials SET state = ?, owner_driver = NULL, "
                               "heartbeat = NULL WHERE state = ? AND owner_driver = ?",
                               (str(TrialState.WAITING), str(TrialState.RUNNING), owner.driver))
            except (StudyFileError, sqlite3.ProgrammingError):   # closed or failing file
                pass

    def _beat(self, owner: Owner, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_interval):
            try:
                with self._transaction() as db:
                    db.execute("UPDATE fastnn_trials SET heartbeat = ? WHERE state = ? AND "
                               "owner_driver = ?", (time.time(), str(TrialState.RUNNING),
                                                    owner.driver))
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried
                log.warning("%s: heartbeat not written (%s)", self._where, exc)

    def trials(self, study_id: int, state: TrialState | None = None) -> list[FrozenTrial]:
        """A study's trials by number, optionally only those in ``state``."""
        sql = f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM fastnn_trials WHERE study_id = ?"
        args: tuple = (study_id,)
        if state is not None:
            sql, args = sql + " AND state = ?", (study_id, str(state))
        return [_frozen(row) for row in self._run(sql + " ORDER BY number", args)]

    # ------------------------------------------------------------ retests

    def next_retest(self, study_id: int) -> int:
        """Reserve the next retest number (two drivers retesting at once get two)."""
        with self._transaction() as db:
            db.execute(_ATTRS_TABLE)
            (stored,), = db.execute("SELECT COALESCE(MAX(retest) + 1, 0) FROM fastnn_retests "
                                    "WHERE study_id = ?", (study_id,)).fetchall()
            row = db.execute("SELECT value FROM fastnn_study_attrs WHERE study_id = ? AND "
                             "key = 'next_retest'", (study_id,)).fetchone()
            n = max(stored, json.loads(row[0]) if row else 0)
            db.execute(_ATTRS_UPSERT, (study_id, "next_retest", dumps(n + 1)))
            return n

    def add_retest(self, study_id: int, retest: int, number: int, seed: int, outcome,
                   version: str, data_fingerprint: str | None) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO fastnn_retests (study_id, retest, number, seed, state, "
                       "value, user_attrs, datetime_start, datetime_end, error, traceback, "
                       "fastnn_version, data_fingerprint) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (study_id, retest, number, seed, str(outcome.state), outcome.value,
                        dumps(outcome.user_attrs), now(outcome.start), now(outcome.end),
                        outcome.error, outcome.traceback, version, data_fingerprint))

    def retests(self, study_id: int) -> list[dict]:
        """Every stored retest run of a study, as dicts."""
        cols = ("retest", "number", "seed", "state", "value", "error", "data_fingerprint")
        rows = self._run(f"SELECT {', '.join(cols)} FROM fastnn_retests WHERE study_id = ? "
                         "ORDER BY retest, number, seed", (study_id,))
        return [dict(zip(cols, row)) for row in rows]

    # ------------------------------------------------------------ study attributes
    # (fastnn_study_attrs is made on first write, so files of any version 2 take it)

    def append_study_attr(self, study_id: int, key: str, item) -> None:
        """Append ``item`` to the list stored under ``key`` (one transaction: no append is lost)."""
        with self._transaction() as db:
            db.execute(_ATTRS_TABLE)
            row = db.execute("SELECT value FROM fastnn_study_attrs WHERE study_id = ? AND key = ?",
                             (study_id, key)).fetchone()
            items = json.loads(row[0]) if row else []
            db.execute(_ATTRS_UPSERT, (study_id, key, dumps(items + [item])))

    def study_attrs(self, study_id: int) -> dict:
        """A study's stored attributes, key -> value (empty if it has none)."""
        if not self._run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                         "name = 'fastnn_study_attrs'"):
            return {}
        rows = self._run("SELECT key, value FROM fastnn_study_attrs WHERE study_id = ? "
                         "ORDER BY key", (study_id,))
        return {key: json.loads(value) for key, value in rows}


def stored_study_names(path) -> list[str] | None:
    """The names of the studies in an existing file, read without writing anything (the file
    opened read-only); None for a file of fastnn 0.1, whose tables a normal open updates.
    StudyFileError for a file that holds no fastnn study."""
    try:
        storage = Storage(path, read_only=True)
    except StudyFileError as exc:
        if isinstance(exc.__cause__, _Version1):
            return None
        raise
    try:
        return storage.study_names()
    finally:
        storage.close()


class _Version1(Exception):
    """A fastnn 0.1 file opened read-only."""


_ATTRS_TABLE = ("CREATE TABLE IF NOT EXISTS fastnn_study_attrs (study_id INTEGER NOT NULL, "
                "key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (study_id, key))")
_ATTRS_UPSERT = ("INSERT INTO fastnn_study_attrs (study_id, key, value) VALUES (?, ?, ?) "
                 "ON CONFLICT(study_id, key) DO UPDATE SET value = excluded.value")


def _frozen(row) -> FrozenTrial:
    d = dict(zip(_TRIAL_COLUMNS, row))
    d["state"] = TrialState(d["state"])
    d["params"] = json.loads(d["params"])
    d["intermediate"] = tuple((int(s), float(v)) for s, v in json.loads(d["intermediate"]))
    d["user_attrs"] = json.loads(d["user_attrs"])
    return FrozenTrial(**d)


def _insert_study(db, name, direction, seed, sampler, space: dict, data_fingerprint, version):
    """Insert a study's row unless one of that name exists (the cursor's rowcount says)."""
    return db.execute(
        "INSERT INTO fastnn_studies (name, direction, seed, sampler, space, data_fingerprint, "
        "fastnn_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
        (name, direction, str(seed), sampler, json.dumps(space), data_fingerprint, version,
         now()))
