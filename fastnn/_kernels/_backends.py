"""The BLAS behind fastnn's GEMMs, found and bound at run time.

The kernels are built against no BLAS: they call sgemm, dgemm, sgemv and
dgemv through pointers (``_blas.pxd``), which this module sets, once, before
any kernel runs. Two backends:

- ``"openblas"``: ``scipy-openblas32``, the OpenBLAS build that NumPy and
  SciPy publish for other packages (BSD, no libgfortran; its symbols carry
  the prefix ``scipy_``). A runtime dependency, the default.
- ``"mkl"``: Intel MKL's single dynamic library, ``libmkl_rt`` (the ``mkl``
  package, ``pip install mkl``; from a checkout ``pip install ".[mkl]"``), run with its sequential threading
  layer: fastnn's OpenMP pool cuts GEMMs into single-threaded blocks, and
  MKL's default layer would start libiomp5's pool beside it.

``FASTNN_BLAS=auto|openblas|mkl`` chooses; ``auto`` (the default) takes MKL
on an Intel CPU when it is installed and loads, and no other library in the
process has loaded it already (MKL's threading layer is the process's: a
NumPy built with MKL would turn single-threaded), OpenBLAS otherwise. The rule
was measured in fastnn's block scheme (W1's training-step GEMMs,
bench/gemm_limit.py): on an Intel Xeon (AVX-512) MKL ran 1.1 to 1.9x
OpenBLAS's speed; on an AMD EPYC (Zen 3) MKL takes its generic code path
(libmkl_def, not its AVX2 kernels) and ran 0.92 to 0.95x OpenBLAS's speed
at 1 and 2 threads, batch 32 to 512 (a shared machine, load 3.5). A rule rather than a timing at start-up: the backends round
differently, and a choice made by a noisy timing could give two runs on one
machine different bits.

Each backend gives the same bits at any thread count (the blocks depend on
the shapes alone); the two give different bits from each other.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
import warnings

from fastnn._kernels import _blas

ENV = "FASTNN_BLAS"
CHOICES = ("auto", "openblas", "mkl")
MKL_INSTALL = "pip install mkl"
OPENBLAS_INSTALL = "pip install scipy-openblas32"
FUNCTIONS = ("sgemm", "dgemm", "sgemv", "dgemv")
MKL_NAMES = {"linux": ("libmkl_rt.so.3", "libmkl_rt.so.2"),
             "darwin": ("libmkl_rt.3.dylib", "libmkl_rt.2.dylib"),
             "win32": ("mkl_rt.3.dll", "mkl_rt.2.dll")}
MKL_INTERFACE_LP64 = 0              # 32-bit integers, as the kernels pass them
MKL_THREADING_SEQUENTIAL = 1


class BlasError(ImportError):
    """FASTNN_BLAS names no backend, or the backend it names is missing or broken
    (``broken``: installed, but it does not load or work)."""

    def __init__(self, message: str, broken: bool = False):
        super().__init__(message)
        self.broken = broken


class Backend:
    """A loaded BLAS library and the addresses of the functions the kernels call."""

    __slots__ = ("name", "filepath", "version", "addresses", "library")

    def __init__(self, name: str, filepath: str, version: str, addresses: tuple,
                 library: ctypes.CDLL):
        self.name = name                  # "openblas" or "mkl"
        self.filepath = filepath
        self.version = version
        self.addresses = addresses        # of sgemm, dgemm, sgemv, dgemv
        self.library = library            # kept: the library stays loaded

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.filepath!r}, {self.version!r})"


_lock = threading.RLock()
_loaded: dict[str, Backend] = {}
current: Backend | None = None     # the backend the kernels call, once chosen
reason = ""                        # how it was chosen, for fastnn.config()


def requested() -> str:
    """FASTNN_BLAS's value ("auto" when unset); an unknown value is a BlasError."""
    value = os.environ.get(ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise BlasError(
            f"{ENV}={os.environ[ENV]!r}: expected one of {', '.join(CHOICES)} (auto: MKL on an "
            f"Intel CPU when installed, else OpenBLAS; MKL needs {MKL_INSTALL})")
    return value


def openblas_path() -> str | None:
    """The scipy-openblas32 library's file, found without importing its package."""
    spec = importlib.util.find_spec("scipy_openblas32")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        lib = os.path.join(folder, "lib")
        names = sorted(os.listdir(lib)) if os.path.isdir(lib) else []
        for name in names:
            if name.startswith("libscipy_openblas") and os.path.isfile(os.path.join(lib, name)) \
                    and (".so" in name or name.endswith((".dylib", ".dll"))):
                return os.path.join(lib, name)
    return None


def mkl_paths() -> list[str]:
    """Where MKL's libmkl_rt may be, best first: the files of the installed ``mkl`` package,
    this environment's library folder, then bare names for the dynamic loader's search
    (conda, system installs, LD_LIBRARY_PATH). Found files are absolute paths."""
    names = MKL_NAMES.get(sys.platform, MKL_NAMES["linux"])
    found = []
    try:
        from importlib import metadata

        dist = metadata.distribution("mkl")
        files = dist.files or []
        for name in names:          # libmkl_rt.so.3 before .so.2
            found += [str(dist.locate_file(f)) for f in files if f.name == name]
    except Exception:               # not installed, or its metadata unreadable: look on
        pass
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for folder in ("lib", "Library/bin") if sys.platform == "win32" else ("lib",):
            found += [os.path.join(prefix, folder, name) for name in names]
    found = [os.path.abspath(p) for p in found if os.path.isfile(p)]
    return list(dict.fromkeys(found)) + list(names)


def _addresses(library: ctypes.CDLL, prefix: str, suffix: str) -> tuple:
    return tuple(ctypes.cast(getattr(library, prefix + name + suffix), ctypes.c_void_p).value
                 for name in FUNCTIONS)


def _load_openblas() -> Backend:
    """Load scipy-openblas32's library: FileNotFoundError if it is not installed, OSError
    (naming the file, saying what to do) if it does not load or work."""
    path = openblas_path()
    if path is None:
        raise FileNotFoundError("scipy-openblas32 is not installed")
    fix = "reinstall it: pip install --force-reinstall scipy-openblas32"
    try:
        library = ctypes.CDLL(path)
        config = ctypes.cast(library.scipy_openblas_get_config,
                             ctypes.CFUNCTYPE(ctypes.c_char_p))
        addresses = _addresses(library, "scipy_", "_")
    except AttributeError as exc:
        raise OSError(f"OpenBLAS at {path} lacks a function fastnn needs ({exc}); {fix}") \
            from None
    except OSError as exc:
        raise OSError(f"OpenBLAS at {path} does not load ({exc}); {fix}") from None
    words = config().decode(errors="replace").split()
    version = words[1] if len(words) > 1 and words[0] == "OpenBLAS" else " ".join(words)
    return Backend("openblas", path, version, addresses, library)


MKL_LAYERS = {0: "intel", 1: "sequential", 2: "pgi", 3: "gnu", 4: "tbb"}


def _load_mkl() -> Backend:
    """Load libmkl_rt with the sequential layer: FileNotFoundError if none is found, OSError
    (naming the file, saying what to do) if one is found but does not load or work."""
    fix = "reinstall it: pip install --force-reinstall mkl"
    for path in mkl_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError as exc:
            if os.path.isabs(path):      # a file that is there but does not load: broken
                raise OSError(f"MKL at {path} does not load ({exc}); {fix}") from None
            continue                     # a name the loader does not find
        break
    else:
        raise FileNotFoundError("MKL is not installed (no libmkl_rt in the mkl package, "
                                f"{os.path.join(sys.prefix, 'lib')} or the loader's path)")
    filepath = _filepath(library, path)
    try:
        library.MKL_Set_Interface_Layer(MKL_INTERFACE_LP64)
        layer = library.MKL_Set_Threading_Layer(MKL_THREADING_SEQUENTIAL)
        addresses = _addresses(library, "", "_")
        text = ctypes.create_string_buffer(256)
        library.MKL_Get_Version_String(text, 256)
    except AttributeError as exc:
        raise OSError(f"MKL at {filepath} lacks a function fastnn needs ({exc}); {fix}") \
            from None
    if layer != MKL_THREADING_SEQUENTIAL:
        raise OSError(f"MKL at {filepath} was started with its {MKL_LAYERS.get(layer, layer)} "
                      "threading layer before fastnn loaded it, and fastnn needs the "
                      "sequential one: set MKL_THREADING_LAYER=SEQUENTIAL before Python "
                      f"starts, or {ENV}=openblas")
    words = text.value.decode(errors="replace").split()
    version = words[words.index("Version") + 1] if "Version" in words[:-1] else text.value.decode()
    return Backend("mkl", filepath, version, addresses, library)


def _filepath(library: ctypes.CDLL, path: str) -> str:
    """The file a library loaded by bare name came from (the loader's choice)."""
    if os.path.isabs(path):
        return path
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if line.rstrip().endswith("/" + path):
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return path


def load(name: str) -> Backend:
    """Load a backend by name ("openblas" or "mkl"), once per process; BlasError if it is
    missing or broken, saying what to do."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        loader = {"openblas": _load_openblas, "mkl": _load_mkl}[name]
        install = MKL_INSTALL if name == "mkl" else OPENBLAS_INSTALL
        try:
            backend = loader()
        except FileNotFoundError as exc:
            other = f", or set {ENV} to auto or openblas" if name == "mkl" else \
                " (fastnn depends on it)"
            raise BlasError(f"{ENV}={name}: {exc}; install it with {install}{other}") from None
        except OSError as exc:
            raise BlasError(f"{ENV}={name}: {exc}", broken=True) from None
        _loaded[name] = backend
        return backend


def bind(backend: Backend) -> None:
    """Make the kernels call ``backend`` from now on. Only between kernel calls: for
    choosing once (:func:`select`) and for benchmarks comparing backends in one process."""
    global current
    with _lock:
        _blas.bind(*backend.addresses)
        current = backend


def select() -> Backend:
    """Choose, load and bind the backend FASTNN_BLAS asks for (once per process; later calls
    return it). BlasError when it names an unknown backend or one that is missing or broken;
    under ``auto`` a broken MKL warns and OpenBLAS is used."""
    global reason
    with _lock:
        if current is None:
            backend, reason = choose(requested(), _blas.cpu_is_intel())
            bind(backend)
        return current


def _mkl_loaded_by_another() -> bool:
    """Whether a libmkl_rt is loaded in this process already (Linux; False elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            return "libmkl_rt" in f.read()
    except OSError:
        return False


def choose(wanted: str, intel: bool) -> tuple[Backend, str]:
    """The backend for FASTNN_BLAS=``wanted`` on a CPU (Intel's or not), loaded, and how it
    was chosen."""
    if wanted != "auto":
        return load(wanted), f"{ENV}={wanted}"
    if not intel:
        return load("openblas"), "auto: OpenBLAS on a CPU not Intel's"
    if "mkl" not in _loaded and _mkl_loaded_by_another():
        # its threading layer is the process's: making it sequential would make that
        # library's own MKL calls single-threaded too (NumPy built with MKL, in conda)
        return load("openblas"), "auto: OpenBLAS, as another library here uses MKL"
    try:
        return load("mkl"), "auto: MKL on an Intel CPU"
    except BlasError as exc:
        if not exc.broken:
            return load("openblas"), "auto: OpenBLAS, MKL not installed"
        warnings.warn(f"fastnn: {exc}. {ENV}=auto uses OpenBLAS instead ({ENV}=openblas "
                      "silences this)", RuntimeWarning, stacklevel=3)
        return load("openblas"), "auto: OpenBLAS, MKL does not work here"
