"""Where trials run: threads of the driver (default), processes, or any Executor.

- ``executor=None`` or ``"thread"``: a ``ThreadPoolExecutor(n_jobs)``.
  fastnn's kernels release the GIL, so ``n_jobs`` trials use ``n_jobs``
  cores with no process start-up and no copies of the data. Each trial's
  kernels get ``max(1, cores // n_jobs)`` threads (processes too).
- ``executor="process"``: a ``ProcessPoolExecutor(n_jobs)`` (forkserver
  start method where available, else spawn). The objective and its data
  are pickled for every trial: it must be a module-level function of an
  importable module (not a notebook's) or a picklable object.
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
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import (FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor,
                                ThreadPoolExecutor, wait)
from contextlib import contextmanager

from fastnn._threads import get_num_threads

__all__ = ["check_executor", "open_executor", "run_jobs", "threads_per_trial", "LivePruner"]


def _process_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def check_executor(executor) -> None:
    """Raise unless ``executor`` is None, "thread", "process" or an Executor."""
    if not (executor in (None, "thread", "process") or isinstance(executor, Executor)):
        raise ValueError("executor must be None or 'thread' (threads), 'process', or a "
                         f"concurrent.futures.Executor instance; got {executor!r}")


@contextmanager
def open_executor(executor, n_jobs: int):
    """Yield ``(executor, in_process)``; shut down the pools this function made.

    ``in_process`` is True for thread pools: their trials can share the
    driver's scheduler directly.
    """
    check_executor(executor)
    if isinstance(executor, Executor):
        pool, owned = executor, False
    elif executor == "process":
        pool, owned = ProcessPoolExecutor(n_jobs, mp_context=_process_context()), True
    else:
        pool, owned = ThreadPoolExecutor(n_jobs, thread_name_prefix="fastnn-trial"), True
    try:
        yield pool, isinstance(pool, ThreadPoolExecutor)
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
             on_done: Callable[[object, Future], None]) -> None:
    """Keep up to ``n_jobs`` jobs in flight until ``next_job()`` returns None and all are done.

    ``next_job`` is called only when a slot is free, so a job is made (its
    parameters drawn, its row stored) right before it is submitted. Results
    are handed to ``on_done`` in this (the driver's) thread. If the driver
    is interrupted, jobs not yet started are cancelled.
    """
    running: dict[Future, object] = {}
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < n_jobs:
                job = next_job()
                if job is None:
                    exhausted = True
                    break
                key, fn, args = job
                running[pool.submit(fn, *args)] = key
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f]):
                on_done(running.pop(future), future)
    except BaseException:
        for future in running:
            future.cancel()
        raise
