"""The model file format: one file, arrays plus a JSON header, never pickle.

The file is a NumPy ``.npz`` archive (a zip) holding:

- ``header``: a JSON document: format name and version, fastnn version,
  and what the model puts there (``Sequential.save``: its architecture,
  loss, dtype, input features and their names, classes, epochs trained,
  dropout seed, optionally the optimizer's configuration);
- the model's arrays (``params``, ``state``, ``optimizer/<slot>/<i>``...).

Reading uses ``allow_pickle=False`` and checks the format, so a corrupt or
foreign file raises ``ValueError`` naming what is wrong. This module knows
the file, not the model: ``fastnn.model`` builds and restores models
through :func:`write` and :func:`read`.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from fastnn._version import __version__

__all__ = ["write", "read", "InvalidFile"]

FORMAT = "fastnn-model"
FORMAT_VERSION = 2
READS = (1, 2)           # version 1 (fastnn 0.1) files have no loss: softmax cross-entropy


class InvalidFile(ValueError):
    """The file is not a valid fastnn model file (the message says why)."""


def classes_to_json(classes: np.ndarray) -> dict:
    if classes.dtype.kind not in "biufU":
        raise TypeError(f"classes of dtype {classes.dtype} cannot be saved; use ints or strings")
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def classes_from_json(doc: dict) -> np.ndarray:
    return np.array(doc["values"], dtype=np.dtype(doc["dtype"]))


def write(path, header: dict, arrays: dict) -> None:
    """Write ``header`` (JSON-serializable) and ``arrays`` to ``path``, replaced atomically."""
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
           **header}
    text = json.dumps(doc)
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(text), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read(path) -> tuple[dict, dict]:
    """The header and arrays of a model file.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is not a fastnn model file.
    """
    try:
        return _read(path)
    except InvalidFile as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn model file: {exc}") from None


def _read(path) -> tuple[dict, dict]:
    if not zipfile.is_zipfile(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {os.fspath(path)}")
        raise InvalidFile("it is not a zip archive (fastnn model files are .npz archives)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidFile(f"cannot read it as an archive ({exc})") from None
    if "header" not in arrays:
        raise InvalidFile("it has no header")
    try:
        header = json.loads(str(arrays.pop("header")))
    except json.JSONDecodeError as exc:
        raise InvalidFile(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidFile("its header does not describe a fastnn model")
    if header.get("format_version") not in READS:
        raise InvalidFile(f"format version {header.get('format_version')!r} is not one of "
                          f"{list(READS)} (written by fastnn {header.get('fastnn_version')})")
    return header, arrays
