"""Read a CSV file of numeric features (and optionally a target column) without pandas."""

from __future__ import annotations

import csv
import os

import numpy as np


def _labels(values: list[str]) -> np.ndarray:
    """Target values as int64 if they are all integers, else as strings."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        return np.array(values)


def read_csv(path, target: str | None = None, features: list[str] | None = None):
    """Read a CSV file with a header row.

    Parameters
    ----------
    path : str or path-like
    target : str, optional
        Name of the label column (kept apart; integers if they all are, else strings).
    features : list of str, optional
        Feature columns to take, in this order; default: every column but the target.

    Returns
    -------
    X : array of shape (n_samples, n_features), float64
    y : array of shape (n_samples,), or None without ``target``
    feature_names : list of str

    Raises
    ------
    ValueError
        On a missing column, a row of the wrong length, a non-numeric or
        empty feature value (naming the line and column), or no data rows.
    """
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{os.fspath(path)} is empty; expected a header row of column names")
        header = [h.strip() for h in header]
        if target is not None and target not in header:
            raise ValueError(f"{os.fspath(path)} has no column {target!r}; its columns are {header}")
        if features is None:
            features = [h for h in header if h != target]
        missing = [f for f in features if f not in header]
        if missing:
            raise ValueError(f"{os.fspath(path)} lacks the feature columns {missing}")
        cols = [header.index(f) for f in features]
        t_col = header.index(target) if target is not None else None
        rows, labels = [], []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{os.fspath(path)}, line {line_no}: {len(row)} fields, "
                                 f"expected {len(header)}")
            try:
                rows.append([float(row[c]) for c in cols])
            except ValueError:
                bad = next(c for c in cols if not _is_float(row[c]))
                raise ValueError(f"{os.fspath(path)}, line {line_no}, column {header[bad]!r}: "
                                 f"{row[bad]!r} is not a number") from None
            if t_col is not None:
                labels.append(row[t_col].strip())
    if not rows:
        raise ValueError(f"{os.fspath(path)} has a header but no data rows")
    X = np.array(rows, dtype=np.float64)
    return X, (_labels(labels) if t_col is not None else None), list(features)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
