import hashlib
import subprocess
import sys

import numpy as np
import pytest

from fastnn.datasets import load_digits, train_test_split

# sha256 of the (1797, 65) int64 array [pixels | digit]; the same arrays as
# scikit-learn's load_digits() (checked when this was written).
DIGITS_SHA256 = "e10b10289c0d9d8a1b3e6b7dfe998949029a89056e0e06dfb989924a36d75a3c"


def test_digits_is_the_real_data_set():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    table = np.ascontiguousarray(np.c_[X.astype(np.int64), y])
    assert hashlib.sha256(table.tobytes()).hexdigest() == DIGITS_SHA256


def test_stratified_split():
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(y_te) + len(y_tr) == 1797 and abs(len(y_te) - 449) <= 5
    np.testing.assert_allclose(np.bincount(y_te) / np.bincount(y), 0.25, atol=0.01)
    again = train_test_split(X, y, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    tiny_X, tiny_y = np.arange(8).reshape(4, 2), np.array([0, 0, 1, 1])
    _, _, a, b = train_test_split(tiny_X, tiny_y, test_size=0.25)
    assert sorted(a) == [0, 1] and sorted(b) == [0, 1]       # a row of each class on each side
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="same number of rows"):
        train_test_split(X, y[:10])


def test_datasets_and_search_load_on_first_use():
    # A fresh interpreter: `import fastnn` imports neither subpackage, and
    # fastnn.datasets / fastnn.search work without importing them by name.
    code = (
        "import sys, fastnn\n"
        "assert 'fastnn.datasets' not in sys.modules and 'fastnn.search' not in sys.modules\n"
        "assert {'datasets', 'search'} <= set(dir(fastnn))\n"
        "X, y = fastnn.datasets.load_digits()\n"
        "assert X.shape == (1797, 64) and 'fastnn.search' not in sys.modules\n"
        "assert fastnn.search.Study is sys.modules['fastnn.search'].Study\n"
        "assert not hasattr(fastnn, 'no_such_module')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
