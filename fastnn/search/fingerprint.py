"""A short hash of the data a study ran on, to store with its trials."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["fingerprint"]


def fingerprint(*arrays) -> str:
    """Hash arrays' dtypes, shapes and bytes (SHA-256, hex).

    Two calls give the same string exactly when the arrays hold the same
    values in the same dtypes and shapes, in the same order.

    Parameters
    ----------
    *arrays : array_like
        E.g. ``fingerprint(X_train, y_train, X_val, y_val)``.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    if not arrays:
        raise ValueError("fingerprint needs at least one array")
    digest = hashlib.sha256()
    for i, a in enumerate(arrays):
        arr = np.ascontiguousarray(a)
        if arr.dtype.hasobject:
            raise TypeError(f"array {i} has dtype object, whose bytes are pointers; "
                            "pass numeric or fixed-width string arrays")
        digest.update(f"{arr.dtype.str}{arr.shape};".encode())
        digest.update(arr.reshape(-1).view(np.uint8))
    return digest.hexdigest()
