"""Live progress of fit and of a search: plain lines off a terminal, a bar on one (a real pty)."""

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import fastnn
from fastnn.datasets import load_digits
from fastnn.search import TrialState

from _plot_study import make_study


def test_fit_verbose_prints_one_plain_line_per_epoch_off_a_terminal(capsys):
    X, y = load_digits()
    model = fastnn.MLP(hidden=(16,), seed=0)
    history = model.fit(X[:500], y[:500], epochs=3, validation_data=(X[500:700], y[500:700]),
                        verbose=1)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert f"val_acc {history['val_accuracy'][-1]:.4f}" in lines[-1]
    assert "\r" not in out
    model.fit(X[:500], y[:500], epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def _on_a_terminal(code: str) -> str:
    """Run ``code`` in a new Python with its standard output on a pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))   # 120 columns
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:        # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(60) == 0, proc.stderr.read().decode()
    return b"".join(chunks).decode()


_FIT = ("{block}import fastnn; from fastnn.datasets import load_digits\n"
        "X, y = load_digits()\n"
        "fastnn.MLP(hidden=(8,), seed=0).fit(X[:300], y[:300], epochs=3, verbose=1)\n")


@pytest.mark.parametrize("tqdm", [True, False], ids=["tqdm", "no-tqdm"])
def test_fit_verbose_draws_a_bar_on_a_terminal(tqdm):
    block = "" if tqdm else "import sys; sys.modules['tqdm'] = None\n"
    out = _on_a_terminal(_FIT.format(block=block))
    assert "\r" in out and "epoch 1/3" not in out       # redrawn in place, not line by line
    assert re.search(r"epochs 3/3 .*loss \d\.\d{4}", out), out
    if tqdm:
        assert "█" in out or "|" in out


def test_optimize_progress_prints_counts_best_and_eta_and_each_round_as_it_ends():
    out = io.StringIO()
    study = make_study(n_trials=12, rounds=2, progress=out)
    text = out.getvalue()
    lines = text.splitlines()
    trials = study.trials
    assert sum(line.startswith("trial ") for line in lines) == 12
    statuses = [line.strip() for line in lines if " done, " in line and "running" in line]
    assert len(statuses) == 12
    assert statuses[0].startswith("1/12 done") and statuses[-1].startswith("12/12 done, 0 running")
    n_pruned = sum(t.state == TrialState.PRUNED for t in trials)
    n_failed = sum(t.state == TrialState.FAILED for t in trials)
    assert f"{n_pruned} pruned, {n_failed} failed, best {study.best.value:.4g}" in statuses[-1]
    assert all(re.search(r"ETA (\d+s|\d+m\d\ds)$", s) for s in statuses)
    # round 1's ranges come when it ends, before round 2's trials
    rounds = study.rounds()
    first = [i for i, line in enumerate(lines) if line.startswith("round 1/2 done")]
    assert len(first) == 1
    later = [i for i, line in enumerate(lines) if line.startswith("trial ")
             and int(line.split()[1]) in rounds[1]["trials"]]
    assert first[0] < min(later)
    assert f"(trials 0-{max(rounds[0]['trials'])}" in lines[first[0]]
    assert "its ranges: lr 0.0001..0.1, beta1 0.8..0.999" in lines[first[0]]
    failed = next(t for t in trials if t.state == TrialState.FAILED)
    assert "broke on purpose" in next(line for line in lines
                                       if line.startswith(f"trial {failed.number:>4}"))


def test_optimize_progress_true_writes_to_standard_output_and_checks_its_argument(capsys):
    make_study(n_trials=3, rounds=1, progress=True)
    out = capsys.readouterr().out
    assert "3/3 done, 0 running" in out and "round 1/1" not in out
    with pytest.raises(TypeError, match="progress must be True, False or a file"):
        make_study(n_trials=2, rounds=1, progress="yes")


def test_optimize_progress_draws_a_bar_on_a_terminal():
    code = ("import logging, sys; logging.disable(logging.WARNING)\n"
            f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
            "from _plot_study import make_study\n"
            "make_study(n_trials=6, rounds=2, progress=True)\n")
    out = _on_a_terminal(code)
    assert "\r" in out and re.search(r"trials 6/6 \|.*\| 0 running, \d pruned, 1 failed, best -0\.", out), out
    assert out.count("trial ") >= 6 and "round 1/2 done" in out
