"""Column names of tabular inputs (pandas DataFrames and the like), as scikit-learn keeps them.

A model fitted on a DataFrame keeps its column names (``feature_names_in_``).
Later inputs with names must have the same names in the same order, or the
call fails naming the differences: a model never uses columns by position
when their names say otherwise. An input without names given to a model
fitted with names (or the reverse) warns, as scikit-learn does.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["feature_names", "check_feature_names"]


def feature_names(X) -> list[str] | None:
    """The column names of ``X`` if it has some (a DataFrame), all strings; else None.

    Raises
    ------
    TypeError
        If some names are strings and others are not.
    """
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray) or not hasattr(columns, "__iter__"):
        return None
    names = list(columns)
    are_str = [isinstance(n, str) for n in names]
    if names and all(are_str):
        return names
    if any(are_str):
        kinds = sorted({type(n).__name__ for n in names})
        raise TypeError("feature names are only supported if all input features have string "
                        f"names, but the input has {kinds} as feature name types; convert "
                        "them all to str (e.g. X.columns = X.columns.astype(str))")
    return None


def check_feature_names(fitted: list[str] | None, X, name: str = "X") -> None:
    """Compare the names of ``X``'s columns with those the model was fitted on.

    Raises
    ------
    ValueError
        If both have names and they differ (other names, or another order).
    """
    names = feature_names(X)
    if fitted is None:
        if names is not None:
            warnings.warn(f"{name} has feature names, but the model was fitted without "
                          "feature names", UserWarning, stacklevel=3)
        return
    if names is None:
        warnings.warn(f"{name} does not have valid feature names, but the model was fitted "
                      "with feature names", UserWarning, stacklevel=3)
        return
    if names == list(fitted):
        return
    unexpected = [n for n in names if n not in fitted]
    missing = [n for n in fitted if n not in names]
    message = f"the feature names of {name} should match those that were passed during fit.\n"
    if unexpected:
        message += "Feature names unseen at fit time:\n" + "".join(
            f"- {n}\n" for n in unexpected[:10])
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + "".join(
            f"- {n}\n" for n in missing[:10])
    if not unexpected and not missing:
        message += ("Feature names must be in the same order as they were in fit: got "
                    f"{names[:10]}, fitted on {list(fitted)[:10]}\n")
    raise ValueError(message)
