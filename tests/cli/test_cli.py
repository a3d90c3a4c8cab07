"""The command line, run as a user runs it: training then predicting through
``python -m fastnn`` in a separate process, the other commands through what that
process runs (``fastnn/__main__.py`` is ``raise SystemExit(main())``) in this one,
with the same arguments, working directory, output and exit status to check and no
new interpreter importing NumPy, fastnn and matplotlib again for each command."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.datasets import load_digits


def run(*args, cwd=None):
    """``python -m fastnn *args`` in a new process."""
    return subprocess.run([sys.executable, "-m", "fastnn", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture
def cli(capsys, monkeypatch):
    """``fastnn *args`` run by ``main`` in this process, from ``cwd``: what ``run`` gives."""
    def call(*args, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["fastnn", *args], status, out, err)
    return call


def _write_csv(path, X, y, names, target="digit"):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names + ([target] if y is not None else []))
        for i, row in enumerate(X):
            w.writerow([f"{v:g}" for v in row] + ([y[i]] if y is not None else []))


def test_train_on_digits_then_predict(tmp_path):
    model = tmp_path / "digits.fnn"
    proc = run("train", "--epochs", "12", "--save", str(model))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 12
    final = [line for line in lines if line.startswith("train accuracy")][0]
    val_acc = float(final.split()[-1])
    assert val_acc > 0.95, final
    X, y = load_digits()
    names = [f"pixel_{i}" for i in range(64)]
    data = tmp_path / "some.csv"
    _write_csv(data, X[:200][:, ::-1], None, names[::-1])     # columns in another order
    out = tmp_path / "pred.csv"
    proc = run("predict", str(model), str(data), "--out", str(out), "--proba")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(open(out)))
    assert rows[0][:2] == ["prediction", "proba_0"] and len(rows) == 201
    pred = np.array([int(r[0]) for r in rows[1:]])
    assert np.mean(pred == y[:200]) > 0.95


def test_train_on_a_csv_with_string_labels(tmp_path, cli):
    X, y = load_digits()
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    names = [f"p{i}" for i in range(64)]
    data = tmp_path / "digits.csv"
    _write_csv(data, X[:900], words[y[:900]], names, target="label")
    model = tmp_path / "m.fnn"
    proc = cli("train", "--data", str(data), "--target", "label", "--epochs", "15",
               "--hidden", "64", "--optimizer", "momentum", "--lr", "0.05", "--lr-decay", "0.05",
               "--batch-size", "64", "--quiet", "--save", str(model))
    assert proc.returncode == 0, proc.stderr
    assert "epoch " not in proc.stdout
    assert float(proc.stdout.split("validation accuracy")[1].split()[0]) > 0.9
    proc = cli("predict", str(model), str(data))               # target column present: ignored
    assert proc.returncode == 0, proc.stderr
    pred = proc.stdout.split()[1:]
    assert len(pred) == 900 and np.mean(np.array(pred) == words[y[:900]]) > 0.9


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nothere.csv", "--target", "y"], "nothere.csv: no such file"),
    (["train", "--data", "DATA", "--target", "nope"], "has no column 'nope'"),
    (["train", "--data", "DATA"], "needs --target"),
    (["train", "--data", "BADCSV", "--target", "y"], "is not a number"),
    (["train", "--optimizer", "sgd", "--beta", "0.9"], "--beta applies"),
    (["train", "--lr", "-1"], "--lr: expected a positive number, got '-1'"),
    (["train", "--epochs", "0"], "--epochs: expected a positive whole number, got '0'"),
    (["train", "--hidden", "12,x"], "widths like"),
    (["predict", "MODEL", "DATA"], "not a valid fastnn model file"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, cli, args, message):
    good = tmp_path / "data.csv"
    good.write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n3,oops,1\n")
    junk = tmp_path / "junk.fnn"
    junk.write_bytes(b"junk")
    swap = {"DATA": str(good), "BADCSV": str(bad), "MODEL": str(junk)}
    proc = cli(*[swap.get(a, a) for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_info(cli):
    proc = cli("info")
    assert proc.returncode == 0 and "openmp:" in proc.stdout


def test_search_then_show(tmp_path, cli):
    proc = cli("search", "--trials", "6", "--jobs", "2", "--epochs", "3", "--study", "s.db",
               "--rounds", "2", "--scheduler", "asha", "--save", "best.fnn", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sum(line.startswith("trial ") for line in proc.stdout.splitlines()) == 6
    assert "round 2/2 done" in proc.stdout and "its ranges: lr" in proc.stdout
    assert "6/6 done, 0 running" in proc.stdout and "rank" in proc.stdout
    assert (tmp_path / "best.fnn").exists()
    proc = cli("study", "show", "s.db", cwd=tmp_path)
    assert proc.returncode == 0 and "6 trials" in proc.stdout and "best: trial" in proc.stdout
    proc = cli("study", "report", "s.db", "-o", "report.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") >= 4 and "Zoom history" in page and "<script" not in page
    # continuing the same study adds trials
    proc = cli("search", "--trials", "2", "--epochs", "2", "--study", "s.db", "--jobs", "1",
               cwd=tmp_path)
    assert proc.returncode == 0 and "6 earlier trials" in proc.stdout
    proc = cli("study", "show", "s.db", "--name", "other", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_babysit_and_resume(tmp_path, cli):
    proc = cli("babysit", "--epochs", "3", "--hidden", "32", "--checkpoint-dir", "b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   3" in proc.stdout
    proc = cli("babysit", "--epochs", "2", "--hidden", "32", "--checkpoint-dir", "b", "--resume",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "resumed b at epoch 3" in proc.stdout and "epoch   5" in proc.stdout
    proc = cli("babysit", "--epochs", "2", "--checkpoint-dir", "b", cwd=tmp_path)
    assert proc.returncode == 2 and "resume" in proc.stderr


def test_search_with_the_gp_sampler_then_its_report(tmp_path, cli):
    from fastnn.cli import SAMPLER_CHOICES
    from fastnn.search.study import SAMPLER_NAMES
    assert SAMPLER_CHOICES == SAMPLER_NAMES     # the parser's list, written out, is the study's
    proc = cli("search", "--trials", "14", "--epochs", "2", "--study", "s.db", "--sampler", "gp",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "14/14 done" in proc.stdout
    proc = cli("study", "show", "s.db", cwd=tmp_path)
    assert proc.returncode == 0 and "sampler gp" in proc.stdout
    proc = cli("study", "report", "s.db", "-o", "report.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report.html").read_text()
    assert "Where the model sent each batch" in page and "No box: the model sampler" in page
