"""Thread counts, and BLAS held at one thread while fastnn's kernels run.

fastnn runs everything, GEMMs included, in one OpenMP pool: each thread
calls a single-threaded GEMM on its block of rows. A BLAS with its own
thread pool would fight that pool for the cores, so while any fastnn
kernel runs, every loaded BLAS is held at one thread. The hold is counted:
nested and concurrent holders (several trials of a search in Python
threads) share it, and the last one out restores the BLAS thread counts.

threadpoolctl (3.8) lets only one "controlling" Python thread change a
process-wide OpenBLAS pool and silently ignores the others. The first
holder in and the last one out may be any thread, so each change takes
that control (under this module's lock) and lets it go right after.
"""

from __future__ import annotations

import numbers
import os
import threading

from fastnn import _kernels
from fastnn._kernels import _info

# Multiply-adds below which no BLAS we know runs a GEMM on several threads
# (OpenBLAS starts at 4 * 65536): work made only of such GEMMs needs no hold.
BLAS_THREADING_MIN = 65536

_default_n_threads: int | None = None
_detected_n_threads: int | None = None
_lock = threading.Lock()
_holders = 0
_limiter = None
_controller = None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Return the number of threads fastnn's kernels use when ``n_threads=None``.

    It is the number of cores this process may run on (capped by
    ``OMP_NUM_THREADS`` when set), or 1 when fastnn was built without OpenMP;
    it is found on the first call and kept (:func:`set_num_threads` changes it).
    """
    global _detected_n_threads
    if _default_n_threads is not None:
        return _default_n_threads
    if _detected_n_threads is None:        # read once: it asks the OS
        if not _info.openmp_enabled():
            _detected_n_threads = 1
        elif os.environ.get("OMP_NUM_THREADS"):
            _detected_n_threads = _info.openmp_max_threads()
        else:
            _detected_n_threads = min(_info.openmp_max_threads(), _cpu_count())
    return _detected_n_threads


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count of fastnn's kernels; ``None`` restores the default."""
    global _default_n_threads
    _default_n_threads = None if n_threads is None else resolve_n_threads(n_threads)


def resolve_n_threads(n_threads: int | None) -> int:
    """Check an ``n_threads`` argument; ``None`` means :func:`get_num_threads`."""
    if n_threads is None:
        return get_num_threads()
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be a positive integer or None; got {n_threads!r}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1; got {n_threads}")
    return int(n_threads)


def _set_blas(change):
    """Run ``change()`` as the thread that controls BLAS limits (threadpoolctl)."""
    clears = {getattr(type(lib), "clear_controlling_thread", None)
              for lib in _controller.lib_controllers} - {None}
    for clear in clears:
        clear(force=True)
    try:
        return change()
    finally:
        for clear in clears:
            clear(force=True)


class _BlasHeld:
    """Context manager: every loaded BLAS at one thread while inside."""

    __slots__ = ()

    def __enter__(self):
        global _holders, _limiter, _controller
        with _lock:
            if _holders == 0:
                if _controller is None:
                    from threadpoolctl import ThreadpoolController

                    _kernels.ops            # load the kernels, and scipy's BLAS, first:
                    #                         the controller sees only the BLAS loaded now
                    _controller = ThreadpoolController().select(user_api="blas")
                _limiter = _set_blas(lambda: _controller.limit(limits=1))
            _holders += 1
        return self

    def __exit__(self, *exc):
        global _holders, _limiter
        with _lock:
            _holders -= 1
            if _holders == 0:
                _set_blas(_limiter.restore_original_limits)
                _limiter = None
        return False


blas_held = _BlasHeld()
