"""Save and load models: one file, arrays plus a JSON header, never pickle.

The file is a NumPy ``.npz`` archive (a zip) holding:

- ``header``: a JSON document: format name and version, fastnn version,
  the architecture (``model.get_config()``), dtype, number of input
  features and their names (if known), the classes, epochs trained, and optionally the optimizer's
  configuration;
- ``params`` and ``state``: the model's flat parameter and batch-norm state
  arrays;
- ``optimizer/<slot>/<i>`` and ``optimizer/t`` when the optimizer is saved
  (checkpoints that resume training).

Loading reads it with ``allow_pickle=False`` and checks every part, so a
corrupt or foreign file raises ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from fastnn._version import __version__

__all__ = ["save", "load"]

FORMAT = "fastnn-model"
FORMAT_VERSION = 1


def _classes_to_json(classes: np.ndarray) -> dict:
    if classes.dtype.kind not in "biufU":
        raise TypeError(f"classes of dtype {classes.dtype} cannot be saved; use ints or strings")
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def save(model, path, *, include_optimizer: bool = False) -> None:
    """Write a fitted model to ``path``.

    Parameters
    ----------
    model : Sequential
    path : str or path-like
        Written as given (conventionally ``*.fnn``); replaced atomically.
    include_optimizer : bool, default False
        Also store the optimizer and its moving averages, so that training
        can resume exactly (checkpoints).
    """
    model._require_built()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastnn_version": __version__,
        "config": model.get_config(),
        "n_features": model.n_features_in_,
        "feature_names": model.feature_names_in_,
        "classes": _classes_to_json(model.classes_),
        "epochs_trained": model.epochs_trained_,
        "optimizer": None,
    }
    arrays = {"params": model._params, "state": model._state}
    if include_optimizer and model.optimizer is not None:
        header["optimizer"] = model.optimizer.get_config()
        for key, value in model.optimizer.state_dict().items():
            arrays[f"optimizer/{key}"] = np.asarray(value)
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.savez(fh, header=np.array(json.dumps(header)), **arrays)
    os.replace(tmp, path)


class _Invalid(ValueError):
    pass


def _read(path) -> tuple[dict, dict]:
    if not zipfile.is_zipfile(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {os.fspath(path)}")
        raise _Invalid("it is not a zip archive (fastnn model files are .npz archives)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _Invalid(f"cannot read it as an archive ({exc})") from None
    if "header" not in arrays:
        raise _Invalid("it has no header")
    try:
        header = json.loads(str(arrays.pop("header")))
    except json.JSONDecodeError as exc:
        raise _Invalid(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _Invalid("its header does not describe a fastnn model")
    if header.get("format_version") != FORMAT_VERSION:
        raise _Invalid(f"format version {header.get('format_version')!r} is not "
                       f"{FORMAT_VERSION} (written by fastnn {header.get('fastnn_version')})")
    return header, arrays


def _restore(header: dict, arrays: dict):
    from fastnn.model import Sequential
    from fastnn.optim import optimizer_from_config

    model = Sequential.from_config(header["config"])
    classes = header["classes"]
    model.classes_ = np.array(classes["values"], dtype=np.dtype(classes["dtype"]))
    model.build(header["n_features"], len(model.classes_))
    if model.get_config() != header["config"]:
        raise _Invalid("its architecture is inconsistent (the layers do not match the model's settings)")
    for key, target in (("params", model._params), ("state", model._state)):
        arr = arrays.get(key)
        if arr is None or arr.shape != target.shape or arr.dtype != target.dtype:
            raise _Invalid(f"its {key!r} array does not fit the architecture "
                           f"(expected {target.shape} {target.dtype})")
        target[...] = arr
    model.epochs_trained_ = int(header.get("epochs_trained", 0))
    names = header.get("feature_names")
    if names is not None and (len(names) != model.n_features_in_
                              or not all(isinstance(n, str) for n in names)):
        raise _Invalid("its feature names do not match its number of features")
    model.feature_names_in_ = names
    if header.get("optimizer"):
        opt = optimizer_from_config(header["optimizer"])
        prefix = "optimizer/"
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        state["t"] = int(state.get("t", 0))
        opt.load_state_dict(state)
        model.optimizer = opt
    return model


def load(path):
    """Read a model written by :func:`save` (or ``model.save``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential (an ``MLP`` if it was one)
        Ready to predict; its ``optimizer`` is restored if it was saved.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a valid fastnn model file.
    """
    try:
        header, arrays = _read(path)
        return _restore(header, arrays)
    except _Invalid as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn model file: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn model file: "
                         f"{type(exc).__name__}: {exc}") from None
