"""Layer widths too large for the compiled network or for memory, and the HTML report's
file: each case asserts the exception type and the words that name the problem, and a
refused or failed write leaves the file as it was."""

import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn import MLP, MLPClassifier, MLPRegressor, Sequential, plot
from fastnn._validation import MAX_WIDTH
from fastnn.engine import physical_memory
from fastnn.layers import Dense
from fastnn.search import Study, Uniform

rng = np.random.default_rng(0)
X64 = rng.standard_normal((20, 64)).astype(np.float32)
Y = np.arange(20) % 3
TOO_WIDE = r"must be at most 2,147,483,647 \(2\*\*31 - 1, the widest layer"

WIDTHS = [
    ("MLP hidden 2**40", lambda: MLP(hidden=(2**40,)), f"hidden layer width {TOO_WIDE}.*got 1,099,511,627,776"),
    ("MLP hidden 2**31", lambda: MLP(hidden=(2**31,)), f"hidden layer width {TOO_WIDE}.*got 2,147,483,648"),
    ("MLP hidden int 2**40", lambda: MLP(hidden=2**40), f"hidden layer width {TOO_WIDE}"),
    ("MLP second width 2**40", lambda: MLP(hidden=(8, 2**40)), "hidden layer width must be at most"),
    ("MLP hidden numpy 2**40", lambda: MLP(hidden=(np.int64(2**40),)), "hidden layer width must be at most"),
    ("MLP n_classes 2**40", lambda: MLP(hidden=(4,), n_classes=2**40), f"n_classes {TOO_WIDE}"),
    ("Dense units 2**40", lambda: Dense(2**40), f"units {TOO_WIDE}.*got 1,099,511,627,776"),
    ("Sequential of Dense 2**31", lambda: Sequential([Dense(2**31), Dense(3)]), f"units {TOO_WIDE}"),
    ("build n_features 2**40", lambda: MLP(hidden=(4,)).build(2**40, 3), f"n_features {TOO_WIDE}"),
    ("build n_outputs 2**40", lambda: MLP(hidden=(4,)).build(4, 2**40), f"n_outputs {TOO_WIDE}"),
    ("MLPClassifier hidden_layer_sizes 2**40",
     lambda: MLPClassifier(hidden_layer_sizes=(2**40,)).fit(X64, Y),
     f"each of hidden_layer_sizes {TOO_WIDE}"),
    ("MLPRegressor hidden_layer_sizes int 2**31",
     lambda: MLPRegressor(hidden_layer_sizes=2**31).fit(X64, Y.astype(float)),
     f"each of hidden_layer_sizes {TOO_WIDE}.*got 2,147,483,648"),
    ("MLPClassifier second width 2**40",
     lambda: MLPClassifier(hidden_layer_sizes=[16, 2**40]).fit(X64, Y),
     "hidden_layer_sizes must be at most"),
]


@pytest.mark.parametrize("name, call, phrase", WIDTHS, ids=[row[0] for row in WIDTHS])
def test_a_width_beyond_the_compiled_network_is_named(name, call, phrase):
    with pytest.raises(ValueError, match=phrase):
        call()


def test_the_widest_layer_is_accepted_where_it_is_set():
    assert MLP(hidden=(MAX_WIDTH,)).hidden == (MAX_WIDTH,)
    assert Dense(MAX_WIDTH).units == MAX_WIDTH


needs_memory_size = pytest.mark.skipif(physical_memory() is None,
                                       reason="the OS does not say how much memory it has")


@needs_memory_size
@pytest.mark.parametrize("width, dtype, words", [
    (2**30, "float32", r"74,088,185,859 parameters: with their gradients they need 560\.0 GiB as "
                       r"float32, more than this machine's [\d,.]+ GiB of memory; the largest, a "
                       r"Dense layer's W, has shape \(64, 1,073,741,824\)\. Use narrower layers"),
    (MAX_WIDTH, "float32", r"has shape \(64, 2,147,483,647\)"),
    (2**28, "float64", r"GiB as float64, more than this machine's"),
])
def test_a_model_larger_than_memory_is_refused_before_allocating(width, dtype, words):
    model = MLP(hidden=(width,), seed=0, dtype=dtype)
    if physical_memory() > 2 * 64 * width * np.dtype(dtype).itemsize:
        pytest.skip("this machine holds such a model")
    with pytest.raises(MemoryError, match=words):
        model.fit(X64, Y, epochs=1)
    assert not model.built                           # nothing half made
    small = MLP(hidden=(8,), seed=0)                 # the process goes on
    small.fit(X64, Y, epochs=1)
    assert small.predict(X64).shape == (20,)


@needs_memory_size
def test_the_command_line_names_a_width_too_large(capsys):
    from fastnn import cli

    assert cli.main(["train", "--hidden", "8,2147483648", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--hidden: expected widths of at most 2,147,483,647" in err, err
    status = cli.main(["train", "--hidden", "1073741824", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "out of memory: the model has" in err and "(64, 1,073,741,824)" in err, err


# ---------------------------------------------------------------- the report's file

@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "study.db"
    with Study(path, space={"x": Uniform(0, 1)}, seed=0) as study:
        study.optimize(lambda params, trial: (params["x"] - 0.3) ** 2, 6)
    return path


def _temps(folder):
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def test_the_report_refuses_a_path_that_is_not_a_file_path(study_file, tmp_path):
    with pytest.raises(TypeError, match="path must be a file path .* got int"):
        plot.report(study_file, 123)
    with pytest.raises(TypeError, match="got list"):
        plot.report(study_file, [str(tmp_path / "r.html")])
    with pytest.raises(IsADirectoryError, match="it is a folder; give a file name"):
        plot.report(study_file, tmp_path)
    with pytest.raises(FileNotFoundError, match="no folder"):
        plot.report(study_file, tmp_path / "missing" / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_the_report_never_writes_over_its_own_study(study_file):
    before = study_file.read_bytes()
    with pytest.raises(ValueError, match="the study file the report is about: writing the page "
                                         "there would replace the study"):
        plot.report(study_file, study_file)
    with pytest.raises(ValueError, match="would replace the study"):
        plot.report(str(study_file), os.path.relpath(study_file))
    assert study_file.read_bytes() == before
    with Study(study_file) as study:
        assert len(study.trials) == 6


def test_a_write_that_fails_midway_leaves_the_old_report(study_file, tmp_path):
    out = tmp_path / "report.html"
    page = plot.report(study_file, out, title="the old report")
    old = out.read_bytes()
    assert old == page.encode("utf-8") and len(old) > 8192
    # another process writes a new report but may write only 4,096 bytes of a file (a full
    # disk or a quota, as RLIMIT_FSIZE makes one): the write fails partway
    code = f"""
import resource, fastnn
from fastnn import plot
from fastnn.search import Study
study = Study({str(study_file)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    plot.report(study, {str(out)!r}, title="the new report")
except OSError as e:
    print("refused:", e.strerror)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "refused: File too large" in run.stdout, run.stdout + run.stderr
    assert out.read_bytes() == old                   # the old report, whole
    assert _temps(tmp_path) == []                    # and no partial page left beside it
    new = plot.report(study_file, out, title="the new report")     # room again: replaced
    assert out.read_bytes() == new.encode("utf-8") and "the new report" in new
