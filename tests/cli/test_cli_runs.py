"""The command line run in this process as a new user runs it: what it prints, and its
one-line errors (exit status 2, no traceback) for the mistakes such a user makes."""

import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.cli import main
from fastnn.datasets import load_digits


def run(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *phrases):
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "Error:" not in err
    for phrase in phrases:
        assert phrase in err


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "digits.fnn"
    assert main(["train", "--epochs", "3", "--hidden", "32", "--quiet", "--save", str(path)]) == 0
    return path


def test_train_says_how_to_use_the_saved_model(capsys, tmp_path):
    status, out, _ = run(capsys, "train", "--epochs", "1", "--hidden", "8", "--quiet",
                         "--save", tmp_path / "m.fnn")
    assert status == 0 and f"fastnn predict {tmp_path / 'm.fnn'} rows.csv" in out


def test_predict_takes_digits_rows_without_a_header(capsys, tmp_path, digits_model):
    X, y = load_digits()
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X[:40], delimiter=",", fmt="%g")        # 64 numbers a row, no header
    status, out, err = run(capsys, "predict", digits_model, rows, "--proba")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("prediction,proba_0,proba_1") and len(lines) == 41
    pred = np.array([int(line.split(",")[0]) for line in lines[1:]])
    with warnings.catch_warnings():       # an array, to a model that knows column names
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(pred, fastnn.load(digits_model).predict(X[:40]))
    assert np.mean(pred == y[:40]) > 0.5
    np.savetxt(rows, X[:5, :63], delimiter=",", fmt="%g")
    status, _, err = run(capsys, "predict", digits_model, rows)
    assert_one_line_error(status, err, "has 63 columns and no header row; expected 64",
                          "pixel_0..pixel_63")


def test_predict_names_the_line_and_column_of_a_nan(capsys, tmp_path, digits_model):
    X, _ = load_digits()
    rows = tmp_path / "rows.csv"
    cells = [[f"{v:g}" for v in row] for row in X[:4]]
    cells[2][10] = "nan"
    rows.write_text("\n".join([",".join(f"pixel_{i}" for i in range(64))]
                              + [",".join(r) for r in cells]) + "\n")
    status, _, err = run(capsys, "predict", digits_model, rows)
    assert_one_line_error(status, err, "line 4, column 'pixel_10': 'nan' is not a finite number")
    rows.write_text("\n".join(",".join(r) for r in cells) + "\n")    # and without a header
    status, _, err = run(capsys, "predict", digits_model, rows)
    assert_one_line_error(status, err, "line 3, column 'pixel_10': 'nan' is not a finite number")


def test_data_errors(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--data", "digit")
    assert_one_line_error(status, err, "--data digit: no such file", "bundled: digits")
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,0\n3,4,1\n")
    status, _, err = run(capsys, "train", "--data", table)
    assert_one_line_error(status, err, "needs --target COLUMN", "its columns are a, b, label")
    status, _, err = run(capsys, "train", "--data", tmp_path)
    assert_one_line_error(status, err, "is a directory")
    status, _, err = run(capsys, "predict", table, table)
    assert_one_line_error(status, err, "fastnn predict: error:", "t.csv")
    table.write_text("a,b,label\n1,2,0\n3,4,0\n5,6,0\n")
    status, _, err = run(capsys, "train", "--data", table, "--target", "label")
    assert_one_line_error(status, err, "the label column 'label' holds one class (0)")
    status, _, err = run(capsys, "train", "--data", table, "--target", "a")
    assert_one_line_error(status, err, "--val-split: 3 rows with a class each cannot be split")
    assert "test_size" not in err


def test_export_into_a_missing_folder(capsys, tmp_path, digits_model):
    status, _, err = run(capsys, "export", digits_model, tmp_path / "no" / "m.onnx")
    assert_one_line_error(status, err, "cannot write", "the folder", "does not exist")
    assert ".tmp-" not in err


def test_a_diverged_training_is_one_line_naming_the_flag(capsys):
    status, _, err = run(capsys, "train", "--epochs", "2", "--hidden", "16", "--no-batch-norm",
                         "--optimizer", "sgd", "--lr", "1e6", "--quiet")
    assert_one_line_error(status, err, "fastnn train: error: the training loss", "lower --lr")


def test_study_file_errors(capsys, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    status, _, err = run(capsys, "study", "show", junk)
    assert_one_line_error(status, err, "fastnn study show: error:", "junk.db")
    status, _, err = run(capsys, "search", "--trials", "1", "--study", junk)
    assert_one_line_error(status, err, "fastnn search: error:", "junk.db")
    status, _, err = run(capsys, "study", "show", tmp_path / "none.db")
    assert_one_line_error(status, err, "none.db: no such study file")
    status, _, err = run(capsys, "search", "--study", tmp_path)
    assert_one_line_error(status, err, "is a directory")


def test_search_says_where_the_best_model_went_and_speaks_cli(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["search", "--trials", "2", "--jobs", "1", "--epochs", "1", "--study", "s.db"]
    status, out, err = run(capsys, *args)
    assert status == 0, err
    assert "the best model is in best.fnn" in out and "fastnn predict best.fnn rows.csv" in out
    assert "fastnn study show s.db" in out and (tmp_path / "best.fnn").exists()
    assert "fastnn study report s.db -o report.html" in out
    # continuing on other data: refused, saying which flags decide; then said, a one-line note
    before = (tmp_path / "s.db").read_bytes()
    status, _, err = run(capsys, *args, "--trials", "1", "--val-split", "0.3")
    assert_one_line_error(status, err, "ran on other data", "--on-mismatch new_study", "--name")
    assert (tmp_path / "s.db").read_bytes() == before
    status, out, err = run(capsys, *args, "--trials", "1", "--val-split", "0.3",
                           "--on-mismatch", "continue")
    assert status == 0, err
    notes = [line for line in err.splitlines() if line.strip()]
    assert notes and all(line.startswith("fastnn search: note: ") for line in notes), err
    assert "data fingerprint differs" in err and "UserWarning" not in err
    # settings that differ from the stored ones: the flags to use, not Python's words
    status, _, err = run(capsys, *args, "--seed", "5")
    assert_one_line_error(status, err, "has --seed 0; leave out --seed (or give --seed 0)",
                          "--name")
    status, _, err = run(capsys, *args, "--sampler", "sobol")
    assert_one_line_error(status, err, "has --sampler gp")
    status, _, err = run(capsys, "study", "show", "s.db", "--name", "other")
    assert_one_line_error(status, err, "study 'other' does not exist in s.db",
                          "its studies: default", "--name")
    assert "pass a space" not in err
    status, _, err = run(capsys, "study", "report", "s.db", "--name", "other")
    assert_one_line_error(status, err, "study 'other' does not exist in s.db")
    assert "pass a space" not in err
    status, out, _ = run(capsys, "study", "show", "s.db", "--top", "2")
    assert status == 0 and "3 complete" in out.replace("trials: ", "")


def test_babysit_rounds_its_numbers_and_ends_with_the_best_epoch(capsys, tmp_path):
    run_dir = tmp_path / "run"
    status, out, err = run(capsys, "babysit", "--epochs", "4", "--hidden", "16", "--lr", "0.05",
                           "--checkpoint-dir", run_dir)
    assert status == 0, err
    lines = out.strip().splitlines()
    epochs = {int(m[1]): float(m[2]) for m in
              (re.match(r"epoch +(\d+) .* val_acc (\d\.\d{4}) ", line) for line in lines) if m}
    assert epochs
    assert not re.search(r"\d\.\d{6,}", out), out             # no raw float reprs
    best = max(sorted(epochs), key=lambda e: epochs[e])
    assert lines[-1].startswith(f"best: epoch {best}, validation accuracy {epochs[best]:.4f}")
    checkpoint = f"epoch-{best:05d}.fnn"
    assert lines[-1].endswith(checkpoint) and (run_dir / checkpoint).exists()
    status, _, err = run(capsys, "babysit", "--epochs", "1", "--checkpoint-dir", run_dir)
    assert_one_line_error(status, err, "already holds a babysitting run; add --resume")
    assert "Babysitter" not in err
    status, _, err = run(capsys, "babysit", "--resume", "--checkpoint-dir", tmp_path / "empty")
    assert_one_line_error(status, err, "holds no babysitting run to resume; leave out --resume")
    status, out, err = run(capsys, "babysit", "--epochs", "1", "--resume", "--checkpoint-dir",
                           run_dir)
    assert status == 0 and out.splitlines()[-1].startswith("best: epoch "), err


def test_predict_with_a_regression_model(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    model = fastnn.MLP(hidden=(8,), loss="mse", batch_norm=False, seed=0)
    model.fit(X, X @ [1.0, 2.0, 3.0], epochs=2)
    model.save(tmp_path / "reg.fnn")
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X[:4], delimiter=",")
    status, out, err = run(capsys, "predict", tmp_path / "reg.fnn", rows)
    assert status == 0, err
    lines = out.split()
    assert lines[0] == "prediction" and len(lines) == 5
    np.testing.assert_allclose([float(v) for v in lines[1:]], model.predict(X[:4]), rtol=1e-5)
    status, _, err = run(capsys, "predict", tmp_path / "reg.fnn", rows, "--proba")
    assert_one_line_error(status, err, "--proba applies to classifiers")


def test_predict_proba_of_a_binary_sigmoid_model(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    model = fastnn.MLP(hidden=(8,), loss="sigmoid_cross_entropy", seed=0)
    model.fit(X, (X[:, 0] > 0).astype(int), epochs=2)
    model.save(tmp_path / "bin.fnn")
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X[:4], delimiter=",")
    status, out, err = run(capsys, "predict", tmp_path / "bin.fnn", rows, "--proba")
    assert status == 0, err
    lines = out.split()
    assert lines[0] == "prediction,proba" and len(lines) == 5      # P(label 1), one column
    np.testing.assert_allclose([float(line.split(",")[1]) for line in lines[1:]],
                               model.predict_proba(X[:4]), rtol=1e-5)


def test_search_takes_sampler_options_stores_them_and_refuses_others(capsys, tmp_path,
                                                                     monkeypatch):
    from fastnn.search import Study

    monkeypatch.chdir(tmp_path)
    args = ["search", "--trials", "1", "--epochs", "1", "--study", "s.db", "--quiet"]
    status, _, err = run(capsys, *args, "--sampler-option", "noise_prior=0.2",
                         "--sampler-option", "n_candidates=256")
    assert status == 0, err
    with Study("s.db") as study:
        assert (study._sampler.noise_prior, study._sampler.n_candidates) == (0.2, 256)
    status, _, err = run(capsys, *args)                 # continued: the stored options
    assert status == 0, err
    before = (tmp_path / "s.db").read_bytes()
    status, _, err = run(capsys, *args, "--sampler-option", "noise_prior=0.3")
    assert_one_line_error(status, err, "has --sampler-option", "got {'noise_prior': 0.3}",
                          "Leave out --sampler-option (or give the stored values)")
    status, _, err = run(capsys, *args, "--sampler-option", "gamma=0.3")
    assert_one_line_error(status, err, "--sampler-option: ['gamma'] are not settings of the "
                          "'gp' sampler")
    assert (tmp_path / "s.db").read_bytes() == before
    status, _, err = run(capsys, *args, "--sampler-option", "noise_prior")
    assert_one_line_error(status, err, "--sampler-option: expected NAME=VALUE")
