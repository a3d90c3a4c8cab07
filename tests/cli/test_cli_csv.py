"""CSV loading for the command line: pandas or NumPy when the file is clean, the same
line-and-column messages whichever reads it when it is not."""

import sys

import numpy as np
import pytest

from fastnn.datasets import _csv
from fastnn.datasets._csv import read_csv

READERS = ["pandas", "numpy"]


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    """Which fast reader read_csv uses: pandas (installed in tests) or NumPy (pandas hidden)."""
    if request.param == "numpy":
        monkeypatch.setitem(sys.modules, "pandas", None)      # `import pandas` raises ImportError
    return request.param


def _table(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * 10.0 ** rng.integers(-8, 8, (n, 4))
    X[:, 1] = rng.integers(-5, 5, n)                       # an integer column
    labels = rng.choice(["cat", "dog", "big bird, quoted"], n)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:     # with a byte-order mark
        fh.write("a,b,c,label,d\n")
        for i in range(n):
            row = [repr(float(X[i, 0])), str(int(X[i, 1])), f"{X[i, 2]:.3e}", f'"{labels[i]}"',
                   f"{X[i, 3]:.17g}"]
            fh.write(",".join(row) + "\n")
            if i == 5:
                fh.write("\n")                               # a blank line is skipped
    return X, labels


def test_fast_readers_give_the_exact_readers_arrays(tmp_path, reader):
    path = tmp_path / "t.csv"
    X, labels = _table(path)
    columns = ["a", "b", "c", "label", "d"]
    fast = _csv._fast(path, 1, 5, [0, 1, 2, 4], 3)
    assert fast is not None                                 # the fast path read it
    exact = _csv._exact(path, 1, columns, [0, 1, 2, 4], 3)
    np.testing.assert_array_equal(fast[0], exact[0])        # bit for bit, as float() parses
    assert fast[1] == exact[1] == list(labels)
    got, y, names = read_csv(path, target="label")
    assert names == ["a", "b", "c", "d"] and y.tolist() == list(labels)
    np.testing.assert_array_equal(got, exact[0])
    np.testing.assert_array_equal(got[:, :2], X[:, :2])


def test_integer_labels_and_chosen_features(tmp_path, reader):
    path = tmp_path / "t.csv"
    path.write_text("x,y,label\n1,2,3\n4,5,6\n7,8, 9\n")
    X, y, names = read_csv(path, target="label")
    assert y.dtype == np.int64 and y.tolist() == [3, 6, 9]
    X, y, names = read_csv(path, features=["y", "x"])      # another order; label ignored
    assert y is None and names == ["y", "x"] and X.tolist() == [[2, 1], [5, 4], [8, 7]]


@pytest.mark.parametrize("body, message", [
    ("1,2,0\n3,oops,1\n", "t.csv, line 3, column 'b': 'oops' is not a number"),
    ("1,2,0\n3,,1\n", "t.csv, line 3, column 'b': '' is not a number"),
    ("1,2,0\n3,nan,1\n", "t.csv, line 3, column 'b': 'nan' is not a finite number"),
    ("1,-inf,0\n", "t.csv, line 2, column 'b': '-inf' is not a finite number"),
    ("1,1e999,0\n", "t.csv, line 2, column 'b': '1e999' is not a finite number"),
    ("1,2,0\n3,4\n", "t.csv, line 3: 2 fields, expected 3"),
    ("1,2,0\n3,4,1,5\n", "t.csv, line 3: 4 fields, expected 3"),
    ("1,2,0\n3,4,\n", "t.csv, line 3, column 'y': the label is empty"),
    ("", "t.csv has a header but no data rows"),
])
def test_a_bad_cell_is_named_by_line_and_column_whichever_reader(tmp_path, reader, body,
                                                                  message):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + body)
    with pytest.raises(ValueError) as info:
        read_csv(path, target="y")
    assert message in str(info.value)


def test_a_file_without_a_header_row(tmp_path, reader):
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n4,5,6\n")
    names = ["p0", "p1", "p2"]
    X, _, got = read_csv(path, features=names, header="auto")
    assert got == names and X.tolist() == [[1, 2, 3], [4, 5, 6]]
    X, _, got = read_csv(path, header=False)
    assert got == ["column_0", "column_1", "column_2"] and X.shape == (2, 3)
    with pytest.raises(ValueError, match=r"has 3 columns and no header row; expected 5 "
                                         r"\(the features q0\.\.q4, in order\)"):
        read_csv(path, features=[f"q{i}" for i in range(5)], header="auto")
    with pytest.raises(ValueError, match="no header row, so it has no column 'y'"):
        read_csv(path, target="y", header=False)
    path.write_text("p0,p1,p2\n1,2,3\n")                    # names: a header after all
    X, _, got = read_csv(path, features=["p2", "p0"], header="auto")
    assert X.tolist() == [[3, 1]]


def test_bad_arguments_name_themselves(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,2\n")
    with pytest.raises(TypeError, match="path must be a file name"):
        read_csv(3)
    with pytest.raises(ValueError, match="header must be True, False or 'auto'; got 'yes'"):
        read_csv(path, header="yes")
    with pytest.raises(TypeError, match="features must be a list of column names"):
        read_csv(path, features="a")
    with pytest.raises(ValueError, match="has no column 'z'; its 2 columns are a, y"):
        read_csv(path, target="z")
    with pytest.raises(ValueError, match="target column 'y' cannot also be a feature"):
        read_csv(path, target="y", features=["a", "y"])
    with pytest.raises(ValueError, match="lacks the feature columns"):
        read_csv(path, features=["b"])
