"""The model file format: one file, arrays plus a JSON header, never pickle.

The file is a NumPy ``.npz`` archive (a zip) holding:

- ``header``: a JSON document: format name and version, fastnn version,
  and what the model puts there (``Sequential.save``: its architecture,
  loss, dtype, input features and their names, classes, epochs trained,
  dropout seed, optionally the optimizer's configuration);
- the model's arrays (``params``, ``state``, ``optimizer/<slot>/<i>``...).

Reading uses ``allow_pickle=False`` and checks the format, so a corrupt or
foreign file raises ``ValueError`` naming what is wrong. Before any array
is read, the shape each one declares is checked against the bytes the file
holds for it, so a small file cannot make ``load`` allocate much memory.
Arrays holding NaN or infinities are refused, on reading and on writing.

Writing goes to ``<path>.tmp-<pid>-<thread>``, flushed to disk (``fsync``),
then renamed over ``path`` and the directory synced: a reader sees the old
file or the new one, never a part, and a saved model survives a power
loss. The temporary file is removed if writing fails; one left by a process
that was killed is removed by the next write to the same path. ONNX exports
are written the same way (:func:`replace_atomically`).

This module knows the file, not the model: ``fastnn.model`` builds and
restores models through :func:`write` and :func:`read`.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import threading
import zipfile

import numpy as np

from fastnn._version import __version__

__all__ = ["write", "read", "InvalidFile", "header_to_text", "header_from_text"]

FORMAT = "fastnn-model"
FORMAT_VERSION = 2
READS = (1, 2)           # version 1 (fastnn 0.1) files have no loss: softmax cross-entropy
_DEFLATE_MAX_RATIO = 1032  # deflate cannot expand data more than this


class InvalidFile(ValueError):
    """The file is not a valid fastnn model file (the message says why)."""


class NewerFormatError(ValueError):
    """A model file of a format version newer than this fastnn reads (upgrade fastnn)."""


def classes_to_json(classes: np.ndarray) -> dict:
    if classes.dtype.kind not in "biufU":
        raise TypeError(f"classes of dtype {classes.dtype} cannot be saved; use ints or strings")
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def classes_from_json(doc: dict) -> np.ndarray:
    return np.array(doc["values"], dtype=np.dtype(doc["dtype"]))


def document(header: dict) -> dict:
    """The JSON header a file gets for ``header``, as :func:`read` will return it."""
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
           **header}
    return json.loads(json.dumps(doc))


def check_arrays(arrays: dict) -> None:
    """Refuse arrays a model file cannot hold: non-numeric ones, and NaN or infinities."""
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf":
            raise InvalidFile(f"its array {name!r} has dtype {arr.dtype}, not a number type")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InvalidFile(f"its array {name!r} holds NaN or infinite values "
                              f"({int(np.count_nonzero(~np.isfinite(arr)))} of {arr.size})")


def write(path, header: dict, arrays: dict) -> None:
    """Write ``header`` (JSON-serializable) and ``arrays`` to ``path``, replaced atomically.

    Raises
    ------
    ValueError
        If an array holds NaN or infinite values (nothing is written).
    FileNotFoundError, IsADirectoryError
        If the folder does not exist, or ``path`` is a folder.
    """
    text = header_to_text(header)
    arrays = {name: np.asarray(arr) for name, arr in arrays.items()}
    try:
        check_arrays(arrays)
    except InvalidFile as exc:
        raise ValueError(f"cannot save to {os.fspath(path)}: {exc}") from None
    replace_atomically(path, lambda fh: np.savez(fh, header=np.array(text), **arrays))


def replace_atomically(path, write_to) -> None:
    """Write a file through ``write_to(binary file object)`` and put it at ``path`` atomically.

    The data goes to ``<path>.tmp-<pid>-<thread>``, flushed to disk, then
    renamed over ``path`` and the directory synced; the temporary file is
    removed if writing fails, and those of writers that were killed are
    removed first (see the module docstring).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the folder does not exist, or ``path`` is a folder.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot save there: no folder {folder}", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot save there: it is a folder; give a file "
                                "name", path)
    remove_stale_temps(path)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "wb") as fh:
            write_to(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the system allows opening a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    if os.name == "nt":          # os.kill would terminate it there: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:              # it exists, owned by another user
        return True
    return True


def remove_stale_temps(path) -> list[str]:
    """Remove the temporary files (``<path>.tmp-<pid>[-<thread>]``) that writers of ``path``
    left when they were killed: those whose process is gone. Returns the removed paths."""
    removed = []
    for tmp in glob.glob(glob.escape(os.fspath(path)) + ".tmp-*"):
        pid = tmp.rsplit(".tmp-", 1)[1].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(tmp)
                removed.append(tmp)
    return removed


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
    except NewerFormatError as exc:
        raise NewerFormatError(f"{os.fspath(path)}: {exc}") from None


def _read(path) -> tuple[dict, dict]:
    if not zipfile.is_zipfile(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {os.fspath(path)}")
        raise InvalidFile("it is not a zip archive (fastnn model files are .npz archives)")
    try:
        _check_members(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (FileNotFoundError, InvalidFile):
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidFile(f"cannot read it as an archive ({exc})") from None
    if "header" not in arrays:
        raise InvalidFile("it has no header")
    header = header_from_text(str(arrays.pop("header")))
    check_arrays(arrays)
    return header, arrays


def header_to_text(header: dict) -> str:
    """The header as a file holds it: JSON text (pickling uses it too)."""
    return json.dumps(document(header))


def header_from_text(text: str) -> dict:
    """A header read back from :func:`header_to_text`'s JSON, its format checked."""
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFile(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidFile("its header does not describe a fastnn model")
    version, writer = header.get("format_version"), header.get("fastnn_version")
    if type(version) is not int:
        raise InvalidFile(f"its header's format version is {version!r}, not a whole number")
    if version > max(READS):
        raise NewerFormatError(
            f"it is a model file of format version {version} (written by fastnn {writer}); "
            f"this fastnn ({__version__}) reads format versions {min(READS)} to {max(READS)}: "
            "upgrade fastnn (the fastnn-mlp distribution) to load it")
    if version not in READS:
        raise InvalidFile(f"format version {version} is not one of {list(READS)} (written by "
                          f"fastnn {writer})")
    return header


def _check_members(path) -> None:
    """Check each array's declared shape against the bytes the archive holds for it, and
    those against the file's size, before anything is read (nothing large is allocated)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.compress_size for m in members) > size:
            raise InvalidFile("its directory claims more data than the file holds")
        for m in members:
            name = m.filename[:-4] if m.filename.endswith(".npy") else m.filename
            if not m.filename.endswith(".npy"):
                raise InvalidFile(f"it holds {m.filename!r}, which is not an array")
            stored = m.compress_type == zipfile.ZIP_STORED
            if m.file_size > (m.compress_size if stored else
                              _DEFLATE_MAX_RATIO * m.compress_size + 1024):
                raise InvalidFile(f"its array {name!r} claims {m.file_size} bytes but the "
                                  f"file holds {m.compress_size} for it")
            with archive.open(m) as fh:
                version = np.lib.format.read_magic(fh)
                if version not in readers:
                    raise InvalidFile(f"its array {name!r} has .npy version {version}; "
                                      "1.0 or 2.0 expected")
                shape, _, dtype = readers[version](fh)
                header_bytes = fh.tell()
            if dtype.hasobject:
                raise InvalidFile(f"its array {name!r} holds pickled Python objects, which are "
                                  "never read")
            declared = math.prod(shape) * dtype.itemsize
            if declared != m.file_size - header_bytes:
                raise InvalidFile(f"its array {name!r} declares shape {shape} of {dtype} "
                                  f"({declared} bytes) but holds {m.file_size - header_bytes} "
                                  "bytes")
