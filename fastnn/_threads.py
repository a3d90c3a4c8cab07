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

import math
import numbers
import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager

from fastnn import _kernels
from fastnn._kernels import _info

# Multiply-adds below which no BLAS we know runs a GEMM on several threads
# (OpenBLAS starts at 4 * 65536): work made only of such GEMMs needs no hold.
BLAS_THREADING_MIN = 65536

#: The least maximum of a thread count; the maximum is this or 4 x the cores this process
#: may use, whichever is larger. Thousands of OpenMP threads run for minutes or exhaust
#: the stacks of the process (a crash, not an error), and never run faster.
MIN_MAX_THREADS = 64

_default_n_threads: int | None = None
_max_n_threads: int | None = None
_detected_n_threads: int | None = None
_detected_from_env = False          # whether OMP_NUM_THREADS gave _detected_n_threads
_lock = threading.Lock()
_holders = 0
_limiter = None
_controller = None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> int | None:
    """CPUs the process's cgroup quota allows (ceil(quota / period)), or None without a quota.

    Reads cgroup v2 (``cpu.max`` of the process's group and its parents) or v1
    (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), as containers set them.
    """
    try:
        with open(proc) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        hierarchy, _, path = line.partition(":")[2].partition(":")
        if hierarchy == "":                       # v2: "0::/path"
            files = [("cpu.max", None)]
            base = root
        elif "cpu" in hierarchy.split(","):       # v1: "4:cpu,cpuacct:/path"
            files = [("cpu.cfs_quota_us", "cpu.cfs_period_us")]
            base = os.path.join(root, hierarchy)
            if not os.path.isdir(base):
                base = os.path.join(root, "cpu")
        else:
            continue
        parts = [p for p in path.strip("/").split("/") if p]
        for depth in range(len(parts), -1, -1):   # the group and every parent
            folder = os.path.join(base, *parts[:depth])
            for quota_file, period_file in files:
                limit = _read_quota(folder, quota_file, period_file)
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


def _read_quota(folder: str, quota_file: str, period_file: str | None) -> int | None:
    try:
        with open(os.path.join(folder, quota_file)) as f:
            fields = f.read().split()
        if period_file is None:                   # v2: "max 100000" or "150000 100000"
            quota, period = fields[0], fields[1]
        else:
            with open(os.path.join(folder, period_file)) as f:
                quota, period = fields[0], f.read().split()[0]
        if quota in ("max", "-1"):
            return None
        return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None


def _env_threads() -> int | None:
    """OMP_NUM_THREADS as a positive int (its first entry), or None."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota."""
    limit = cgroup_cpu_limit()
    return max(1, min(_affinity(), limit) if limit else _affinity())


def max_threads() -> int:
    """The largest thread count fastnn accepts: 4 x :func:`available_cores`, at least 64."""
    global _max_n_threads
    if _max_n_threads is None:                  # read once: it asks the OS
        _max_n_threads = max(MIN_MAX_THREADS, 4 * available_cores())
    return _max_n_threads


def get_num_threads() -> int:
    """Return the number of threads fastnn's kernels use when ``n_threads=None``.

    fastnn's own count, found once: ``OMP_NUM_THREADS`` when set, else the
    cores this process may use (its CPU affinity, capped by a cgroup CPU
    quota as containers set), or 1 when fastnn was built without OpenMP.
    Other libraries calling ``omp_set_num_threads`` (PyTorch, scikit-learn)
    do not change it; :func:`set_num_threads`, :func:`num_threads` and
    ``threadpoolctl.threadpool_limits`` do.
    """
    global _detected_n_threads, _detected_from_env
    if _default_n_threads is not None:
        return _default_n_threads
    if _detected_n_threads is None:        # read once: it asks the OS
        if not _info.openmp_enabled():
            _detected_n_threads = 1
        else:
            env = _env_threads()
            if env is not None and env > max_threads():
                warnings.warn(f"OMP_NUM_THREADS={env} is more than fastnn's maximum of "
                              f"{max_threads()} threads (4 x the {available_cores()} cores "
                              f"this process may use, at least {MIN_MAX_THREADS}); fastnn "
                              f"uses {max_threads()}", RuntimeWarning, stacklevel=2)
                env = max_threads()
            _detected_n_threads, _detected_from_env = env or available_cores(), env is not None
    return _detected_n_threads


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count of fastnn's kernels; ``None`` restores the default."""
    global _default_n_threads
    _default_n_threads = None if n_threads is None else resolve_n_threads(n_threads)


def default_is_fixed() -> bool:
    """Whether the user fixed the default thread count (set_num_threads, num_threads,
    threadpool_limits, OMP_NUM_THREADS), rather than fastnn detecting it.

    OMP_NUM_THREADS counts as it was when the count was detected, as for
    :func:`get_num_threads`: Dask's nanny, for one, sets it in its parent's
    environment for the workers it starts, which must not fix the parent's.
    """
    if _default_n_threads is not None:
        return True
    get_num_threads()                  # detects, once
    return _detected_from_env


class ThreadChooser:
    """The thread count of a model's training, chosen by timing it.

    Training gives the same bits at any thread count, so the count may
    change between segments of an epoch. A segment lasts about
    ``SEGMENT_SECONDS`` at the kept count's last rate (:meth:`segment_batches`),
    so a count timed for a segment costs little, and the choice follows a
    change of load within an epoch. Each candidate (1, the default count,
    and half of it from 4 cores up) is timed; the fastest is kept (the first
    candidate timed twice: its first segment is a cold start).

    A rate is measured over at least ``MIN_MEASURE`` seconds of consecutive
    segments at one count: an epoch's last segment may be one batch, and a
    small model's epoch may last a few milliseconds, about a scheduler's time
    slice; beside busy processes such a segment runs either untouched or
    preempted, many times faster or slower than the count's rate.

    The others are timed again (against the kept count's latest rate):

    - at once when the kept count's rate falls ``DRIFT`` times below the
      rate that chose it and below another count's last rate (another
      process took a core: that count may now be faster); a count whose
      speed swings with the load does not time again a count measured far
      slower;
    - soon after a close call: a count kept by less than ``CLOSE`` times the
      next one's rate was chosen on one noisy measurement each (beside busy
      processes one segment swings by a quarter), so the others are timed
      again after ``SEGMENT_SECONDS`` at the kept count, then 2, 4... times
      that, up to ``PROBE_EVERY`` times;
    - otherwise after ``PROBE_EVERY`` segments' time at the kept count, or
      longer when the check costs more: the time the other counts lost
      against the kept one when last timed is at most ``CHECK_BUDGET`` of the
      time between checks (a count five times slower, as 2 threads beside
      two busy processes on 2 cores, is timed again far less often than one
      a little slower), and at most ``MAX_WAIT`` seconds.

    A chooser made for a batch size (``batch_size``) ignores segments of
    smaller batches (an epoch's short last batch timed on its own, as the
    scikit-learn estimators do): they run fewer samples a second at any
    count, and would look like drift.

    With the environment variable ``FASTNN_THREAD_LOG`` naming a file when a
    chooser is made, it appends a line there for each segment it records:
    the time, the count, the rows, the seconds, the rate, and what it does
    next (for reading its decisions; nothing is written without it).
    """

    PROBE_EVERY = 16
    DRIFT = 1.3
    CLOSE = 1.3
    SEGMENT_SECONDS = 0.05
    MIN_MEASURE = 0.025                # seconds a rate is measured over, at least
    CHECK_BUDGET = 0.05
    MAX_WAIT = 2.0
    FIRST_SEGMENT_ROWS = 4096          # before any rate is known

    def __init__(self, n_max: int, batch_size: int | None = None):
        self.batch_size = batch_size
        candidates = {1, n_max} | ({n_max // 2} if n_max >= 4 else set())
        self.candidates = sorted(candidates, reverse=True)
        self.rates: dict[int, float] = {}
        self.current = self.candidates[0]
        self.chosen_rate = 0.0
        self.kept = 0.0                      # seconds at the kept count since the last check
        self.wait = self.PROBE_EVERY * self.SEGMENT_SECONDS   # ... before the next check
        self._close_wait = self.SEGMENT_SECONDS   # the next such wait after a close call
        self._timed: dict[int, float] = {}   # seconds each other count ran at the last check
        self._measure = (0, 0, 0.0)          # (count, rows, seconds) of a rate being measured
        # counts to time next; the first is timed again last, as its first segment also
        # paid for what a first fit sets up (workspaces, first touches of memory)
        self._queue = [*self.candidates, self.candidates[0]] if n_max > 1 else [1]
        self._log = os.environ.get("FASTNN_THREAD_LOG") or None

    def next(self) -> int:
        """The thread count for the next segment."""
        return self._queue[0] if self._queue else self.current

    def segment_batches(self, batch_size: int) -> int:
        """Batches of ``batch_size`` rows in the next timed segment: about
        ``SEGMENT_SECONDS`` at the kept count's last rate (``FIRST_SEGMENT_ROWS`` rows
        before one is known), at least 2."""
        rate = self.rates.get(self.current)
        rows = self.FIRST_SEGMENT_ROWS if not rate else rate * self.SEGMENT_SECONDS
        return max(2, math.ceil(rows / max(1, batch_size)))

    def record(self, n_threads: int, samples: int, seconds: float,
               batch_size: int | None = None) -> None:
        """A segment of ``samples`` rows (batches of ``batch_size`` rows) took ``seconds`` on
        ``n_threads``."""
        event = self._record(n_threads, samples, seconds, batch_size)
        if self._log is not None:
            self._write_log(n_threads, samples, seconds, event)

    def _record(self, n_threads, samples, seconds, batch_size) -> str:
        if self.batch_size is not None and batch_size is not None and \
                batch_size < self.batch_size:
            return "ignored: smaller batches"  # the count to time waits for a next one
        seconds = max(seconds, 0.0)
        count, rows, total = self._measure
        if count != n_threads:
            rows, total = 0, 0.0
        rows, total = rows + samples, total + seconds
        if not self._queue:
            self.kept += seconds
        if total < self.MIN_MEASURE:
            self._measure = (n_threads, rows, total)
            return "measuring"
        self._measure = (0, 0, 0.0)
        rate = rows / max(total, 1e-9)
        self.rates[n_threads] = rate
        if self._queue:
            if self._queue[0] == n_threads:
                self._queue.pop(0)
                self._timed[n_threads] = total
            if not self._queue:
                self._choose()
                rates = ", ".join(f"{n}: {r:.0f}/s" for n, r in sorted(self.rates.items()))
                return f"chose {self.current} ({rates}), next check after {self.wait:.2f} s"
            return "timing"
        others = max((r for n, r in self.rates.items() if n != self.current), default=0.0)
        drift = rate * self.DRIFT < self.chosen_rate and rate < others
        if drift:
            self._close_wait = self.SEGMENT_SECONDS   # the load changed: close calls start over
        if drift or self.kept >= self.wait:
            # the kept count's rate is the one just measured: time the others
            self._queue = [c for c in self.candidates if c != self.current]
            self._timed = {}
            why = "drift" if drift else "due"
            return f"{why}: {n_threads} ran {rate:.0f}/s (chosen at {self.chosen_rate:.0f}/s), " \
                   f"time the others"
        return "kept"

    def _choose(self) -> None:
        """Every count timed: keep the fastest, and say when to time the others again."""
        self.current = max(self.rates, key=self.rates.get)
        self.chosen_rate, self.kept = self.rates[self.current], 0.0
        runner_up = max((r for n, r in self.rates.items() if n != self.current), default=0.0)
        if runner_up * self.CLOSE > self.chosen_rate:        # a close call: check it soon
            self.wait = self._close_wait
            self._close_wait = min(self.PROBE_EVERY * self.SEGMENT_SECONDS,
                                   2 * self._close_wait)
            return
        self._close_wait = self.SEGMENT_SECONDS
        lost = sum(seconds * (1 - self.rates[n] / self.chosen_rate)
                   for n, seconds in self._timed.items() if n != self.current)
        self.wait = min(self.MAX_WAIT, max(self.PROBE_EVERY * self.SEGMENT_SECONDS,
                                           lost / self.CHECK_BUDGET))

    def _write_log(self, n_threads, samples, seconds, event) -> None:
        line = (f"{time.time():.4f} chooser={id(self):x} batch={self.batch_size} "
                f"n={n_threads} rows={samples} seconds={seconds:.5f} "
                f"rate={samples / max(seconds, 1e-9):.0f} current={self.current} "
                f"next={self.next()} | {event}\n")
        try:
            with open(self._log, "a") as f:
                f.write(line)
        except OSError as e:               # a log that cannot be written stops, once
            warnings.warn(f"FASTNN_THREAD_LOG={self._log}: cannot write the thread log ({e}); "
                          f"logging stops", RuntimeWarning, stacklevel=3)
            self._log = None


_choosers: dict[tuple, ThreadChooser] = {}
_choosers_lock = threading.Lock()
MAX_CHOOSERS = 256


def chooser_for(work: tuple, batch_size: int | None = None) -> ThreadChooser:
    """The ThreadChooser for training of the kind ``work`` (the model's size) in batches of
    ``batch_size`` rows, in this thread.

    Models of one size trained one after another in a thread (a search's trials,
    scikit-learn's repeated fits, a babysitter's one-epoch fits) share what the first
    measured, so a new model starts at the count that was fastest, not at a probe.
    """
    key = (threading.get_ident(), get_num_threads(), work, batch_size)
    with _choosers_lock:
        chooser = _choosers.get(key)
        if chooser is None:
            if len(_choosers) >= MAX_CHOOSERS:
                _choosers.clear()
            chooser = _choosers[key] = ThreadChooser(get_num_threads(), batch_size)
        return chooser


@contextmanager
def num_threads(n_threads: int | None):
    """Within the block, fastnn's kernels default to ``n_threads`` (None: the detected
    count); the previous setting comes back after it."""
    global _default_n_threads
    previous = _default_n_threads
    set_num_threads(n_threads)
    try:
        yield
    finally:
        _default_n_threads = previous


def resolve_n_threads(n_threads: int | None, name: str = "n_threads") -> int:
    """Check an ``n_threads`` argument (1 to :func:`max_threads`); ``None`` means
    :func:`get_num_threads`."""
    if n_threads is None:
        return get_num_threads()
    if type(n_threads) is int and 1 <= n_threads <= (_max_n_threads or max_threads()):
        return n_threads                         # the common case, on every predict
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer or None; got {n_threads!r} "
                        f"({type(n_threads).__name__})")
    if n_threads < 1:
        raise ValueError(f"{name} must be at least 1; got {n_threads}")
    if n_threads > max_threads():
        raise ValueError(f"{name} must be at most {max_threads()} (4 x the {available_cores()} "
                         f"cores this process may use, at least {MIN_MAX_THREADS}); got "
                         f"{n_threads}. More threads than cores only wait for each other")
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

                    _kernels.ops            # load the kernels, and their BLAS, first:
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


_UNSET = object()


def get_num_threads_detected() -> int:
    """The count fastnn detects, whatever was set."""
    global _default_n_threads
    saved, _default_n_threads = _default_n_threads, None
    try:
        return get_num_threads()
    finally:
        _default_n_threads = saved


def _register_with_threadpoolctl() -> None:
    """List fastnn in ``threadpoolctl.threadpool_info()`` and let ``threadpool_limits``
    limit it, as scikit-learn users limit their thread pools (threadpoolctl >= 3.5)."""
    try:
        import threadpoolctl
    except ImportError:
        return
    if not hasattr(threadpoolctl, "register"):
        return

    class FastnnController(threadpoolctl.LibController):
        """fastnn's kernels: an OpenMP pool with a thread count of its own, and the BLAS
        their GEMMs call (``blas_backend``, ``blas_filepath``: None until the kernels load;
        that library has its own entry too)."""

        user_api = "openmp"
        internal_api = "fastnn"
        filename_prefixes = ("_info",)
        check_symbols = ("fastnn_threadpool_api",)

        _saved = _UNSET

        def set_additional_attributes(self):
            loaded = sys.modules.get("fastnn._kernels._backends")     # not loaded here
            backend = loaded.current if loaded is not None else None
            self.blas_backend = backend.name if backend is not None else None
            self.blas_filepath = backend.filepath if backend is not None else None

        def get_num_threads(self):
            return get_num_threads()

        def set_num_threads(self, num_threads):
            # threadpool_limits restores by setting the count it read; give back the
            # setting it found instead (None: detected), so a limit leaves nothing fixed
            global _default_n_threads
            num_threads = min(num_threads, max_threads())   # a limit: above it, none
            if self._saved is _UNSET:
                if num_threads == get_num_threads():
                    # nothing to change: threadpool_limits on other pools (user_api="blas")
                    # restores every pool's count on exit, fastnn's included; fixing it
                    # here would turn off the thread chooser for good
                    return
                self._saved = _default_n_threads
                set_num_threads(num_threads)
            elif num_threads == (self._saved or get_num_threads_detected()):
                _default_n_threads, self._saved = self._saved, _UNSET
            else:
                set_num_threads(num_threads)

        def get_version(self):
            from fastnn._version import __version__

            return __version__

    threadpoolctl.register(FastnnController)


_register_with_threadpoolctl()

