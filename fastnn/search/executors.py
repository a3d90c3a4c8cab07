"""Where trials run: threads of the driver (default), processes, or any Executor.

- ``executor=None`` or ``"thread"``: each trial in a thread of its own
  (:class:`TrialThreads`, at most ``n_jobs`` at once). fastnn's kernels
  release the GIL, so ``n_jobs`` trials use ``n_jobs`` cores with no
  process start-up and no copies of the data. Each trial's kernels get
  ``max(1, cores // n_jobs)`` threads (processes too). A thread cannot be
  killed: a trial past its time is told to stop (``trial.should_stop()``),
  recorded, and left behind; the study goes on.
- ``executor="process"``: each trial in a process of its own
  (:class:`TrialProcesses`: forkserver start method where available, else
  spawn), so that a trial past its time, or one that crashes, is killed
  or lost alone. The objective and its data are pickled for every trial:
  it must be a module-level function of an importable module (not a
  notebook's) or a picklable object.
- any ``concurrent.futures.Executor``: e.g. a Dask cluster's
  ``distributed.Client(...).get_executor()`` (cloudpickle: closures work).
  The caller owns it; a ``ThreadPoolExecutor`` counts as in-process. On a
  Dask worker a trial's kernels get fastnn's default there divided by the
  worker's task threads.

Reports and early stopping. A trial running in a thread of the driver's
process asks the study's scheduler after each ``trial.report`` (under a
lock) and sees every other trial's latest reports. A trial anywhere else
cannot talk to the driver while it runs: it gets a copy of the scheduler as
it was when the trial was submitted, decides ``should_stop`` against that
snapshot (plus its own reports), and sends its reports back with its
result; the driver then records them in its scheduler, so trials submitted
later compare against them. Decisions are the same rule, on possibly
older information.

At most ``n_jobs`` trials are in flight at once, whatever the executor, and
the driver alone writes to storage.

Time limits (``trial_timeout=``, ``timeout=``; see :func:`run_jobs`). A
trial's time runs from when its worker process starts it (processes) or
from its submission (threads, other executors). Past it, a process is
killed; a thread of this process is told to stop through
``trial.should_stop()`` and left behind; on any other executor the future
is cancelled if it has not started, and a trial that asks
``should_stop()`` stops by itself. With a caller's ``ThreadPoolExecutor``
a thread left behind keeps its pool slot: prefer the default executor.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import (FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor,
                                ThreadPoolExecutor, wait)
from contextlib import contextmanager

from fastnn._threads import get_num_threads, max_threads
from fastnn.search._checks import count

__all__ = ["check_executor", "open_executor", "run_jobs", "threads_per_trial", "LivePruner",
           "TrialThreads", "TrialProcesses", "TrialProcessDied", "STOP_GRACE"]

#: Seconds that trials still running at a study's ``timeout`` get to stop by themselves.
STOP_GRACE = 1.0


def _process_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def check_executor(executor) -> None:
    """Raise unless ``executor`` is None, "thread", "process" or an Executor."""
    if not (executor in (None, "thread", "process") or isinstance(executor, Executor)):
        raise ValueError("executor must be None or 'thread' (threads), 'process', or a "
                         f"concurrent.futures.Executor instance; got {executor!r}")


def check_n_jobs(n_jobs, executor) -> int:
    """``n_jobs`` (trials at once) checked: an integer >= 1 and, for this machine's threads or
    processes (None, "thread", "process"), at most :func:`fastnn._threads.max_threads`."""
    n_jobs = count(n_jobs, "n_jobs")
    if executor in (None, "thread", "process") and n_jobs > max_threads():
        raise ValueError(f"n_jobs must be at most {max_threads()} with executor="
                         f"{executor or 'thread'!r} (4 x the cores this process may use, at "
                         f"least 64: each trial is a thread or process of this machine); got "
                         f"{n_jobs}. For more trials at once, pass a cluster's executor "
                         "(e.g. Dask's)")
    return n_jobs


class TrialThreads(Executor):
    """Run each submitted call in a new daemon thread.

    Unlike a ``ThreadPoolExecutor``, a call that never returns takes no
    slot from later ones and does not keep the interpreter from exiting.
    """

    def __init__(self, name: str = "fastnn-trial"):
        self._name, self._count = name, 0

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def run():
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the future, as an Executor does
                future.set_exception(exc)
            else:
                future.set_result(result)

        self._count += 1
        threading.Thread(target=run, name=f"{self._name}-{self._count}", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to do: the caller waits for the calls it needs; the rest run on."""


class TrialProcessDied(RuntimeError):
    """A trial's process ended without sending a result (killed, or crashed)."""


def _worker(conn) -> None:
    """A trial process: run the calls the driver sends, one at a time, until told to end."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):      # the driver is gone
            return
        if job is None:
            return
        fn, args, kwargs = job
        conn.send(None)                  # started: the trial's time runs from here
        try:
            result = (True, fn(*args, **kwargs))
        except BaseException as exc:  # sent back to the driver
            result = (False, exc)
        try:
            conn.send(result)
        except Exception as exc:      # an unpicklable result or exception
            conn.send((False, RuntimeError(f"the trial's result could not be sent back: "
                                           f"{exc!r}")))


class TrialProcesses(Executor):
    """Run each submitted call in a worker process of its own, which :meth:`kill` can stop.

    Workers are reused from call to call (as in a ``ProcessPoolExecutor``),
    except one that was killed or died: a new one takes its place. They
    start from a forkserver where available. A worker that ends without a
    result (killed, crashed) fails its future with :class:`TrialProcessDied`.
    """

    def __init__(self):
        self._ctx = _process_context()
        if self._ctx.get_start_method() == "forkserver":   # forked with fastnn imported
            self._ctx.set_forkserver_preload(["fastnn.search"])
        self._idle: list = []                       # (process, connection)
        self._busy: dict[Future, tuple] = {}
        self._started: dict[Future, float] = {}
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            conn, child = self._ctx.Pipe()
            process = self._ctx.Process(target=_worker, args=(child,), daemon=True,
                                        name="fastnn-trial")
            process.start()
            child.close()
            worker = (process, conn)
        with self._lock:
            self._busy[future] = worker
        try:
            worker[1].send((fn, args, kwargs))
        except BaseException:
            with self._lock:
                self._busy.pop(future)
            worker[0].kill()
            raise
        threading.Thread(target=self._watch, args=(future, worker), daemon=True,
                         name="fastnn-trial-watch").start()
        return future

    def _watch(self, future: Future, worker) -> None:
        process, conn = worker
        try:
            conn.recv()
            with self._lock:
                self._started[future] = time.monotonic()
            ok, payload = conn.recv()
        except (EOFError, OSError):
            process.join()
            code = process.exitcode
            how = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            ok, payload = False, TrialProcessDied(f"the trial's process ended ({how}) without "
                                                  "a result")
            conn.close()
            worker = None
        with self._lock:
            self._busy.pop(future, None)
            self._started.pop(future, None)
            if worker is not None:
                self._idle.append(worker)
        if ok:
            future.set_result(payload)
        else:
            future.set_exception(payload)

    def started(self, future: Future) -> float | None:
        """When (``time.monotonic()``) ``future``'s call started in its worker; None if not yet."""
        with self._lock:
            return self._started.get(future)

    def kill(self, future: Future) -> None:
        """Kill the worker running ``future``'s call, if it still runs."""
        with self._lock:
            worker = self._busy.get(future)
        if worker is not None:
            worker[0].kill()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the idle workers; kill busy ones unless ``wait``."""
        with self._lock:
            idle, self._idle = self._idle, []
            busy = list(self._busy.values())
        for process, conn in idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for process, conn in busy:
            if wait:
                process.join()
            else:
                process.kill()
        for process, conn in idle:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
            conn.close()


@contextmanager
def open_executor(executor, n_jobs: int):
    """Yield ``(executor, in_process)``; shut down the executors this function made.

    ``in_process`` is True for threads of this process: their trials can
    share the driver's scheduler directly.
    """
    check_executor(executor)
    if isinstance(executor, Executor):
        pool, owned = executor, False
    elif executor == "process":
        pool, owned = TrialProcesses(), True
    else:
        pool, owned = TrialThreads(), True
    try:
        yield pool, isinstance(pool, (ThreadPoolExecutor, TrialThreads))
    except BaseException:
        if owned:  # interrupted: do not wait for running trials
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if owned:
        pool.shutdown(wait=True)


def threads_per_trial(n_jobs: int, executor=None) -> int | None:
    """Kernel threads per trial, so that trials times threads stay within the cores.

    Threads and processes of this machine (``None``, ``"thread"``,
    ``"process"``, a ``ThreadPoolExecutor`` or ``ProcessPoolExecutor``):
    ``n_jobs`` trials share its cores, ``max(1, cores // n_jobs)`` each.
    Any other executor (a Dask cluster): None, decided where the trial runs
    (:func:`worker_threads`).
    """
    if executor in (None, "thread", "process") or isinstance(
            executor, (ThreadPoolExecutor, ProcessPoolExecutor)):
        return max(1, get_num_threads() // n_jobs)
    return None


def worker_threads() -> int:
    """Kernel threads for a trial running here: in a Dask worker, fastnn's default there
    (which honours the ``OMP_NUM_THREADS`` Dask's nanny sets for its workers) shared
    among the worker's task threads; elsewhere fastnn's default."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            worker = distributed.get_worker()
        except ValueError:          # not inside a worker
            worker = None
        if worker is not None:
            return max(1, get_num_threads() // max(1, worker.state.nthreads))
    return get_num_threads()


class LivePruner:
    """The study's scheduler as seen from a trial running in one of the driver's threads."""

    def __init__(self, scheduler, lock: threading.Lock):
        self._scheduler, self._lock = scheduler, lock

    def report(self, number: int, step: int, value: float) -> bool:
        with self._lock:
            return self._scheduler.report(number, step, value)


Job = tuple  # (key, fn, args): run fn(*args) and hand the future to on_done(key, future)


def run_jobs(pool: Executor, n_jobs: int, next_job: Callable[[], Job | None],
             on_done: Callable[[object, Future], None], *, job_timeout: float | None = None,
             deadline: float | None = None,
             on_expired: Callable[[object, Future, str], None] | None = None,
             on_halt: Callable[[object], None] | None = None, grace: float = STOP_GRACE) -> None:
    """Keep up to ``n_jobs`` jobs in flight until ``next_job()`` returns None and all are done.

    ``next_job`` is called only when a slot is free, so a job is made (its
    parameters drawn, its row stored) right before it is submitted. Results
    are handed to ``on_done`` in this (the driver's) thread. If the driver
    is interrupted, jobs not yet started are cancelled.

    Time limits (``time.monotonic()`` seconds): a job running longer than
    ``job_timeout`` (from its submission, or from when it started if the
    executor has a ``started(future)`` method) is handed to
    ``on_expired(key, future, "timeout")`` and forgotten (its slot is free
    again). At ``deadline``, ``on_halt(key)``
    asks each running job to stop; those still running ``grace`` seconds
    later go to ``on_expired(key, future, "deadline")``, and the call
    returns.
    """
    running: dict[Future, object] = {}
    started: dict[Future, float] = {}
    halted_at = None
    exhausted = False

    def expire(futures, why):
        for future in futures:
            started.pop(future)
            on_expired(running.pop(future), future, why)

    started_in = getattr(pool, "started", None)

    def ends() -> dict[Future, float]:
        """When each running job's time is up."""
        out = {}
        for future, submitted in started.items():
            begun = submitted if started_in is None else started_in(future)
            out[future] = (time.monotonic() + 0.05 if begun is None   # not started: look again
                           else begun + job_timeout)
        return out

    try:
        while True:
            while not exhausted and len(running) < n_jobs:
                job = next_job()
                if job is None:
                    exhausted = True
                    break
                key, fn, args = job
                future = pool.submit(fn, *args)
                running[future], started[future] = key, time.monotonic()
            if not running:
                return
            wake = [halted_at + grace if halted_at is not None else deadline]
            if job_timeout is not None:
                wake += list(ends().values())
            wake = [w for w in wake if w is not None]
            timeout = max(0.0, min(wake) - time.monotonic()) if wake else None
            finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f]):
                started.pop(future)
                on_done(running.pop(future), future)
            now = time.monotonic()
            if job_timeout is not None:
                expire([f for f, end in ends().items() if now >= end], "timeout")
            if deadline is not None and now >= deadline and running:
                if halted_at is None:
                    halted_at = now
                    for key in running.values():
                        if on_halt is not None:
                            on_halt(key)
                elif now >= halted_at + grace:
                    expire(list(running), "deadline")
    except BaseException:
        for future in running:
            future.cancel()
        raise
