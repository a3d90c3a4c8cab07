"""What this fastnn build is: version, OpenMP, threads, BLAS."""

from __future__ import annotations

import os
import sys

from fastnn import _kernels
from fastnn._kernels import _info
from fastnn._threads import get_num_threads
from fastnn._version import __version__


def _is_scipys(path: str) -> bool:
    """Whether a library lies in scipy's install folders (its own BLAS, for wheels)."""
    import scipy

    root = os.path.dirname(os.path.realpath(scipy.__file__))
    path = os.path.realpath(path)
    return path.startswith(root + os.sep) or path.startswith(root + ".libs" + os.sep)


def _blas_info() -> list[dict]:
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "threading_layer", "num_threads", "architecture", "filepath")
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    chosen = [lib for lib in libs if _is_scipys(lib["filepath"])]
    return [{k: lib.get(k) for k in keys} for lib in (chosen or libs)]


def config() -> dict:
    """Return this build's configuration.

    Returns
    -------
    dict
        ``version``; ``openmp`` (True when the kernels were built with
        OpenMP); ``isa`` (the instruction-set variant of the kernels in use:
        "avx512", "avx2" or "baseline"); ``n_threads`` (the default thread count of the kernels);
        ``openmp_wait`` (how idle OpenMP threads wait: fastnn's bounded
        spinning, the environment's setting, or the runtime's own when it was
        loaded before fastnn);
        ``blas``, a list of dicts describing the BLAS library that fastnn's
        GEMMs call through scipy (every loaded BLAS when scipy's own cannot
        be told apart) (``internal_api``, ``version``, ``threading_layer``,
        ``num_threads``, ``architecture``, ``filepath``); ``python``.
    """
    return {
        "version": __version__,
        "openmp": _info.openmp_enabled(),
        "isa": _kernels.isa,
        "n_threads": get_num_threads(),
        "openmp_wait": _kernels.wait_policy,
        "blas": _blas_info(),
        "python": sys.version.split()[0],
    }


def show_config(file=None) -> None:
    """Print :func:`config` in a readable form (to ``file``, default stdout)."""
    cfg = config()
    lines = [
        f"fastnn {cfg['version']} (Python {cfg['python']})",
        f"  openmp:    {'yes' if cfg['openmp'] else 'no (serial kernels)'}",
        f"  kernels:   {cfg['isa']}",
        f"  n_threads: {cfg['n_threads']}",
        f"  waiting:   {cfg['openmp_wait']}",
    ]
    for lib in cfg["blas"]:
        lines.append(
            f"  blas:      {lib['internal_api']} {lib['version']} "
            f"({lib['threading_layer']} threading, {lib['architecture']}), {lib['filepath']}"
        )
    print("\n".join(lines), file=file)
