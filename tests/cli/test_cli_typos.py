"""The command line's answer to a typo: no guessing, the nearest names, the command's own help."""

from pathlib import Path

import numpy as np
import pytest

from fastnn.cli import build_parser, main
from fastnn.datasets import load_digits


def run(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status, err):
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def test_an_abbreviated_option_is_refused_not_guessed(capsys):
    # argparse would take --epoch for --epochs; a typo must not train for another length
    status, _, err = run(capsys, "train", "--epoch", "3")
    err = one_line_error(status, err)
    assert "unrecognized argument --epoch; did you mean --epochs?" in err
    assert err.endswith("(see fastnn train --help)")
    status, _, err = run(capsys, "search", "--sched", "asha")
    assert "unrecognized argument --sched; did you mean --scheduler?" in one_line_error(status, err)


def test_a_misspelt_option_names_the_closest_and_the_command_help(capsys):
    status, _, err = run(capsys, "search", "--trails", "3")
    err = one_line_error(status, err)
    assert err == ("fastnn search: error: unrecognized argument --trails; did you mean "
                   "--trials? (see fastnn search --help)")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert err in " ".join(readme.replace("`", " ").split()), "the README quotes this error"
    status, _, err = run(capsys, "search", "--trails=3")
    assert "--trails=3; did you mean --trials?" in one_line_error(status, err)
    status, _, err = run(capsys, "study", "show", "s.db", "--topp", "3")
    err = one_line_error(status, err)
    assert "did you mean --top?" in err and "(see fastnn study show --help)" in err
    # nothing close: no guess; an extra word is named as it is
    status, _, err = run(capsys, "train", "--frobnicate")
    err = one_line_error(status, err)
    assert "unrecognized argument --frobnicate (see fastnn train --help)" in err
    status, _, err = run(capsys, "info", "extra")
    assert "unrecognized arguments: extra (see fastnn info --help)" in one_line_error(status, err)


def test_the_training_commands_share_their_common_options():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    common = {"--data", "--target", "--val-split", "--seed", "--threads", "--quiet"}
    for name in ("train", "search", "babysit"):
        options = {o for a in commands[name]._actions for o in a.option_strings}
        assert common <= options, (name, common - options)
        assert parser.parse_args([name, "--quiet"]).quiet is True


def test_search_quiet_prints_the_results_without_a_line_per_trial(capsys, tmp_path):
    argv = ["search", "--trials", "2", "--jobs", "1", "--epochs", "1",
            "--study", tmp_path / "quiet.db", "--save", tmp_path / "best.fnn"]
    status, out, err = run(capsys, *argv, "--quiet")
    assert status == 0, err
    assert "rank" in out and "best: trial" in out and (tmp_path / "best.fnn").exists()
    status, loud, _ = run(capsys, *(a if a != tmp_path / "quiet.db" else tmp_path / "loud.db"
                                    for a in argv))
    assert status == 0
    progress = [line for line in loud.splitlines() + err.splitlines() if line not in out]
    assert progress, "without --quiet the search prints its progress"
    assert len(out.splitlines()) < len(loud.splitlines())


@pytest.fixture
def table(tmp_path):
    """The digits as a CSV file of 65 columns: pixel_0..pixel_63 and label."""
    X, y = load_digits()
    path = tmp_path / "digits.csv"
    header = ",".join([f"pixel_{i}" for i in range(64)] + ["label"])
    np.savetxt(path, np.column_stack([X[:200], y[:200]]), delimiter=",", fmt="%g",
               header=header, comments="")
    return path


def test_a_wrong_target_lists_the_closest_columns_not_all_of_them(capsys, table):
    status, _, err = run(capsys, "train", "--data", table, "--target", "lable", "--epochs", "1")
    err = one_line_error(status, err)
    assert f"error: {table} has no column 'lable'; did you mean 'label'?" in err
    assert "its 65 columns are pixel_0, " in err and ", ..., pixel_63, label" in err
    assert err.count("pixel_") <= 8                      # a short list, not 65 names
    status, _, err = run(capsys, "train", "--data", table, "--target", "pixel_7x")
    assert "did you mean 'pixel_7'" in one_line_error(status, err)


def test_predict_recognises_its_arguments_swapped(capsys, tmp_path, table):
    model = tmp_path / "m.fnn"
    assert main(["train", "--data", str(table), "--target", "label", "--epochs", "1",
                 "--hidden", "8", "--quiet", "--save", str(model)]) == 0
    capsys.readouterr()
    status, _, err = run(capsys, "predict", table, model)
    err = one_line_error(status, err)
    assert (f"the arguments look swapped: {model} is a model file and {table} is not; the model "
            f"comes first: fastnn predict {model} {table}") in err
    status, out, err = run(capsys, "predict", model, table)
    assert status == 0 and len(out.splitlines()) == 201, err
