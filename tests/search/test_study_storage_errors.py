"""A study file that cannot be used: one StudyFileError naming the file and what is wrong."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import pytest

from fastnn import cli
from fastnn.search import Space, Study, StudyFileError, Uniform

SPACE = Space({"x": Uniform(0.0, 1.0)})
RAW = ("file is not a database", "malformed", "unable to open", "readonly database")


def made_study(path, n_trials=100):
    with Study(path, space=SPACE, seed=0) as study:
        study.optimize(lambda p, t: p["x"], n_trials=n_trials)
    return path


def not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(4096))
    return path


def truncated(tmp_path):
    path = made_study(tmp_path / "cut.db")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return path


def foreign(tmp_path):
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    return path


def missing_directory(tmp_path):
    return tmp_path / "no-such-dir" / "study.db"


def a_directory(tmp_path):
    (tmp_path / "d.db").mkdir()
    return tmp_path / "d.db"


CASES = [
    (not_a_database, "is not an SQLite database"),
    (truncated, r"is damaged \(truncated or corrupted\)"),
    (foreign, r"is another program's SQLite database \(tables users\), not a fastnn study file"),
    (missing_directory, "cannot be created: its directory .*no-such-dir' does not exist"),
    (a_directory, "is a directory; give a file name"),
]


@pytest.mark.parametrize("make, match", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_study_files(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(StudyFileError, match=match) as info:
        Study(path, space=SPACE)
    message = str(info.value)
    assert f"study file {str(path)!r}" in message
    assert not any(raw in message for raw in RAW)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("make, match", CASES[:3], ids=[c[0].__name__ for c in CASES[:3]])
def test_cli_reports_a_bad_study_file_in_one_line(tmp_path, capsys, make, match):
    path = make(tmp_path)
    assert cli.main(["study", "show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err


READ_ONLY = """
import os, sys
from fastnn.search import Space, Study, StudyFileError, Uniform
space = Space({"x": Uniform(0.0, 1.0)})
Study(None, space=space).optimize(lambda p, t: p["x"], n_trials=1)    # every import done
if os.geteuid() == 0:
    os.setgid(65534), os.setuid(65534)      # root writes anywhere: be nobody
for path in sys.argv[1:]:
    try:
        Study(path, space=space).optimize(lambda p, t: p["x"], n_trials=1)
        print("opened", path)
    except StudyFileError as exc:
        print(exc)
"""


def test_a_read_only_directory():
    top = Path(tempfile.mkdtemp())           # not under pytest's private directory
    folder = top / "ro"
    folder.mkdir()
    existing = made_study(folder / "old.db", n_trials=2)
    top.chmod(0o755), folder.chmod(0o555)
    try:
        out = subprocess.run([sys.executable, "-c", READ_ONLY, str(folder / "new.db"),
                              str(existing)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": os.getcwd()})
    finally:
        folder.chmod(0o755)
        shutil.rmtree(top)
    assert out.returncode == 0, out.stderr
    new, old = out.stdout.strip().splitlines()
    assert new == (f"study file {str(folder / 'new.db')!r} cannot be created: its directory "
                   f"{str(folder)!r} is read-only")
    assert old.startswith(f"study file {str(existing)!r} ")
    assert "is read-only: fastnn writes to the file" in old
    assert not any(raw in old for raw in RAW)


def test_opening_a_missing_file_without_a_space_creates_nothing(tmp_path):
    path = tmp_path / "typo.db"
    with pytest.raises(StudyFileError, match="typo.db' does not exist; pass a space"):
        Study(path)
    assert not path.exists()
