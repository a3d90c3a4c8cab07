"""Study files that refuse what would mix or damage them: each refused operation raises with
words naming the problem, and leaves the file byte-for-byte as it was."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import optuna
import pytest

from fastnn.search import IntUniform, LogUniform, Space, Study, StudyFileError
from fastnn.search.storage import Storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = Space({"lr": LogUniform(1e-4, 1e-1), "units": IntUniform(4, 64)})
OTHER = Space({"lr": LogUniform(1e-5, 1e-1), "units": IntUniform(4, 64)})


def score(params, trial):
    return params["lr"] * 10


def files(path: Path) -> dict:
    """The bytes of a study file and of its SQLite companions (-wal, -shm, -journal)."""
    out = {}
    for suffix in ("", "-wal", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists() and (suffix == "" or p.stat().st_size):   # an open reader's empty -wal
            out[suffix] = p.read_bytes()
    return out


def made(tmp_path, fp="data-a", n_trials=3, name="s") -> Path:
    path = tmp_path / "s.db"
    with Study(path, space=SPACE, seed=1, name=name, data_fingerprint=fp) as study:
        study.optimize(score, n_trials=n_trials)
    return path


def refused(path, call, error, phrase):
    before = files(path)
    with pytest.raises(error, match=phrase):
        call()
    assert files(path) == before, "a refused operation changed the file"


# ---------------------------------------------------------------- re-opening

REOPEN = [
    ("another space", dict(space=OTHER), ValueError, "opened with another space .* nothing was changed"),
    ("other data", dict(data_fingerprint="data-b"), ValueError,
     r"other data \(its data fingerprint differs\)"),
    ("space and data", dict(space=OTHER, data_fingerprint="data-b"), ValueError,
     "another space and other data"),
    ("another direction", dict(direction="minimize"), ValueError, "has direction='maximize'; got direction='minimize'"),
    ("another seed", dict(seed=2), ValueError, "has seed=1; got seed=2"),
    ("another sampler", dict(sampler="sobol"), ValueError, "has sampler='gp'"),
    ("on_mismatch bogus", dict(on_mismatch="merge"), ValueError, "on_mismatch must be one of"),
    ("on_mismatch None", dict(on_mismatch=None), ValueError, "on_mismatch must be one of"),
    ("missing name", dict(name="nope"), ValueError, "study 'nope' does not exist .*its studies: 's'"),
    ("name empty", dict(name=""), ValueError, "name must be a non-empty string"),
    ("fingerprint not a string", dict(data_fingerprint=3), TypeError, "data_fingerprint must be a string"),
]


@pytest.mark.parametrize("label, kwargs, error, phrase", REOPEN, ids=[r[0] for r in REOPEN])
def test_reopen_refused_leaves_the_file(tmp_path, label, kwargs, error, phrase):
    path = made(tmp_path)
    refused(path, lambda: Study(path, **{"name": "s", **kwargs}), error, phrase)


def test_new_study_on_mismatch_keeps_the_two_apart(tmp_path):
    path = made(tmp_path)
    with pytest.warns(UserWarning, match="new study 's-2'"):
        other = Study(path, name="s", data_fingerprint="data-b", on_mismatch="new_study")
    with other:
        assert other.name == "s-2" and other.trials == []
        other.optimize(score, n_trials=2)
        assert len(other.trials) == 2
    with pytest.warns(UserWarning, match="new study 's-3'"):
        Study(path, name="s", space=OTHER, on_mismatch="new_study").close()
    with Study(path, name="s") as first:
        assert len(first.trials) == 3 and first.data_fingerprint == "data-a"
        assert first.space == SPACE


def test_continue_is_refused_while_another_object_holds_the_study(tmp_path):
    path = made(tmp_path)
    first = Study(path, name="s")
    refused(path, lambda: Study(path, name="s", space=OTHER, on_mismatch="continue"), ValueError,
            "open in another Study object of this process")
    first.close()
    with pytest.warns(UserWarning, match="goes on with them"):
        second = Study(path, name="s", space=OTHER, on_mismatch="continue")
    with second:
        assert second.space == OTHER
        second.optimize(score, n_trials=1)
        assert len(second.trials) == 4


def test_an_object_stops_once_another_process_changed_its_space(tmp_path):
    path = made(tmp_path)
    first = Study(path, name="s")
    code = ("import sys, warnings\nwarnings.simplefilter('ignore')\n"
            "from fastnn.search import Study, Space, LogUniform, IntUniform\n"
            "Study(sys.argv[1], name='s', on_mismatch='continue', space=Space({'lr': "
            "LogUniform(1e-5, 1e-1), 'units': IntUniform(4, 64)})).close()")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with pytest.raises(StudyFileError, match="space was changed by another Study object"):
        first.optimize(score, n_trials=1)
    with pytest.raises(StudyFileError, match="space was changed by another Study object"):
        first.enqueue({"lr": 1e-3, "units": 5})
    first.close()
    with Study(path, name="s") as again:
        assert len(again.trials) == 3 and again.space == OTHER


def test_a_study_file_is_not_made_by_reading(tmp_path):
    path = tmp_path / "none.db"
    with pytest.raises(StudyFileError, match="does not exist"):
        Study(path)
    assert not path.exists()


# ---------------------------------------------------------------- files that are not studies

def _empty(tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    return path


def _other_program(tmp_path):
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
        db.commit()
    return path


def _schema(tmp_path, value):
    path = made(tmp_path)
    with closing(sqlite3.connect(path)) as db:
        if value is None:
            db.execute("DELETE FROM fastnn_schema")
        else:
            db.execute("UPDATE fastnn_schema SET version = ?", (value,))
        db.commit()
    return path


def _report(path, name="default"):
    from fastnn.plot import report

    return report(path, name=name)


FILES = [
    ("Study on an empty file", _empty, lambda p: Study(p), StudyFileError,
     r"holds no fastnn study \(an empty SQLite database\)"),
    ("report on an empty file", _empty, _report, StudyFileError, "holds no fastnn study"),
    ("report on another program's database", _other_program, _report, StudyFileError,
     "no fastnn study .*customers"),
    ("Study on another program's database", _other_program, lambda p: Study(p), StudyFileError,
     "customers"),
    ("report on a missing study", made, lambda p: _report(p, "nope"), ValueError,
     "study 'nope' does not exist .*its studies: 's'"),
    ("schema version text", lambda t: _schema(t, "two"), lambda p: Study(p, name="s"),
     StudyFileError, "damaged schema table .* 'two', not a number"),
    ("schema version text, with a space", lambda t: _schema(t, "two"),
     lambda p: Study(p, name="s", space=SPACE), StudyFileError, "damaged schema table"),
    ("schema version 2.5", lambda t: _schema(t, 2.5), lambda p: Study(p, name="s"),
     StudyFileError, "damaged schema table"),
    ("schema version 0", lambda t: _schema(t, 0), lambda p: Storage(p), StudyFileError,
     "damaged schema table .* version 0"),
    ("schema table empty", lambda t: _schema(t, None), lambda p: Study(p, name="s"),
     StudyFileError, "damaged schema table .* no version row"),
    ("schema from a newer fastnn", lambda t: _schema(t, 99), lambda p: Study(p, name="s"),
     StudyFileError, "version 99; this fastnn .* upgrade fastnn"),
    ("report on a damaged schema", lambda t: _schema(t, "x"), lambda p: _report(p, "s"),
     StudyFileError, "damaged schema table"),
    ("read-only storage refuses writes", made,
     lambda p: Storage(p, read_only=True).update_study(1, space={}), StudyFileError,
     "opened read-only"),
    ("read-only storage of a missing file", lambda t: t / "gone.db",
     lambda p: Storage(p, read_only=True), StudyFileError, "does not exist"),
]


@pytest.mark.parametrize("label, make, call, error, phrase", FILES, ids=[r[0] for r in FILES])
def test_bad_study_file_left_as_it_was(tmp_path, label, make, call, error, phrase):
    path = make(tmp_path)
    refused(path, lambda: call(path), error, phrase)


# ---------------------------------------------------------------- the Optuna bridge

def _optuna_study():
    study = optuna.create_study(study_name="s", direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=3)
    return study


def _stepped():
    study = optuna.create_study(study_name="new")
    study.optimize(lambda t: t.suggest_float("x", 0, 1, step=0.1), n_trials=2)
    return study


OPTUNA = [
    ("into a study with trials", lambda p: Study.from_optuna(_optuna_study(), p, name="s"),
     StudyFileError, r"already has a study named 's' \(3 trials\).*nothing was written"),
    ("into an empty study", lambda p: Study.from_optuna(_optuna_study(), p, name="empty"),
     StudyFileError, r"already has a study named 'empty' \(0 trials\)"),
    ("stepped distribution", lambda p: Study.from_optuna(_stepped(), p), ValueError,
     "'x': fastnn has no stepped float"),
    ("name not a string", lambda p: Study.from_optuna(_optuna_study(), p, name=3), ValueError,
     "name must be a non-empty string"),
    ("seed negative", lambda p: Study.from_optuna(_optuna_study(), p, name="t", seed=-1), ValueError,
     "seed must be an integer >= 0"),
    ("not an optuna study", lambda p: Study.from_optuna("s", p), TypeError,
     "optuna_study must be an optuna.Study"),
    ("to_optuna into a folder", lambda p: Study(p, name="s").to_optuna(p.parent), StudyFileError,
     "is a directory"),
    ("to_optuna into a missing folder", lambda p: Study(p, name="s").to_optuna(p.parent / "no" / "x.db"),
     StudyFileError, "does not exist"),
    ("to_optuna empty path", lambda p: Study(p, name="s").to_optuna(""), ValueError,
     "storage must be a file path"),
]


@pytest.mark.parametrize("label, call, error, phrase", OPTUNA, ids=[r[0] for r in OPTUNA])
def test_bad_optuna_import_left_the_file_as_it_was(tmp_path, label, call, error, phrase):
    path = made(tmp_path)
    Study(path, space=SPACE, name="empty").close()
    refused(path, lambda: call(path), error, phrase)


def test_from_optuna_into_a_new_name_and_to_optuna_on_a_plain_path(tmp_path):
    path = made(tmp_path)
    with Study.from_optuna(_optuna_study(), path, name="imported") as study:
        assert len(study.trials) == 3
    with Study(path, name="s") as study:
        target = study.to_optuna(tmp_path / "optuna.db")
        assert len(target.trials) == 3
        again = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
        assert len(again.trials) == 3
        os.chdir(tmp_path)
        assert len(study.to_optuna("plain.db", study_name="p").trials) == 3
        assert (tmp_path / "plain.db").exists()


def test_a_refused_reopen_does_not_store_a_first_fingerprint_either(tmp_path):
    path = tmp_path / "s.db"
    with Study(path, space=SPACE, seed=1, name="s") as study:     # no fingerprint stored
        study.optimize(score, n_trials=1)
    refused(path, lambda: Study(path, name="s", space=OTHER, data_fingerprint="data-a"),
            ValueError, "another space")
    with Study(path, name="s", data_fingerprint="data-a") as study:   # told once: kept
        assert study.data_fingerprint == "data-a"
    with Study(path, name="s") as study:
        assert study.data_fingerprint == "data-a"


# ---------------------------------------------------------------- thread and job counts

def _retest(path, **kw):
    with Study(path, name="s") as study:
        return study.retest(**{"objective": score, **kw})


RUNS = [
    ("optimize n_jobs 10**6", lambda p: Study(p, name="s").optimize(score, 10**6, n_jobs=10**6),
     ValueError, "n_jobs must be at most .* executor='thread'"),
    ("optimize n_jobs 10**5 processes", lambda p: Study(p, name="s").optimize(score, 3, n_jobs=10**5,
                                                                             executor="process"),
     ValueError, "n_jobs must be at most .* executor='process'"),
    ("optimize n_threads 10**6", lambda p: Study(p, name="s").optimize(score, 1, n_threads=10**6),
     ValueError, "n_threads must be at most"),
    ("optimize n_threads 2.0", lambda p: Study(p, name="s").optimize(score, 1, n_threads=2.0),
     TypeError, "n_threads must be a positive integer"),
    ("retest n_threads 10**6", lambda p: _retest(p, n_threads=10**6), ValueError,
     "n_threads must be at most"),
    ("retest n_jobs 10**6", lambda p: _retest(p, n_jobs=10**6), ValueError, "n_jobs must be at most"),
    ("retest objective not callable", lambda p: _retest(p, objective=3), TypeError,
     "objective must be callable"),
    ("retest seeds empty", lambda p: _retest(p, seeds=()), ValueError, "seeds"),
    ("retest executor bogus", lambda p: _retest(p, executor="gpu"), ValueError, "executor must be"),
]


@pytest.mark.parametrize("label, call, error, phrase", RUNS, ids=[r[0] for r in RUNS])
def test_bad_run_arguments_leave_the_file(tmp_path, label, call, error, phrase):
    path = made(tmp_path)
    refused(path, lambda: call(path), error, phrase)


def test_many_jobs_on_an_executor_of_ones_own():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool, Study(None, space=SPACE, seed=0) as study:
        study.optimize(score, 3, n_jobs=1000, executor=pool)
        assert len(study.trials) == 3


def test_cli_jobs_bounded(capsys):
    from fastnn import cli

    assert cli.main(["search", "--jobs", "100000", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "--jobs: expected a whole number from 1 to" in err, err


def _on(path, call):
    with Study(path, name="s") as study:
        return call(study)


OPTIMIZE = [
    ("objective 3", lambda s: s.optimize(3, 1), TypeError, "objective must be callable"),
    ("timeout -1", lambda s: s.optimize(score, 1, timeout=-1), ValueError, "timeout must be a positive number"),
    ("trial_timeout 0", lambda s: s.optimize(score, 1, trial_timeout=0), ValueError, "trial_timeout must be"),
    ("callbacks [3]", lambda s: s.optimize(score, 1, callbacks=[3]), TypeError, "callbacks must be callables"),
    ("scheduler 'asha'", lambda s: s.optimize(score, 1, scheduler="asha"), TypeError, r"e.g. ASHA\(\)"),
    ("rounds > n_trials", lambda s: s.optimize(score, 1, rounds=2), ValueError, "rounds .* must not exceed"),
    ("margin -1", lambda s: s.optimize(score, 1, margin=-1), ValueError, "margin must be a number >= 0"),
    ("progress 'x'", lambda s: s.optimize(score, 1, progress="x"), TypeError, "progress must be True, False"),
    ("top_k 0", lambda s: s.optimize(score, 1, top_k=0), ValueError, "top_k must be an integer >= 1"),
    ("enqueue out of range", lambda s: s.enqueue({"lr": 5.0, "units": 5}), ValueError, "lr=5.0 is outside"),
    ("enqueue unknown name", lambda s: s.enqueue({"zz": 1}), ValueError, r"unknown parameters \['zz'\]"),
    ("process and a lambda", lambda s: s.optimize(lambda p, t: 1.0, 1, executor="process"), TypeError,
     "cannot be pickled"),
]


@pytest.mark.parametrize("label, call, error, phrase", OPTIMIZE, ids=[r[0] for r in OPTIMIZE])
def test_bad_optimize_arguments_leave_the_file(tmp_path, label, call, error, phrase):
    path = made(tmp_path)
    refused(path, lambda: _on(path, call), error, phrase)
