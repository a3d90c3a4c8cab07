"""A study: trials of a search space, run by one driver, kept in one SQLite file.

``Study(...).optimize(objective, n_trials)`` draws each trial's parameters
from (study seed, trial number) alone, runs the objective on ``n_jobs``
workers, and stores every result. Re-opening the same storage and name
continues the study: numbering goes on, and trials a dead driver left
RUNNING run again with the same number and parameters.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import numbers
import os
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future

import numpy as np

from fastnn._threads import resolve_n_threads
from fastnn._version import __version__
from fastnn.search._checks import count, seconds
from fastnn.search.distributions import Choice
from fastnn.search.executors import (LivePruner, check_executor, check_n_jobs, open_executor,
                                     run_jobs, threads_per_trial)
from fastnn.search.gp import GPSampler
from fastnn.search.retest import check_retest, run_retest
from fastnn.search.sampling import SAMPLER_NAMES, Sampler, trial_seed, zoom
from fastnn.search.schedulers import DIRECTIONS, Scheduler
from fastnn.search.space import Space
from fastnn.search.storage import Storage, StudyFileError, stored_study_names
from fastnn.search.tables import format_table, format_value
from fastnn.search.tpe import TPESampler
from fastnn.search.trial import (FrozenTrial, Outcome, Trial, TrialState, future_outcome,
                                 run_trial, timed_out)

__all__ = ["Study"]

log = logging.getLogger("fastnn.search")


# the model samplers: random start-up, then batches proposed by a model of the trials
MODEL_SAMPLERS = {"tpe": TPESampler, "gp": GPSampler}     # in MODEL_SAMPLER_NAMES' order
DEFAULT_SAMPLER = "gp"
BATCH_SIZE, N_STARTUP = 8, 10


class _Wait(Exception):
    """A model proposal needs results that are still running (another driver's trials)."""


def _round_sizes(n_trials: int, rounds: int) -> list[int]:
    return [n_trials // rounds + (r < n_trials % rounds) for r in range(rounds)]


class Study:
    """A hyperparameter search, stored in SQLite.

    Parameters
    ----------
    storage : str or os.PathLike or None, default None
        The SQLite file (created if missing); None keeps the study in memory.
    space : Space or dict name -> Distribution, optional
        Required for a new study; when re-opening, None uses the stored space
        and a different one warns (and replaces it).
    direction : {"maximize", "minimize"}, optional
        A new study's default is "maximize". Re-opening with another
        direction raises.
    seed : int, optional
        Fixes every trial's parameters and seed. A new study's default is a
        random seed, stored. Re-opening with another seed raises.
    name : str, default "default"
        Studies in one file are told apart by name.
    sampler : {"tpe", "gp", "random", "sobol", "halton"}, optional
        A new study's default is "gp". The model samplers, "gp" and "tpe",
        draw random start-up trials, then propose the rest in batches from
        a model of the trials: a Parzen estimator of good vs bad trials
        (:mod:`fastnn.search.tpe`) or a Gaussian process on the trials'
        ranks (:mod:`fastnn.search.gp`). "random", "sobol" and "halton"
        draw points of the unit cube (stretched into the coarse-to-fine box
        with ``rounds``). Re-opening with another sampler raises, except
        that a study sampled at random (fastnn 0.1's default) may go on
        with a model sampler: its trials are the model's start-up.
    batch_size : int, optional
        Trials a model sampler proposes from one model (default 8); the
        study waits for a batch to end before the next. It does not depend
        on ``n_jobs``, so any number of workers tries the same trials.
        Re-opening with another raises.
    sampler_options : dict, optional
        Settings of a model sampler besides its batches, by name: for "gp"
        ``n_candidates``, ``local_scale``, ``length_prior``,
        ``noise_prior`` (:class:`fastnn.search.gp.GPSampler`), for "tpe"
        ``gamma``, ``n_candidates``, ``bandwidth``, ``multivariate``,
        ``rank_weights`` (:class:`fastnn.search.tpe.TPESampler`); those not
        given take their defaults. All of them are stored with the study, so
        a study re-opened by a later fastnn whose defaults changed proposes
        its next batches as it began (a study stored without them goes on
        with this version's defaults, stored from then on). Re-opening with
        other values raises.
    data_fingerprint : str, optional
        E.g. :func:`fastnn.search.fingerprint` of the training data; stored
        with the study and each trial. Re-opening with another is a mismatch
        (see ``on_mismatch``).
    on_mismatch : {"raise", "new_study", "continue"}, default "raise"
        What to do when a study is re-opened with another space or on other
        data (another ``data_fingerprint``): ``"raise"`` refuses, writing
        nothing; ``"new_study"`` starts a new study in the same file under
        the first free name ``name-2``, ``name-3``... (with a warning naming
        it), so no leaderboard mixes the two; ``"continue"`` keeps the study
        and stores the new space or fingerprint (its earlier trials stay,
        run on the old ones), refused while another open Study object of
        this process holds that study. Whichever way, a Study object never
        writes a trial once another has changed its study's space or data
        fingerprint.

    Attributes
    ----------
    zoom_history : list of dict
        For each round of the last :meth:`optimize`, the box sampled in real
        units: name -> (low, high), or the tuple of options of a Choice.
    """

    def __init__(self, storage: str | os.PathLike | None = None,
                 space: Space | Mapping | None = None, direction: str | None = None,
                 seed: int | None = None, name: str = "default", sampler: str | None = None,
                 data_fingerprint: str | None = None, on_mismatch: str = "raise",
                 batch_size: int | None = None, sampler_options: Mapping | None = None):
        if on_mismatch not in ON_MISMATCH:
            raise ValueError(f"on_mismatch must be one of {ON_MISMATCH}; got {on_mismatch!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string; got {name!r}")
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
        if seed is not None:
            seed = count(seed, "seed", 0)
        if sampler is not None and sampler not in SAMPLER_NAMES:
            raise ValueError(f"sampler must be one of {SAMPLER_NAMES}; got {sampler!r}")
        if batch_size is not None:
            batch_size = count(batch_size, "batch_size")
        if sampler_options is not None:
            if not isinstance(sampler_options, Mapping) or not all(
                    isinstance(k, str) for k in sampler_options):
                raise TypeError("sampler_options must be a dict of setting names to values; "
                                f"got {sampler_options!r}")
            sampler_options = dict(sampler_options)
        if data_fingerprint is not None and not isinstance(data_fingerprint, str):
            raise TypeError(f"data_fingerprint must be a string or None; got {data_fingerprint!r}")
        space = None if space is None else Space(space)
        self.name, self._wants_model = name, sampler if sampler in MODEL_SAMPLERS else None
        self._unstored_settings: dict | None = None
        self._options, self._batch_size = sampler_options, batch_size
        if space is None and storage is not None:
            _check_exists(storage, name)     # read-only: a file to read is never written
        self._storage = Storage(storage)
        self._live_key = None
        try:
            stored = self._storage.load_study(name)
            settings = {"direction": direction, "seed": seed, "sampler": sampler}
            if stored is None:
                self._create(space, settings, data_fingerprint)
                stored = None if self._id is not None else self._storage.load_study(name)
            if stored is not None:      # an existing study (or one another driver just created)
                self._reopen(stored, space, settings, data_fingerprint, on_mismatch)
            self._sampler = self._open_sampler(stored is None)
        except BaseException:
            self._storage.close()
            raise
        self._live_key = (self._storage_key(), self.name)
        with _LIVE_LOCK:
            _LIVE[self._live_key] = _LIVE.get(self._live_key, 0) + 1
        self._lock = threading.Lock()
        self._callbacks: list = []
        self._progress = None
        self.zoom_history: list[dict] = []

    def _create(self, space, settings, fingerprint) -> None:
        if space is None:
            raise ValueError(f"study {self.name!r} does not exist in {self.storage_path!r}; "
                             "pass a space to create it")
        self.space, self.data_fingerprint = space, fingerprint
        self.direction = settings["direction"] or "maximize"
        self.seed = secrets.randbits(63) if settings["seed"] is None else settings["seed"]
        self.sampler = settings["sampler"] or DEFAULT_SAMPLER
        if self.sampler in MODEL_SAMPLERS:      # bad sampler_options raise before any write
            MODEL_SAMPLERS[self.sampler](space, self.seed, direction=self.direction,
                                         **model_sampler_options(self.sampler, self._options))
        else:
            self._refuse_model_settings()
        self._id = self._storage.create_study(self.name, self.direction, self.seed, self.sampler,
                                              space.to_dict(), fingerprint, __version__)

    def _storage_key(self):
        path = self._storage.path
        return ("memory", id(self._storage)) if path is None else os.path.realpath(path)

    def _reopen(self, stored, space, settings, fingerprint, on_mismatch) -> None:
        if settings["sampler"] in MODEL_SAMPLERS and stored["sampler"] == "random":
            settings = dict(settings, sampler=None)     # upgraded in _open_sampler
        for key, given in settings.items():
            if given is not None and given != stored[key]:
                raise ValueError(f"study {self.name!r} in {self.storage_path!r} has {key}="
                                 f"{stored[key]!r}; got {key}={given!r}. Leave {key} out (or pass "
                                 "the stored value) to continue it, or use another name")
        changes, adopted = {}, {}                # checked first; written only once accepted
        if space is not None and space.to_dict() != stored["space"]:
            changes["space"] = space.to_dict()
        if fingerprint is not None and fingerprint != stored["data_fingerprint"]:
            if stored["data_fingerprint"] is None:      # first told: nothing to mix with
                adopted["data_fingerprint"] = fingerprint
            else:
                changes["data_fingerprint"] = fingerprint
        what = " and ".join({"space": "another space", "data_fingerprint": "other data (its "
                             "data fingerprint differs)"}[k] for k in changes)
        if changes and on_mismatch == "raise":
            raise ValueError(
                f"study {self.name!r} in {self.storage_path!r} was opened with {what} than "
                "its stored trials ran on; nothing was changed. Pass "
                "on_mismatch='new_study' to start a new study beside it, "
                "on_mismatch='continue' to go on in this one (its leaderboard will hold trials "
                "of both), or use another name")
        if changes and on_mismatch == "new_study":
            old = self.name
            self.name = _free_name(self._storage, old)
            self._create(space or Space.from_dict(stored["space"]), settings,
                         fingerprint if fingerprint is not None else stored["data_fingerprint"])
            if self._id is None:
                raise StudyFileError(f"study {self.name!r} in {self.storage_path!r} was just "
                                     "created by another driver; open it again")
            warnings.warn(f"study {old!r} was opened with {what}: the trials go to a new "
                          f"study {self.name!r} in the same file", UserWarning, stacklevel=3)
            return
        if changes:                                    # "continue", said explicitly
            key = (self._storage_key(), self.name)
            with _LIVE_LOCK:
                if _LIVE.get(key):
                    raise ValueError(
                        f"study {self.name!r} in {self.storage_path!r} is open in another Study "
                        f"object of this process, which runs trials of its stored space and "
                        f"data; close it before opening the study with {what}")
            warnings.warn(f"study {self.name!r}: opened with {what}; the study goes on with "
                          "them, and its earlier trials stay", UserWarning, stacklevel=3)
        if changes or adopted:
            self._storage.update_study(stored["study_id"], **adopted, **changes)
            stored = {**stored, **adopted, **changes}
        self._id = stored["study_id"]
        self.direction, self.seed, self.sampler = (stored[k] for k in settings)
        self.space = Space.from_dict(stored["space"]) if space is None else space
        self.data_fingerprint = stored["data_fingerprint"]

    def _refuse_model_settings(self) -> None:
        """A box sampler's study: batch_size and sampler_options given are refused."""
        for arg, given in (("batch_size", self._batch_size), ("sampler_options", self._options)):
            if given is not None:
                raise ValueError(f"{arg} applies to the model samplers {tuple(MODEL_SAMPLERS)}; "
                                 f"study {self.name!r} uses sampler={self.sampler!r}")

    def _open_sampler(self, created: bool):
        """The sampler object; a model sampler's settings are stored with the study."""
        batch_size, options = self._batch_size, self._options
        upgrade = not created and self.sampler == "random" and self._wants_model is not None
        if self.sampler not in MODEL_SAMPLERS and not upgrade:
            self._refuse_model_settings()
            return Sampler(self.sampler, self.seed, len(self.space))
        stored = self._storage.study_attrs(self._id).get("sampler_settings", [])
        kind = self._wants_model if upgrade else self.sampler
        if stored and not upgrade:
            settings = stored[-1]
            if batch_size is not None and batch_size != settings["batch_size"]:
                raise ValueError(f"study {self.name!r} in {self.storage_path!r} has batch_size="
                                 f"{settings['batch_size']}; got batch_size={batch_size}. Leave "
                                 "batch_size out (or pass the stored value) to continue it")
            if "options" in settings:
                differ = {k: v for k, v in (options or {}).items()
                          if k not in settings["options"] or settings["options"][k] != v}
                if differ:
                    model_sampler_options(kind, differ)     # an unknown name says so first
                    raise ValueError(
                        f"study {self.name!r} in {self.storage_path!r} has sampler_options "
                        f"{settings['options']}; got {differ}. Leave sampler_options out (or "
                        "pass the stored values) to continue it")
            else:           # stored by an earlier fastnn: this version's defaults from now on
                settings = {**settings, "options": model_sampler_options(kind, options)}
                self._unstored_settings = settings      # stored when it next runs trials
        else:
            _check_searchable(self.space)
            first_new = max((t.number for t in self.trials), default=-1) + 1
            settings = {"sampler": kind, "batch_size": batch_size or BATCH_SIZE,
                        "n_startup": max(N_STARTUP, first_new),
                        "options": model_sampler_options(kind, options)}
            sampler = _model_sampler(self, settings)      # checks the values before storing
            self._storage.append_study_attr(self._id, "sampler_settings", settings)
            if upgrade:
                self._storage.update_study(self._id, sampler=kind)
                self.sampler = kind
                log.info("study %r: its %d trials sampled at random are the start-up of the "
                         "%r sampler", self.name, first_new, kind)
            return sampler
        return _model_sampler(self, settings)

    @property
    def batching(self) -> tuple[int, int] | None:
        """``(n_startup, batch_size)`` of a model sampler ("tpe", "gp"): trials numbered
        below ``n_startup`` are its random start-up, then batches of ``batch_size``
        follow. None for the box samplers ("random", "sobol", "halton")."""
        sampler = self._sampler
        return (sampler.n_startup, sampler.batch_size) if self._model_guided else None

    @property
    def _model_guided(self) -> bool:
        return self.sampler in MODEL_SAMPLERS

    @property
    def storage_path(self) -> str | None:
        """The SQLite file, or None for an in-memory study."""
        return self._storage.path

    def close(self) -> None:
        """Close the database connection."""
        key, self._live_key = getattr(self, "_live_key", None), None
        if key is not None:
            with _LIVE_LOCK:
                _LIVE[key] -= 1
                if not _LIVE[key]:
                    del _LIVE[key]
        self._storage.close()

    def __del__(self):
        if getattr(self, "_live_key", None) is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - closing at exit
                pass

    def _expect(self) -> tuple:
        """What this object runs: the space (as stored, through JSON) and data fingerprint
        the study must still have."""
        return json.loads(json.dumps(self.space.to_dict())), self.data_fingerprint

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, storage={self.storage_path!r}, "
                f"direction={self.direction!r}, seed={self.seed}, sampler={self.sampler!r})")

    # ------------------------------------------------------------ results

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, by number."""
        return self._storage.trials(self._id)

    def ranked(self) -> list[FrozenTrial]:
        """COMPLETE trials, best first (ties: lower number first)."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        done = self._storage.trials(self._id, TrialState.COMPLETE)
        return sorted(done, key=lambda t: (sign * t.value, t.number))

    @property
    def best(self) -> FrozenTrial:
        """The best COMPLETE trial; ValueError if there is none yet."""
        ranked = self.ranked()
        if not ranked:
            raise ValueError(f"study {self.name!r} has no complete trial yet")
        return ranked[0]

    def leaderboard(self, k: int = 10) -> str:
        """The ``k`` best COMPLETE trials as a plain-text table."""
        k = count(k, "k")
        states = [t.state for t in self.trials]
        title = (f"study {self.name!r} ({self.direction}): {states.count(TrialState.COMPLETE)} "
                 f"complete, {states.count(TrialState.PRUNED)} pruned, "
                 f"{states.count(TrialState.FAILED)} failed, {len(states)} trials")
        rows = [[rank, t.number, t.value] + [t.params.get(n) for n in self.space.names]
                for rank, t in enumerate(self.ranked()[:k], 1)]
        return format_table(["rank", "trial", "value"] + self.space.names, rows, title)

    def importances(self, quantile: float = 0.1) -> dict[str, float]:
        """How much each parameter mattered, by PED-ANOVA, from the COMPLETE trials.

        For each parameter, the Pearson divergence between how its unit
        coordinate is spread among the top ``quantile`` of trials and among
        all of them, divided by the sum over parameters (see
        :mod:`fastnn.search.importance`).

        Returns
        -------
        dict name -> float
            Summing to 1, most important first.
        """
        from fastnn.search.importance import ped_anova

        return ped_anova(self, quantile)

    def to_dataframe(self):
        """Every trial as a pandas DataFrame (``params_*`` and ``user_attrs_*`` columns)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Study.to_dataframe needs pandas: pip install pandas") from None
        rows = []
        for t in self.trials:
            row = {"number": t.number, "state": str(t.state), "value": t.value, "seed": t.seed,
                   "datetime_start": t.datetime_start, "datetime_end": t.datetime_end,
                   "duration": t.duration, "n_reports": len(t.intermediate), "error": t.error}
            row.update({f"params_{k}": v for k, v in t.params.items()})
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    # ------------------------------------------------------------ queue

    def enqueue(self, params: Mapping) -> int:
        """Queue known parameters to run first at the next :meth:`optimize`; return the number.

        ``params`` must fit the space: every active parameter, each in range,
        no unknown or inactive names.
        """
        params = self.space.validate(params)
        return self._storage.enqueue(self._id, params, self._trial_seed, self._expect())

    def _trial_seed(self, number: int) -> int:
        return trial_seed(self.seed, number)

    def _claim(self, owner, lo: np.ndarray, hi: np.ndarray) -> tuple[int, dict]:
        """This driver's next trial: a WAITING one first, else a new number (see Storage.claim)."""
        def new_params(number: int) -> dict:
            if self._model_guided:          # inside claim's transaction: a snapshot
                trials = [] if number < self._sampler.n_startup else self.trials
                start = self._sampler.batch_start(number)
                if any(t.number < start and t.state == TrialState.RUNNING for t in trials):
                    raise _Wait   # rolls the claim back; this driver tries again shortly
                return self.space.from_unit_point(self._sampler.point(number, trials))
            return self.space.from_unit_point(self._sampler.point(number, lo, hi))

        number, params, requeued = self._storage.claim(
            self._id, owner, __version__, self.data_fingerprint, new_params, self._trial_seed,
            self._expect())
        if requeued:
            log.info("study %r: %d trial(s) left RUNNING by a driver that is gone will run again",
                     self.name, requeued)
        return number, params

    # ------------------------------------------------------------ optimize

    def optimize(self, objective: Callable[[dict, Trial], float], n_trials: int, n_jobs: int = 1,
                 executor=None, scheduler: Scheduler | None = None, timeout: float | None = None,
                 rounds: int = 1, top_k: int = 5, *, margin: float = 0.1,
                 trial_timeout: float | None = None,
                 n_threads: int | None = None, callbacks=None,
                 progress=False) -> list[FrozenTrial]:
        """Run ``n_trials`` trials of ``objective(params, trial) -> float``.

        Trials enqueued, or left RUNNING by a driver that died, run first
        (same number, same parameters) and count towards ``n_trials``.

        Several driver processes of one machine may run ``optimize`` on the
        same study file at once: each claims its trial numbers in a write
        transaction, records itself as the owner of its RUNNING trials with
        a heartbeat, and re-runs another's RUNNING trial only once that
        driver is gone (its process ended, or its heartbeat is older than a
        minute). A stored result is never overwritten.

        Parameters
        ----------
        objective : callable(params, trial) -> float
            See :mod:`fastnn.search.trial` for the protocol.
        n_trials : int
            Trials to run in this call.
        n_jobs : int, default 1
            Trials running at once.
        executor : None, "thread", "process" or concurrent.futures.Executor
            Where trials run (see :mod:`fastnn.search.executors`).
        scheduler : Scheduler, optional
            Early stopping (:class:`ASHA`, :class:`MedianStopping`); it first
            takes in the reports of the study's earlier finished trials.
        timeout : float, optional
            Seconds after which no new trial starts. Trials still running
            are then asked to stop (``trial.should_stop()`` turns True; a
            trial that stops is PRUNED with the value it returns); those
            still running a second later are stopped (killed in processes,
            left behind in threads) and put back WAITING, to run again at
            the next ``optimize``. So the call returns by about
            ``timeout + 1`` seconds even if an objective never returns.
        trial_timeout : float, optional
            Seconds a trial may run. Past them it is FAILED ("timed out
            after ... s", with the values it reported in a thread) and the
            study goes on: a trial in a process is killed; one in a thread
            cannot be, so it is told to stop (``trial.should_stop()``, which
            :class:`MLPObjective` asks after each epoch) and left behind.
        rounds : int, default 1
            Coarse-to-fine rounds. The trials are split evenly across rounds;
            round r + 1 starts when round r's trials are all done and samples
            the box :func:`fastnn.search.sampling.zoom` makes around the
            ``top_k`` best COMPLETE trials of the study so far.
        top_k : int, default 5
        margin : float, default 0.1
            The box grows on each side by ``margin`` times its previous width.
        n_threads : int, optional
            Kernel threads per trial; default ``max(1, cores // n_jobs)``.
        callbacks : list of callable(study, trial), optional
            Called in the driver after each trial is stored, with its
            :class:`FrozenTrial` (e.g. to print progress).
        progress : bool or file-like, default False
            Show trials done of ``n_trials``, running, pruned, failed, the
            best value so far and an ETA (on standard output, or this file):
            a bar on a terminal (tqdm's when installed), one line per
            finished trial elsewhere; each coarse-to-fine round's ranges
            are printed as the round ends.

        Returns
        -------
        list of FrozenTrial
            The trials this call ran, by number.
        """
        if not callable(objective):
            raise TypeError("objective must be callable(params, trial) -> float; "
                            f"got {objective!r}")
        n_trials, n_jobs = count(n_trials, "n_trials"), check_n_jobs(n_jobs, executor)
        rounds, top_k = count(rounds, "rounds"), count(top_k, "top_k")
        if rounds > n_trials:
            raise ValueError(f"rounds ({rounds}) must not exceed n_trials ({n_trials})")
        if rounds > 1 and self._model_guided:
            raise ValueError(f"rounds={rounds} zooms a box, which study {self.name!r}'s sampler "
                             f"{self.sampler!r} does not use (its model concentrates the trials "
                             "itself); "
                             "create the study with sampler='random', 'sobol' or 'halton' for "
                             "coarse-to-fine rounds")
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin >= 0:
            raise ValueError(f"margin must be a number >= 0; got {margin!r}")
        n_threads = (threads_per_trial(n_jobs, executor) if n_threads is None
                     else resolve_n_threads(n_threads))
        deadline = seconds(timeout, "timeout")
        deadline = None if deadline is None else time.monotonic() + deadline
        check_executor(executor)
        callbacks = list(callbacks or [])
        if not all(callable(cb) for cb in callbacks):
            raise TypeError("callbacks must be callables taking (study, trial)")
        self._callbacks = callbacks
        self._trial_timeout = seconds(trial_timeout, "trial_timeout")
        self._progress = self._open_progress(progress, n_trials)
        scheduler = self._prepare_scheduler(scheduler)
        if executor == "process":
            _check_picklable(objective)
        try:
            return self._optimize(objective, n_trials, n_jobs, executor, scheduler, deadline,
                                  rounds, top_k, float(margin), n_threads)
        finally:
            if self._progress is not None:
                self._progress.close()
            self._progress = None

    def _optimize(self, objective, n_trials, n_jobs, executor, scheduler, deadline, rounds,
                  top_k, margin, n_threads) -> list[FrozenTrial]:
        lo, hi = np.zeros(len(self.space)), np.ones(len(self.space))
        self.zoom_history, ran = [], []
        settings, self._unstored_settings = self._unstored_settings, None
        if settings is not None:
            self._storage.append_study_attr(self._id, "sampler_settings", settings)
            log.info("study %r: its %r sampler's settings were not stored (an earlier fastnn); "
                     "it goes on with %s, stored now", self.name, self.sampler,
                     settings["options"])
        with (self._storage.driver() as owner,
              open_executor(executor, n_jobs) as (pool, in_process)):
            if self._model_guided:          # one round; the model steers inside
                self.zoom_history.append(self.space.real_box(lo, hi))
                ran = self._run_batches(pool, in_process, objective, n_trials, n_jobs, owner,
                                        scheduler, deadline, n_threads)
                self._end_round(0, 1, lo, hi, ran)
                rounds = 0
            for r, size in enumerate(_round_sizes(n_trials, rounds) if rounds else []):
                if r > 0:
                    lo, hi = self._zoom(lo, hi, top_k, margin)
                self.zoom_history.append(self.space.real_box(lo, hi))
                numbers = self._run_round(pool, in_process, objective, size, n_jobs, owner, lo,
                                          hi, scheduler, deadline, n_threads)
                ran += numbers
                self._end_round(r, rounds, lo, hi, numbers)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        done = set(ran)
        return [t for t in self.trials if t.number in done]

    def _run_batches(self, pool, in_process, objective, n_trials, n_jobs, owner, scheduler,
                     deadline, n_threads) -> list[int]:
        """Run trials up to each batch boundary of the model sampler, one segment at a time:
        a batch's model sees every earlier trial's result, whatever ``n_jobs``. Several
        drivers on one file wait for each other's trials of the batch before theirs."""
        ran: list[int] = []
        unit = np.zeros(len(self.space)), np.ones(len(self.space))
        while len(ran) < n_trials:
            self._storage.requeue_orphans(self._id)
            trials = self.trials
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            first_new = max((t.number for t in trials), default=-1) + 1
            # trials queued (or left by a dead driver) run first, in a segment of their own:
            # the next batch's model then sees their results, whatever n_jobs
            size = min(n_trials - len(ran),
                       waiting or self._sampler.batch_end(first_new) - first_new)
            numbers = self._run_round(pool, in_process, objective, size, n_jobs, owner, *unit,
                                      scheduler, deadline, n_threads)
            ran += numbers
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not numbers:         # another driver's trials of an earlier batch still run
                time.sleep(0.05)
        return ran

    def _run_round(self, pool, in_process, objective, size, n_jobs, owner, lo, hi, scheduler,
                   deadline, n_threads) -> list[int]:
        launched: list[int] = []
        trials: dict[int, Trial] = {}

        def next_job():
            if len(launched) >= size or (deadline is not None and time.monotonic() >= deadline):
                return None
            try:
                number, params = self._claim(owner, lo, hi)
            except _Wait:           # the batch before is still running in another driver
                return None
            launched.append(number)
            if self._progress is not None:
                self._progress.started()
            trial = Trial(number, params, trial_seed(self.seed, number), n_threads,
                          self._pruner(scheduler, in_process), timeout=self._trial_timeout)
            trials[number] = trial
            return number, run_trial, (objective, trial)

        def on_done(number, future):
            outcome = future_outcome(future)
            if scheduler is not None and not in_process:
                with self._lock:
                    for step, value in outcome.reports:
                        scheduler.report(number, step, value)
            if not self._storage.finish_trial(self._id, number, outcome):
                log.warning("trial %d: another driver stored its result first; this run's result "
                            "is dropped", number)
                return
            _log_outcome(number, outcome)
            if self._callbacks or self._progress is not None:
                frozen = next(t for t in self.trials if t.number == number)
                if self._progress is not None:
                    self._progress.finished(frozen)
                for cb in self._callbacks:
                    cb(self, frozen)

        def on_expired(number, future, why):
            trial = trials.pop(number)
            trial._halt()
            kill = getattr(pool, "kill", None)
            kill(future) if kill is not None else future.cancel()
            if why == "deadline":           # the study's timeout: it runs again later
                self._storage.release(self._id, number, owner)
                launched.remove(number)     # not run by this call after all
                log.info("trial %d: still running at the study's timeout; stopped and put back "
                         "WAITING", number)
                return
            end = time.time()
            reports, attrs = (list(trial._reports), dict(trial.user_attrs)) if in_process \
                else ([], {})
            done: Future = Future()
            done.set_result(Outcome(TrialState.FAILED, None, reports, attrs,
                                    timed_out(self._trial_timeout), None,
                                    end - self._trial_timeout, end))
            on_done(number, done)

        run_jobs(pool, n_jobs, next_job, on_done, job_timeout=self._trial_timeout,
                 deadline=deadline, on_expired=on_expired,
                 on_halt=lambda number: trials[number]._halt())
        return launched

    def _open_progress(self, progress, n_trials):
        from fastnn.search.progress import SearchProgress

        if progress is False or progress is None:
            return None
        if progress is not True and not callable(getattr(progress, "write", None)):
            raise TypeError(f"progress must be True, False or a file to write to; got {progress!r}")
        best = self.ranked()[:1]
        return SearchProgress(n_trials, self.direction, best[0].value if best else None,
                              None if progress is True else progress)

    def _end_round(self, r, rounds, lo, hi, numbers) -> None:
        """Store the round's box and trials (see :meth:`rounds`); show its ranges."""
        box = self.space.real_box(lo, hi)
        if r == 0:
            stored = self.rounds()
            self._call = stored[-1]["call"] + 1 if stored else 0
        self._storage.append_study_attr(self._id, "rounds", {
            "call": self._call, "round": r + 1, "rounds": rounds, "trials": list(numbers),
            "unit_lo": lo.tolist(), "unit_hi": hi.tolist(), "ranges": box})
        if self._progress is not None and rounds > 1:
            from fastnn.search.progress import describe_box

            self._progress.round_done(r + 1, rounds, numbers, describe_box(self.space, box))

    def rounds(self) -> list[dict]:
        """Every coarse-to-fine round this study ran, as stored, oldest first.

        Returns
        -------
        list of dict
            ``call`` (which :meth:`optimize` call, from 0), ``round`` (from 1
            within the call), ``rounds`` (the call's number of rounds),
            ``trials`` (the numbers the round ran), ``unit_lo``/``unit_hi``
            (the box in unit coordinates, in the order of the space's
            names) and ``ranges`` (the box in real units: name -> [low,
            high], or the list of options of a Choice).
        """
        return self._storage.study_attrs(self._id).get("rounds", [])

    def _pruner(self, scheduler, in_process):
        """The trial's view of the scheduler: live in threads, a snapshot elsewhere."""
        if scheduler is None:
            return None
        if in_process:
            return LivePruner(scheduler, self._lock)
        with self._lock:
            return copy.deepcopy(scheduler)

    def _prepare_scheduler(self, scheduler):
        """Bind the study's direction; feed in every report of the finished trials."""
        if scheduler is None:
            return None
        if not callable(getattr(scheduler, "report", None)):
            raise TypeError(f"scheduler must have a report(number, step, value) -> bool method "
                            f"(e.g. ASHA(), MedianStopping()); got {scheduler!r}")
        if hasattr(scheduler, "bind"):
            scheduler.bind(self.direction)
        for t in self.trials:
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED):
                for step, value in t.intermediate:
                    scheduler.report(t.number, step, value)
        return scheduler

    def _zoom(self, lo, hi, top_k, margin):
        points = []
        for t in self.ranked()[:top_k]:
            try:
                points.append(self.space.to_unit_point(t.params))
            except ValueError:  # a trial from an earlier space
                continue
        points = np.array(points).reshape(-1, len(self.space))
        return zoom(self.space, lo, hi, points, margin)

    # ------------------------------------------------------------ retest

    def retest(self, objective: Callable[[dict, Trial], float], top_k: int = 5,
               seeds: Sequence[int] = (0, 1, 2), n_jobs: int = 1, executor=None,
               n_threads: int | None = None):
        """Re-evaluate the ``top_k`` best trials with each seed; report how their ranks change.

        Use it to check that the winners stay winners, e.g. with an objective
        built on new data. Each (trial, seed) run gets ``trial.seed = seed``
        and no scheduler; results are stored in the ``fastnn_retests`` table.

        Returns
        -------
        RetestReport
            ``rows``: per trial its old rank and value, the new values, their
            mean and standard deviation, and the new rank; ``str()`` gives a
            table.
        """
        best = self.ranked()[:count(top_k, "top_k")]
        if not best:
            raise ValueError(f"study {self.name!r} has no complete trial to retest")
        check_retest(objective, seeds, n_jobs, executor, n_threads)   # before a write
        retest = self._storage.next_retest(self._id)

        def record(number, seed, outcome):
            self._storage.add_retest(self._id, retest, number, seed, outcome, __version__,
                                     self.data_fingerprint)

        return run_retest(best, objective, seeds, n_jobs, executor, n_threads, retest,
                          self.direction, record)

    def retests(self) -> list[dict]:
        """Every stored retest run (retest, number, seed, state, value, error, data_fingerprint)."""
        return self._storage.retests(self._id)

    # ------------------------------------------------------------ Optuna

    def to_optuna(self, storage=None, study_name: str | None = None):
        """This study as an ``optuna.Study``, for ``optuna.visualization``, optuna-dashboard...

        Every trial goes over with its state, value, parameters,
        intermediate values, user attributes and times. Distributions match:
        ``Uniform``/``LogUniform`` -> ``FloatDistribution`` (``log=True``),
        ``IntUniform``/``IntLogUniform`` -> ``IntDistribution`` (``log=True``),
        ``Choice`` -> ``CategoricalDistribution``; a ``OneMinusLogUniform``
        parameter becomes a ``FloatDistribution`` on beta, with the user
        attribute ``fastnn_scale`` of each trial naming the scale. Needs
        optuna (``pip install optuna``).

        Parameters
        ----------
        storage : None, str, os.PathLike or optuna storage, default None
            Where Optuna keeps the study: None for memory, a file path such as
            ``"study.db"`` (taken as ``"sqlite:///study.db"``), an Optuna
            storage URL, or an Optuna storage (the same file as this study
            works: Optuna's tables live next to fastnn's).
        study_name : str, optional
            Default: this study's name. It must not exist in ``storage``.

        Returns
        -------
        optuna.Study
        """
        from fastnn.search.optuna_bridge import to_optuna

        return to_optuna(self, storage, study_name)

    @classmethod
    def from_optuna(cls, optuna_study, storage: str | os.PathLike | None = None,
                    name: str | None = None, seed: int | None = None) -> Study:
        """A new fastnn study holding an ``optuna.Study``'s trials (inverse of :meth:`to_optuna`).

        The space is the one :meth:`to_optuna` noted, else it is built from
        the trials' distributions (log ones as ``LogUniform`` and
        ``IntLogUniform``, categorical as ``Choice``; stepped ones are
        refused). Optuna's FAIL is FAILED, and a RUNNING trial comes in
        WAITING, to run again here.

        Parameters
        ----------
        optuna_study : optuna.Study
            A single-objective study.
        storage : str or os.PathLike or None, default None
            The fastnn study file (None: memory).
        name : str, optional
            Default: the Optuna study's name. No study of that name may be in
            ``storage``: the import is refused before anything is written
            (the whole import is one transaction).
        seed : int, optional
            Default: the one :meth:`to_optuna` noted, else a random one.

        Returns
        -------
        Study
        """
        from fastnn.search.optuna_bridge import from_optuna

        return from_optuna(cls, optuna_study, storage, name, seed)


ON_MISMATCH = ("raise", "new_study", "continue")
_LIVE: dict = {}              # (file, study name) -> Study objects of this process holding it
_LIVE_LOCK = threading.Lock()


def model_sampler_options(kind: str, given: Mapping | None = None) -> dict:
    """The settings of model sampler ``kind`` besides its batches (what ``sampler_options``
    may set), ``given`` ones over the defaults of its signature; ValueError naming an
    unknown one."""
    known = {k: p.default for k, p in inspect.signature(MODEL_SAMPLERS[kind]).parameters.items()
             if k not in ("space", "seed", "batch_size", "n_startup", "direction")}
    unknown = sorted(set(given or ()) - set(known))
    if unknown:
        raise ValueError(f"sampler_options: {unknown} are not settings of the {kind!r} "
                         f"sampler; it has {sorted(known)}")
    return {**known, **(given or {})}


def _model_sampler(study: Study, settings: dict):
    """The model sampler of stored (or about to be stored) ``settings``."""
    return MODEL_SAMPLERS[settings["sampler"]](
        study.space, study.seed, settings["batch_size"], settings["n_startup"],
        direction=study.direction, **settings["options"])


def _check_exists(storage, name: str) -> None:
    """Refuse, opening the file read-only, a study to continue that is not there."""
    if not os.path.exists(storage):
        raise StudyFileError(f"study file {os.fspath(storage)!r} does not exist; pass a "
                             "space to create a study in it")
    names = stored_study_names(storage)
    if names is not None and name not in names:      # None: fastnn 0.1's, updated when opened
        held = ", ".join(map(repr, names[:10])) or "none"
        raise ValueError(f"study {name!r} does not exist in {os.fspath(storage)!r} (its studies: "
                         f"{held}); give the name of a stored study, or a space to create a "
                         "new one")


def _free_name(storage: Storage, name: str) -> str:
    taken = set(storage.study_names())
    k = 2
    while f"{name}-{k}" in taken:
        k += 1
    return f"{name}-{k}"


def _check_searchable(space: Space) -> None:
    """A model sampler needs a space of more than one point."""
    if all(isinstance(d, Choice) and d.n == 1 for _, d in space.items()):
        raise ValueError(f"space has a single point ({space.from_unit_point([0.5] * len(space))}): "
                         "there is nothing to search; give a parameter a range or a second "
                         "option")


def _check_picklable(objective) -> None:
    import pickle

    try:
        pickle.dumps(objective)
    except Exception as exc:
        raise TypeError("executor='process' pickles the objective for each trial, but it cannot "
                        f"be pickled ({type(exc).__name__}: {exc}); use a module-level function "
                        "or a picklable object, or the default thread executor") from None


def _log_outcome(number: int, outcome: Outcome) -> None:
    if outcome.state == TrialState.FAILED:
        log.warning("trial %d FAILED: %s", number, outcome.error)
    else:
        log.info("trial %d %s: value %s", number, outcome.state, format_value(outcome.value, 6))

