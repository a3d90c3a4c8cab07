"""Bundled real data sets, available offline."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

__all__ = ["load_digits", "train_test_split"]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The handwritten digits data: 1,797 8x8 images of the digits 0-9.

    The UCI optical digits test set, as scikit-learn ships it (see
    ``fastnn/datasets/data/README.md``); bundled, so it needs no network
    and no scikit-learn.

    Returns
    -------
    X : array of shape (1797, 64), float64
        Pixel intensities 0..16, row by row.
    y : array of shape (1797,), int64
        The digit, 0..9.
    """
    with resources.files(__package__).joinpath("data/digits.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            data = np.loadtxt(text, delimiter=",", dtype=np.int64)
    return data[:, :-1].astype(np.float64), data[:, -1]


def train_test_split(X, y, *, test_size: float = 0.25, stratify: bool = True,
                     seed: int | None = 0):
    """Split ``(X, y)`` into train and test parts, by default keeping class proportions.

    Parameters
    ----------
    X : array of shape (n_samples, ...)
    y : array of shape (n_samples,)
    test_size : float in (0, 1), default 0.25
    stratify : bool, default True
        Split each class in the same proportion (a class of two or more
        samples puts at least one on each side).
    seed : int, optional

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(f"X and y must have the same number of rows; got {X.shape} and {y.shape}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must lie in (0, 1); got {test_size!r}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    test = []
    for idx in groups:
        idx = rng.permutation(idx)
        k = int(round(test_size * len(idx)))
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)   # both sides get a row
        test.extend(idx[:k])
    mask = np.zeros(len(y), bool)
    mask[test] = True
    if mask.all() or not mask.any():
        raise ValueError(f"test_size={test_size} leaves one side of the split empty")
    return X[~mask], X[mask], y[~mask], y[mask]
