"""Hyperparameter search: spaces on the right scale, random and quasi-random
sampling, coarse-to-fine rounds, early stopping, parallel trials, SQLite
storage that survives a crash.

>>> from fastnn.search import Study, default_mlp_space, ASHA
>>> study = Study("search.db", space=default_mlp_space(), seed=0)   # doctest: +SKIP
>>> study.optimize(objective, n_trials=50, n_jobs=2, scheduler=ASHA())   # doctest: +SKIP
>>> print(study.leaderboard())   # doctest: +SKIP

``objective(params, trial) -> float`` is the extension point: see
:mod:`fastnn.search.trial` for the protocol and
:func:`fastnn.search.space.default_mlp_space` for the MLP parameter names.
"""

from fastnn.search.distributions import (Choice, Distribution, IntLogUniform, IntUniform,
                                         LogUniform, OneMinusLogUniform, Uniform)
from fastnn.search.babysitter import AutoPolicy, Babysitter
from fastnn.search.fingerprint import fingerprint
from fastnn.search.objective import MLPObjective
from fastnn.search.retest import RetestReport, RetestRow
from fastnn.search.schedulers import ASHA, MedianStopping, Scheduler
from fastnn.search.space import Space, default_mlp_space, hidden_units
from fastnn.search.storage import StudyFileError
from fastnn.search.study import Study
from fastnn.search.trial import FrozenTrial, Trial, TrialState

__all__ = [
    "Distribution", "Uniform", "LogUniform", "OneMinusLogUniform", "IntUniform",
    "IntLogUniform", "Choice", "Space", "default_mlp_space", "hidden_units",
    "Study", "StudyFileError", "Trial", "FrozenTrial", "TrialState", "Scheduler", "ASHA",
    "MedianStopping",
    "RetestReport", "RetestRow", "fingerprint", "MLPObjective", "Babysitter", "AutoPolicy",
]
