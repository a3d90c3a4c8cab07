"""fastnn train --loss: the choices are the losses of fastnn/kinds.py, each loss setting is
an option (--delta), and the model saved carries the loss and its settings."""

import pytest

import fastnn
from fastnn import kinds
from fastnn.cli import build_parser, main


def run(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_loss_choices_and_setting_options_are_the_declared_ones():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {a.dest: a for a in train._actions}
    assert tuple(options["loss"].choices) == tuple(row.name for row in kinds.LOSSES)
    for row in kinds.LOSSES:
        for name, _, _ in row.settings:
            assert name in options, name


@pytest.mark.parametrize("row", [r for r in kinds.LOSSES if r.settings],
                         ids=[r.name for r in kinds.LOSSES if r.settings])
def test_train_with_a_loss_and_its_settings_saves_them(row, capsys, tmp_path):
    settings = {name: default * 0.5 for name, default, _ in row.settings}
    flags = [x for name, value in settings.items() for x in ("--" + name.replace("_", "-"), value)]
    status, out, err = run(capsys, "train", "--epochs", "2", "--hidden", "8", "--quiet",
                           "--loss", row.name, *flags, "--save", tmp_path / "m.fnn")
    assert status == 0, err
    model = fastnn.load(tmp_path / "m.fnn")
    assert model.loss.name == row.name and model.loss.settings == settings
    assert f"validation {model.loss.metric}" in out


def test_a_setting_of_another_loss_or_out_of_range_is_one_line_naming_the_option(capsys):
    status, _, err = run(capsys, "train", "--epochs", "1", "--loss", "mse", "--delta", "0.5")
    assert status == 2 and "--delta applies to --loss huber, not to mse" in err
    status, _, err = run(capsys, "train", "--epochs", "1", "--loss", "huber", "--delta", "-1")
    assert status == 2 and "--delta: delta must be > 0" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
