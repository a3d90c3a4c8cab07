"""W5: search throughput, trials per minute with 2 concurrent trials vs 1, and what the
default sampler's batches cost in waiting.

A study of ``default_mlp_space()`` (seed 0, so both runs draw the same
trials) on the digits, each trial fitting a few epochs. ``n_jobs=1`` gives
the lone trial all cores; ``n_jobs=2`` runs two trials in threads at
``cores // 2`` kernel threads each (the search's defaults).

Waiting: the default sampler proposes trials in batches and starts batch k
only when batch k - 1 has ended, so a worker idles at each boundary. A
study of 40 trials (boundaries after trials 9, 17, 25 and 33) runs with 2
jobs, then the same 40 configurations, queued in that order into a study of
the random sampler, which never waits and proposes nothing: the workers'
busy share of the first against the second's is what waiting costs (the
target), and the ratio of their wall times adds the proposals' own time.
The same trials on both sides: how long a trial runs depends on its
configuration (batch size, units), so comparing against a random search's
own trials would mix which trials ran into what waiting cost.
"""

from __future__ import annotations

import time

import fastnn
from context import Context, cores
from report import Table, Target, fmt_rate, fmt_ratio, ratio
from timing import best, interleave
import w2_digits

GOAL = 1.7
REPEATS = 3  # interleaved repeats in a full run


class DigitsObjective:
    """Fallback objective: an MLP from the trial's params, fitted a few epochs on digits,
    scored by validation accuracy (reported after each epoch)."""

    def __init__(self, X_tr, y_tr, X_val, y_val, max_epochs: int = 5):
        self.data, self.max_epochs = (X_tr, y_tr, X_val, y_val), max_epochs

    def __call__(self, params: dict, trial) -> float:
        from fastnn.search import hidden_units

        X_tr, y_tr, X_val, y_val = self.data
        model = fastnn.MLP(hidden=hidden_units(params), n_classes=10, seed=trial.seed,
                           n_threads=trial.n_threads)

        def report(model, epoch, logs):
            trial.report(logs["val_accuracy"], epoch)
            return trial.should_stop()
        history = model.fit(X_tr, y_tr, epochs=self.max_epochs,
                            batch_size=int(params["batch_size"]),
                            optimizer=fastnn.Adam(lr=params["lr"], beta1=params["beta1"]),
                            lr_decay=fastnn.InverseTimeDecay(params["lr_decay"]),
                            validation_data=(X_val, y_val), callbacks=[report])
        return history["val_accuracy"][-1]


def objective(ctx: Context):
    """``MLPObjective`` if the search module has it, else :class:`DigitsObjective`."""
    X_tr, X_val, y_tr, y_val = w2_digits.split()
    epochs = 1 if ctx.quick else 5
    try:
        from fastnn.search import MLPObjective
    except ImportError:
        cls = DigitsObjective
    else:
        cls = MLPObjective
    return cls(X_tr, y_tr, X_val, y_val, max_epochs=epochs), f"{cls.__name__} ({epochs} epochs)"


SETUPS = {                      # label: (n_jobs, executor, kernel threads per trial, sampler)
    "1 job": (1, "thread", None, None),
    "2 jobs": (2, "thread", None, None),
    "1 job, 1 thread": (1, "thread", 1, None),
    "2 jobs, processes": (2, "process", None, None),
    "2 jobs, random sampler": (2, "thread", None, "random"),
}
BARRIER_GOAL = 0.9      # waiting at the model sampler's batch boundaries costs under 10%
WAIT_TRIALS = 40        # the waiting pair's trials: four boundaries of batches of 8
QUEUED = "queued"       # the sampler of a setup that runs the default's configurations
WAIT_SETUPS = {
    "2 jobs, batches": (2, "thread", None, None),
    "2 jobs, the same configurations queued": (2, "thread", None, QUEUED),
}


def study_run(obj, n_trials: int, setup: tuple, failures: list, busy: list,
              configs: list | None = None):
    """A function timing a fresh in-memory study of ``n_trials`` trials; each run adds to
    ``busy`` the share of the workers' time spent in trials (sum of durations / (n_jobs *
    wall time)).

    ``configs``: with the default sampler, the trials' parameters are stored into it (the
    first run); with the sampler ``QUEUED``, a random-sampler study runs them, queued in
    order, and the run checks that these were the trials it ran.
    """
    from fastnn.search import Study, default_mlp_space

    n_jobs, executor, n_threads, sampler = setup

    def run() -> float:
        study = Study(storage=None, space=default_mlp_space(), direction="maximize", seed=0,
                      sampler="random" if sampler == QUEUED else sampler)
        if sampler == QUEUED:
            if not configs:
                raise RuntimeError("the queued setup runs after the default's, which records "
                                   "its configurations")
            for params in configs:
                study.enqueue(params)
        start = time.perf_counter()
        trials = study.optimize(obj, n_trials=n_trials, n_jobs=n_jobs, executor=executor,
                                n_threads=n_threads)
        seconds = time.perf_counter() - start
        failures.extend(t for t in trials if str(t.state) == "FAILED")
        busy.append(sum(t.duration or 0.0 for t in trials) / (n_jobs * seconds))
        ran = [t.params for t in sorted(trials, key=lambda t: t.number)]
        if configs is not None and sampler is None and not configs:
            configs.extend(ran)
        elif configs is not None and ran != configs:
            raise RuntimeError(f"{setup}: ran other configurations than the default's")
        study.close()
        return seconds
    return run


def unavailable(error: Exception) -> tuple[list[Table], list[Target]]:
    table = Table("W5: search throughput", ["setup", "trials/min"],
                  notes=[f"fastnn.search not available yet ({type(error).__name__}: {error})."])
    return [table], [Target("W5 search, 2 jobs vs 1", "n/a", "n/a", None, GOAL, "n/a",
                            f">= {GOAL}x")]


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    try:
        import fastnn.search  # noqa: F401
    except Exception as error:  # noqa: BLE001 (a half-written module may raise anything)
        return unavailable(error)
    from fastnn.search.study import DEFAULT_SAMPLER

    obj, name = objective(ctx)
    n_trials = 4 if ctx.quick else 16
    failures: list = []
    busy: dict = {label: [] for label in SETUPS}
    runs = {label: study_run(obj, n_trials, setup, failures, busy[label])
            for label, setup in SETUPS.items()}
    seconds = best(interleave(runs, ctx.repeats(REPEATS)))
    rates = {label: 60 * n_trials / s for label, s in seconds.items()}
    rel = ratio(rates["2 jobs"], rates["1 job"])
    table = Table("W5: search throughput (trials per minute)",
                  ["setup", "n_jobs", "executor", "threads per trial", "sampler", "trials/min",
                   "vs 1 job", "workers busy"])
    for label, (n_jobs, executor, n_threads, sampler) in SETUPS.items():
        table.add(label, n_jobs, executor, n_threads or f"{max(1, cores() // n_jobs)} (default)",
                  sampler or f"{DEFAULT_SAMPLER} (default)", fmt_rate(rates[label]),
                  fmt_ratio(ratio(rates[label], rates["1 job"])), f"{max(busy[label]):.0%}")
    table.notes += [
        f"{n_trials} trials of default_mlp_space() (study seed 0: the same trials every run), "
        f"objective {name} on digits; best of {ctx.repeats(REPEATS)} interleaved repeats. "
        "The target compares the first two rows (the study's defaults); the process row "
        "includes starting the workers and pickling the data for each trial.",
        "Workers busy: the sum of the trials' durations over n_jobs x the wall time (the "
        "highest share of the repeats). The random sampler's row trains its own trials, not the default's: the "
        "waiting the default's batches cost is measured on the same trials (the next table).",
    ]
    target = Target("W5 search, 2 jobs vs 1", f"{fmt_rate(rates['2 jobs'])} trials/min",
                    f"1 job {fmt_rate(rates['1 job'])} trials/min", rel, GOAL, fmt_ratio(rel),
                    f">= {GOAL}x")
    wait_table, waiting = wait_cost(ctx, obj, failures)
    if failures:
        table.notes.append(f"{len(failures)} trial runs FAILED: {failures[0]!r}")
    return [table, wait_table], [target, waiting]


def wait_cost(ctx: Context, obj, failures: list) -> tuple[Table, Target]:
    """The waiting pair: the default sampler's study, then its configurations queued into a
    study that never waits (see the module docstring)."""
    from fastnn.search.study import DEFAULT_SAMPLER

    n_trials = 12 if ctx.quick else WAIT_TRIALS
    configs: list = []
    busy: dict = {label: [] for label in WAIT_SETUPS}
    runs = {label: study_run(obj, n_trials, setup, failures, busy[label], configs)
            for label, setup in WAIT_SETUPS.items()}
    seconds = interleave(runs, ctx.repeats(REPEATS))
    batched, queued = WAIT_SETUPS
    table = Table(f"W5: waiting at batch boundaries ({n_trials} trials, 2 jobs)",
                  ["setup", "sampler", "trials/min", "workers busy", "wall times (s)"])
    for label, (_, _, _, sampler) in WAIT_SETUPS.items():
        table.add(label, "random, the default's trials queued" if sampler == QUEUED
                  else f"{DEFAULT_SAMPLER} (default)",
                  fmt_rate(60 * n_trials / min(seconds[label])), f"{max(busy[label]):.0%}",
                  ", ".join(f"{s:.2f}" for s in seconds[label]))
    wall = ratio(min(seconds[queued]), min(seconds[batched]))
    table.notes += [
        f"The same {n_trials} configurations on both rows (the default's, recorded by its "
        "first run; checked on every run), objective as above, "
        f"{ctx.repeats(REPEATS)} interleaved repeats; trials/min from the fastest repeat, "
        "workers busy the highest share of the repeats. The second row queues them into a "
        "random-sampler study, which neither waits nor proposes.",
        "Target: the first row's busy share over the second's, what waiting at the batch "
        f"boundaries costs. The wall times' ratio (best of each), which adds the proposals' "
        f"own time and the machine's noise: {fmt_ratio(wall)}.",
    ]
    tpe, free = max(busy[batched]), max(busy[queued])
    barrier = ratio(tpe, free)
    target = Target(f"W5 search, 2 jobs: workers busy, {DEFAULT_SAMPLER} (batches) / the same "
                    "trials without batches", f"{tpe:.0%} busy", f"without batches {free:.0%} "
                    "busy", barrier, BARRIER_GOAL, fmt_ratio(barrier), f">= {BARRIER_GOAL}x")
    return table, target
