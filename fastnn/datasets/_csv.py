"""Read a CSV file of numeric features (and optionally a target column).

Two readers give the same arrays. The fast one parses the file in compiled
code: pandas when it is installed (imported here, on first use), else
``np.loadtxt``. It gives up at the first thing it does not like (a cell that
is not a finite number, a row of the wrong length, an empty label) and hands
the file to the exact reader, which reads it row by row with the ``csv``
module and says which line and column are wrong. So a good file is read
fast and a bad one gets the same message whichever library is installed.
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from fastnn._validation import unknown_name

__all__ = ["read_csv"]

ENCODING = "utf-8-sig"          # UTF-8, with or without the byte-order mark spreadsheets write


def read_csv(path, target: str | None = None, features: list[str] | None = None,
             header: bool | str = True):
    """Read a CSV file of numbers, one sample a row.

    Parameters
    ----------
    path : str or path-like
    target : str, optional
        Name of the label column, kept apart: int64 if every label is an
        integer, else strings (stripped of surrounding spaces). Needs a
        header row.
    features : list of str, optional
        Feature columns to take, in this order; default: every column but
        the target. For a file without a header row they name the columns,
        whose count must then match.
    header : True, False or "auto", default True
        Whether the first row holds the column names. ``"auto"``: it does
        unless every cell of it is a number.

    Returns
    -------
    X : array of shape (n_samples, n_features), float64
    y : array of shape (n_samples,), or None without ``target``
    feature_names : list of str

    Raises
    ------
    ValueError
        On a missing column, a row of the wrong length, a feature value that
        is not a finite number or an empty label (naming the line and
        column), or no data rows.
    OSError
        When the file cannot be opened.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or path-like); got {path!r}")
    if target is not None and not isinstance(target, str):
        raise TypeError(f"target must be a column name (str) or None; got {target!r}")
    if features is not None and (isinstance(features, str)
                                 or not all(isinstance(f, str) for f in features)):
        raise TypeError(f"features must be a list of column names or None; got {features!r}")
    if not (header is True or header is False or header == "auto"):
        raise ValueError(f"header must be True, False or 'auto'; got {header!r}")
    name = os.fspath(path)
    _check_text(path)
    try:
        return _read(path, name, target, features, header)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at "
                         f"offset {exc.start} of a read block cannot be decoded; save the file as "
                         "CSV in UTF-8") from None


def _read(path, name, target, features, header):
    first = _first_row(path)
    if header == "auto":
        header = not all(_is_number(cell) for cell in first)
    if header:
        columns, skip = first, 1
    else:
        if target is not None:
            raise ValueError(f"{name} has no header row, so it has no column {target!r}")
        if features is not None and len(features) != len(first):
            raise ValueError(f"{name} has {len(first)} columns and no header row; expected "
                             f"{len(features)} (the features {_span(features)}, in order)")
        columns, skip = list(features or (f"column_{i}" for i in range(len(first)))), 0
    if target is not None and target not in columns:
        raise ValueError(f"{name} has no column {target!r}; "
                         + unknown_name(target, columns, "columns"))
    if features is None:
        features = [c for c in columns if c != target]
    if target is not None and target in features:
        raise ValueError(f"the target column {target!r} cannot also be a feature")
    missing = [f for f in features if f not in columns]
    if missing:
        shown = (missing if len(missing) <= 6
                 else f"{_span(missing)} ({len(missing)} of {len(features)})")
        raise ValueError(f"{name} lacks the feature columns {shown}")
    cols = [columns.index(f) for f in features]
    t_col = columns.index(target) if target is not None else None
    read = _fast(path, skip, len(columns), cols, t_col)
    if read is None:
        read = _exact(path, skip, columns, cols, t_col)
    X, labels = read
    if X.shape[0] == 0:
        raise ValueError(f"{name} has a header but no data rows" if skip else f"{name} is empty")
    return X, (_labels(labels) if t_col is not None else None), list(features)


# the first bytes of files often given by mistake, and what they are
_MAGIC = ((b"PK\x03\x04", "a zip archive (an .xlsx workbook, a fastnn model, an .npz file?)"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"%PDF", "a PDF document"), (b"SQLite format 3\x00", "an SQLite database"),
          (b"\x93NUMPY", "a NumPy .npy array"), (b"\xd0\xcf\x11\xe0", "an .xls workbook"),
          (b"\x1f\x8b", "a gzip archive"), (b"PAR1", "a Parquet file"))


def _check_text(path) -> None:
    """Refuse, naming the file, one that is not text: binary bytes in its first 64 KB."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    what = next((said for magic, said in _MAGIC if head.startswith(magic)), None)
    if what is None and b"\x00" in head:
        what = f"binary data (a NUL byte at offset {head.index(0)})"
    if what is None:
        try:
            head.decode(ENCODING)
        except UnicodeDecodeError as exc:
            if len(head) < 65536 or exc.start < len(head) - 4:   # not cut at the 64 KB limit
                what = (f"binary data or text not in UTF-8 (byte 0x{head[exc.start]:02x} at "
                        f"offset {exc.start})")
    if what is not None:
        raise ValueError(f"{os.fspath(path)} is not a CSV text file: it holds {what}; give a "
                         "CSV file of numbers (UTF-8 text, one sample a row)")


def _first_row(path) -> list[str]:
    with open(path, newline="", encoding=ENCODING) as fh:
        first = next(csv.reader(fh), None)
    if not first:
        raise ValueError(f"{os.fspath(path)} is empty; expected a header row of column names")
    return [cell.strip() for cell in first]


def _span(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 4 else f"{names[0]}..{names[-1]}"


def _fast(path, skip: int, n_columns: int, cols: list[int], t_col: int | None):
    """(X, labels) when the file is clean, else None (then the exact reader decides)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return _with_numpy(path, skip, n_columns, cols, t_col)
    return _with_pandas(path, skip, n_columns, cols, t_col)


def _with_pandas(path, skip, n_columns, cols, t_col):
    import pandas as pd

    others = [c for c in range(n_columns) if c not in cols]
    try:       # feature columns typed by pandas (faster than asking for float64): checked below
        frame = pd.read_csv(path, header=None, skiprows=skip, dtype={c: str for c in others},
                            na_filter=False, encoding=ENCODING, engine="c")
    except (ValueError, TypeError, pd.errors.ParserError):
        return None
    if frame.shape[1] != n_columns or any(frame.dtypes[c].kind not in "iuf" for c in cols):
        return None
    # a short row reads as '' in its text columns (and fails in its number columns)
    if others and (frame[others] == "").to_numpy().any():
        return None
    X = frame[cols].to_numpy(dtype=np.float64)
    labels = frame[t_col].str.strip().tolist() if t_col is not None else None
    return _finite(X, labels)


def _with_numpy(path, skip, n_columns, cols, t_col):
    fields = np.dtype([(f"c{c}", np.float64 if c in cols else object) for c in range(n_columns)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)        # "input contained no data"
            table = np.loadtxt(path, delimiter=",", dtype=fields, skiprows=skip, comments=None,
                               quotechar='"', ndmin=1, encoding=ENCODING)
    except ValueError:
        return None
    X = np.empty((table.shape[0], len(cols)))
    for j, c in enumerate(cols):
        X[:, j] = table[f"c{c}"]
    labels = None
    if t_col is not None:
        labels = [v.strip() for v in table[f"c{t_col}"]]
        if "" in labels:
            return None
    return _finite(X, labels)


def _finite(X: np.ndarray, labels):
    if not np.isfinite(X).all():
        return None
    return X, labels


def _exact(path, skip: int, columns: list[str], cols: list[int], t_col: int | None):
    """Row by row with the csv module; raises ValueError naming the first bad line and column."""
    name = os.fspath(path)
    rows, labels = [], []
    with open(path, newline="", encoding=ENCODING) as fh:
        reader = csv.reader(fh)
        for _ in range(skip):
            next(reader, None)
        for line_no, row in enumerate(reader, start=skip + 1):
            if not row:
                continue
            if len(row) != len(columns):
                raise ValueError(f"{name}, line {line_no}: {len(row)} fields, "
                                 f"expected {len(columns)}")
            values = [_number(row[c]) for c in cols]
            if None in values:
                bad = cols[values.index(None)]
                raise ValueError(f"{name}, line {line_no}, column {columns[bad]!r}: "
                                 f"{row[bad]!r} is not {_what(row[bad])}")
            rows.append(values)
            if t_col is not None:
                label = row[t_col].strip()
                if not label:
                    raise ValueError(f"{name}, line {line_no}, column {columns[t_col]!r}: "
                                     "the label is empty")
                labels.append(label)
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(cols))
    return X, labels


def _number(text: str) -> float | None:
    """The cell as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _is_number(text: str) -> bool:
    return _number(text) is not None


def _what(text: str) -> str:
    try:
        float(text)
    except ValueError:
        return "a number"
    return "a finite number"


def _labels(values: list[str]) -> np.ndarray:
    """Target values as int64 if they are all integers, else as strings."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        return np.array(values)
