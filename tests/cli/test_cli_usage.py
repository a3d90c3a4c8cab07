"""The command line's help, defaults, version and argument errors, as a new user meets them."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn
from fastnn.cli import build_parser, main


def run(capsys, *args):
    """main(args) in this process: (exit status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _options(parser):
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def _commands(parser):
    """Every (name, parser) below the top level, 'study show' included."""
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        nested = [a for a in p._actions
                  if getattr(a, "choices", None) and a.dest.endswith("command")]
        if nested:
            for sub_name, q in nested[0].choices.items():
                yield f"{name} {sub_name}", q
        else:
            yield name, p


def test_every_option_has_help_and_shows_its_default(capsys):
    parser = build_parser()
    commands = dict(_commands(parser))
    assert {"train", "search", "babysit", "study show", "predict", "info"} <= set(commands)
    for name, p in commands.items():
        for action in _options(p):
            assert action.help, f"fastnn {name} {action.option_strings[0]} has no help"
        assert p.description, f"fastnn {name} --help has no description"
    expected = {   # (command, option): its default as --help shows it
        ("train", "--epochs"): "20", ("train", "--batch-size"): "32",
        ("train", "--activation"): "relu", ("train", "--dtype"): "float32",
        ("train", "--optimizer"): "adam", ("train", "--hidden"): "128,64",
        ("train", "--lr"): "0.001", ("train", "--val-split"): "0.25",
        ("babysit", "--epochs"): "30", ("search", "--rounds"): "1",
        ("search", "--executor"): "thread", ("search", "--trials"): "40",
        ("study show", "--name"): "default", ("study show", "--top"): "10",
    }
    for (name, option), default in expected.items():
        status, out, _ = run(capsys, *name.split(), "--help")
        assert status == 0
        text = " ".join(out.split())                         # argparse wraps lines
        entry = text.split(f" {option} ", 1)[1].split(" --", 1)[0]
        assert f"(default: {default})" in entry, (name, option, entry)
    status, out, _ = run(capsys, "search", "--help")
    text = " ".join(out.split())
    assert "default: gp, random with --rounds > 1; continuing a study, its stored sampler" in text
    assert "(default: 0; continuing a study, its stored seed)" in text


def test_help_says_how_predict_reads_a_file_without_a_header(capsys):
    status, out, _ = run(capsys, "predict", "--help")
    text = " ".join(out.split())
    assert status == 0 and "Without one" in text and "64 pixel values a row" in text


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "ten"], "fastnn train: error: --epochs: expected a positive whole "
                                   "number, got 'ten'"),
    (["train", "--batch-size", "0"], "--batch-size: expected a positive whole number, got '0'"),
    (["train", "--lr", "fast"], "--lr: expected a positive number, got 'fast'"),
    (["train", "--lr", "nan"], "--lr: expected a positive number, got 'nan'"),
    (["train", "--dropout", "1"], "--dropout: expected a number from 0 up to (not including) 1"),
    (["train", "--beta", "1.5"], "--beta: expected a number between 0 and 1 (both excluded)"),
    (["train", "--seed", "-3"], "--seed: expected a whole number >= 0, got '-3'"),
    (["train", "--val-split", "1"], "--val-split: expected a number between 0 and 1"),
    (["train", "--hidden", "64,0"], "--hidden: expected positive widths like 128,64, got '64,0'"),
    (["train", "--activation", "relu6"], "--activation: invalid choice: 'relu6'"),
    (["search", "--timeout", "soon"], "fastnn search: error: --timeout: expected a positive "
                                      "number, got 'soon'"),
    (["search", "--sampler", "grid"], "--sampler: invalid choice: 'grid'"),
    (["study", "show", "s.db", "--top", "x"], "fastnn study show: error: --top: expected a "
                                              "positive whole number, got 'x'"),
    (["frobnicate"], "fastnn: error: unknown command 'frobnicate' (choose from 'train'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_a_bad_value_names_the_option_in_one_line(capsys, args, message):
    status, out, err = run(capsys, *args)
    assert status == 2 and out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err
    assert not re.search(r"invalid \w+ value|_positive_int|Traceback", err)
    assert "--help)" in err                                # where to read more


def test_version_in_process_and_from_the_entry_point(capsys, fresh_python):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"fastnn {fastnn.__version__}"
    proc = subprocess.run([sys.executable, "-m", "fastnn", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastnn {fastnn.__version__}"
    # python -m fastnn.cli runs it too (what -m does, in a fresh process)
    proc = fresh_python("import runpy; runpy.run_module('fastnn.cli', run_name='__main__', "
                        "alter_sys=True)", ["--version"])
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastnn {fastnn.__version__}", proc
    script = Path(sys.executable).with_name("fastnn")          # the installed entry point
    proc = subprocess.run([str(script), "train", "--epochs", "ten"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--epochs:" in proc.stderr
