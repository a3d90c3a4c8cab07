"""What this fastnn build is: version, OpenMP, threads, BLAS."""

from __future__ import annotations

import os
import sys

from fastnn import _kernels
from fastnn._kernels import _info
from fastnn._threads import get_num_threads
from fastnn._version import __version__


def _blas_info(backend) -> list[dict]:
    """threadpoolctl's entry for the library of ``backend`` (a one-item list)."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "threading_layer", "num_threads", "architecture", "filepath")
    path = os.path.realpath(backend.filepath)
    libs = [lib for lib in threadpool_info()
            if lib.get("user_api") == "blas" and os.path.realpath(lib["filepath"]) == path]
    if not libs:                 # a threadpoolctl that does not know the library
        libs = [{"internal_api": backend.name, "version": backend.version,
                 "filepath": backend.filepath}]
    return [{k: lib.get(k) for k in keys} for lib in libs[:1]]


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
        ``blas_backend`` (the BLAS fastnn's GEMMs call: "openblas" or
        "mkl", chosen by ``FASTNN_BLAS``) and ``blas_choice`` (how it was
        chosen); ``blas``, a list of one dict describing that library as
        threadpoolctl sees it (``internal_api``, ``version``,
        ``threading_layer``, ``num_threads``, ``architecture``,
        ``filepath``); ``python``.
    """
    from fastnn._kernels import _backends

    backend = _backends.select()
    return {
        "version": __version__,
        "openmp": _info.openmp_enabled(),
        "isa": _kernels.isa,
        "n_threads": get_num_threads(),
        "openmp_wait": _kernels.wait_policy,
        "blas_backend": backend.name,
        "blas_choice": _backends.reason,
        "blas": _blas_info(backend),
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
        f"  backend:   {cfg['blas_backend']} ({cfg['blas_choice']})",
    ]
    for lib in cfg["blas"]:
        how = [f"{lib['threading_layer']} threading" if lib.get("threading_layer") else None,
               lib.get("architecture")]
        how = ", ".join(h for h in how if h)
        lines.append(f"  blas:      {lib['internal_api']} {lib['version']}"
                     f"{f' ({how})' if how else ''}, {lib['filepath']}")
    print("\n".join(lines), file=file)
