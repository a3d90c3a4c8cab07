"""A fastnn Study as an ``optuna.Study`` and back (optuna is optional and imported here only).

Distributions map one to one, except ``OneMinusLogUniform``, which Optuna
has no scale for: its parameter is a ``FloatDistribution`` on beta itself,
and each trial's user attribute ``fastnn_scale`` says ``{name:
"OneMinusLogUniform"}`` (fastnn samples ``1 - beta`` on a log scale).

fastnn's own fields travel as attributes: on the Optuna study,
``fastnn_space`` (the space's description), ``fastnn_seed``,
``fastnn_sampler``, ``fastnn_data_fingerprint`` and ``fastnn_rounds`` (the
coarse-to-fine rounds, :meth:`Study.rounds`); on each trial,
``fastnn_number``, ``fastnn_seed`` and, for a failed trial,
``fastnn_error``. :func:`from_optuna` reads them back, so a round trip
gives the same study; a study Optuna made gets its space from its
distributions.
"""

from __future__ import annotations

import math
import os
import secrets
from datetime import datetime, timezone

from fastnn._version import __version__
from fastnn.search._checks import count

from fastnn.search.distributions import (Choice, IntLogUniform, IntUniform, LogUniform,
                                         OneMinusLogUniform, Uniform)
from fastnn.search.sampling import SAMPLER_NAMES, trial_seed
from fastnn.search.space import Space
from fastnn.search.storage import Storage, StudyFileError
from fastnn.search.trial import FrozenTrial, TrialState

__all__ = ["to_optuna", "from_optuna"]

_STATES = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAILED": "FAIL", "WAITING": "WAITING",
           "RUNNING": "RUNNING"}
_OWN = ("fastnn_number", "fastnn_seed", "fastnn_scale", "fastnn_error")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("the Optuna bridge needs optuna: pip install optuna") from None
    return optuna


def _distribution(optuna, dist):
    """The Optuna distribution of a fastnn one, and the scale to note (or None)."""
    d = optuna.distributions
    if isinstance(dist, OneMinusLogUniform):
        return d.FloatDistribution(dist.lo, dist.hi), "OneMinusLogUniform"
    if isinstance(dist, LogUniform):
        return d.FloatDistribution(dist.lo, dist.hi, log=True), None
    if isinstance(dist, Uniform):
        return d.FloatDistribution(dist.lo, dist.hi), None
    if isinstance(dist, IntLogUniform):
        return d.IntDistribution(dist.lo, dist.hi, log=True), None
    if isinstance(dist, IntUniform):
        return d.IntDistribution(dist.lo, dist.hi), None
    if isinstance(dist, Choice):
        return d.CategoricalDistribution(dist.options), None
    raise TypeError(f"no Optuna distribution for {dist!r}")


def _local(iso: str | None):
    """fastnn's ISO UTC time as the naive local datetime Optuna keeps."""
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone().replace(tzinfo=None)


def _iso(when) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()             # naive: local time, as Optuna writes it
    return when.astimezone(timezone.utc).isoformat()


def to_optuna(study, storage=None, study_name: str | None = None):
    """See :meth:`fastnn.search.Study.to_optuna`."""
    optuna = _optuna()
    if study_name is not None and (not isinstance(study_name, str) or not study_name):
        raise ValueError(f"study_name must be a non-empty string or None; got {study_name!r}")
    storage = _optuna_storage(storage)
    made = {name: _distribution(optuna, dist) for name, dist in study.space.items()}
    target = optuna.create_study(storage=storage, study_name=study_name or study.name,
                                 direction=study.direction)
    for key, value in (("fastnn_space", study.space.to_dict()), ("fastnn_seed", str(study.seed)),
                       ("fastnn_sampler", study.sampler),
                       ("fastnn_data_fingerprint", study.data_fingerprint),
                       ("fastnn_rounds", study.rounds())):
        target.set_user_attr(key, value)
    for t in study.trials:
        dists, scales = {}, {}
        for name, value in t.params.items():
            dist, scale = made.get(name, (None, None))
            if dist is None or not dist._contains(dist.to_internal_repr(value)):
                dist, scale = optuna.distributions.CategoricalDistribution((value,)), None
            dists[name] = dist
            if scale is not None:
                scales[name] = scale
        attrs = {**t.user_attrs, "fastnn_number": t.number, "fastnn_seed": t.seed}
        if scales:
            attrs["fastnn_scale"] = scales
        if t.error is not None:
            attrs["fastnn_error"] = t.error
        target.add_trial(optuna.trial.FrozenTrial(
            number=t.number, trial_id=0,
            state=getattr(optuna.trial.TrialState, _STATES[str(t.state)]),
            value=t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
            datetime_start=_local(t.datetime_start), datetime_complete=_local(t.datetime_end),
            params=dict(t.params), distributions=dists, user_attrs=attrs,
            system_attrs={} if t.error is None else {"fail_reason": t.error},
            intermediate_values=dict(t.intermediate)))
    return target


def _optuna_storage(storage):
    """Optuna's storage: a plain file path (str or os.PathLike, without ``://``) as the
    ``sqlite:///`` URL of that file, as fastnn takes paths everywhere; URLs and Optuna's
    storage objects as given."""
    if isinstance(storage, os.PathLike) or (isinstance(storage, str) and "://" not in storage):
        path = os.fspath(storage)
        if not path:
            raise ValueError("storage must be a file path, an Optuna storage URL such as "
                             "'sqlite:///study.db', an Optuna storage or None; got ''")
        if os.path.isdir(path):
            raise StudyFileError(f"storage {path!r} is a directory; give a file name")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise StudyFileError(f"storage {path!r} cannot be created: its directory {folder!r} "
                                 "does not exist")
        return "sqlite:///" + os.path.abspath(path)
    return storage


def _space_of(optuna, trials) -> Space:
    """A fastnn space from the distributions of an Optuna study's trials (first seen wins)."""
    d = optuna.distributions
    dists: dict = {}
    for t in trials:
        scales = t.user_attrs.get("fastnn_scale", {})
        for name, dist in t.distributions.items():
            if name in dists:
                continue
            if isinstance(dist, d.FloatDistribution):
                if dist.step is not None:
                    raise ValueError(f"parameter {name!r}: fastnn has no stepped float "
                                     f"distribution ({dist!r})")
                kind = (OneMinusLogUniform if scales.get(name) == "OneMinusLogUniform"
                        else LogUniform if dist.log else Uniform)
                dists[name] = kind(dist.low, dist.high)
            elif isinstance(dist, d.IntDistribution):
                if dist.step != 1:
                    raise ValueError(f"parameter {name!r}: fastnn has no stepped integer "
                                     f"distribution ({dist!r})")
                dists[name] = (IntLogUniform if dist.log else IntUniform)(dist.low, dist.high)
            elif isinstance(dist, d.CategoricalDistribution):
                dists[name] = Choice(dist.choices)
            else:
                raise ValueError(f"parameter {name!r}: no fastnn distribution for {dist!r}")
    if not dists:
        raise ValueError("the Optuna study has no trial with parameters to take a space from")
    return Space(dists)


def from_optuna(study_class, optuna_study, storage=None, name: str | None = None,
                seed: int | None = None):
    """See :meth:`fastnn.search.Study.from_optuna`."""
    optuna = _optuna()
    if not isinstance(optuna_study, optuna.Study):
        raise TypeError(f"optuna_study must be an optuna.Study; got {optuna_study!r}")
    if len(optuna_study.directions) != 1:
        raise ValueError("fastnn studies have one objective; the Optuna study has "
                         f"{len(optuna_study.directions)}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty string or None; got {name!r}")
    if seed is not None:
        seed = count(seed, "seed", 0)
    # everything is read and checked before anything is written
    attrs = optuna_study.user_attrs
    trials = sorted(optuna_study.get_trials(deepcopy=False), key=lambda t: t.number)
    space = (Space.from_dict(attrs["fastnn_space"]) if "fastnn_space" in attrs
             else _space_of(optuna, trials))
    if seed is None and "fastnn_seed" in attrs:
        seed = int(attrs["fastnn_seed"])
    if seed is None:
        seed = secrets.randbits(63)
    direction = ("maximize" if optuna_study.direction == optuna.study.StudyDirection.MAXIMIZE
                 else "minimize")
    sampler = attrs.get("fastnn_sampler") or "random"
    if sampler not in SAMPLER_NAMES:
        raise ValueError(f"the Optuna study's fastnn_sampler is {sampler!r}; fastnn knows "
                         f"{SAMPLER_NAMES}")
    name = name or optuna_study.study_name
    frozen = _frozen_trials(optuna, trials, seed)
    rounds = list(attrs.get("fastnn_rounds", []))
    fingerprint = attrs.get("fastnn_data_fingerprint")
    if storage is None:                # a new in-memory file: nothing to protect
        study = study_class(None, space=space, direction=direction, seed=seed, name=name,
                            sampler=sampler, data_fingerprint=fingerprint)
        study._storage.add_trials(study._id, frozen, rounds)
        return study
    target = Storage(storage)
    try:                               # one transaction: all of it, or nothing
        target.import_study(name, direction, seed, sampler, space.to_dict(), fingerprint,
                            __version__, frozen, rounds)
    finally:
        target.close()
    return study_class(storage, name=name)


def _frozen_trials(optuna, trials, seed: int) -> list[FrozenTrial]:
    """An Optuna study's trials as fastnn's, numbered from 0."""
    states = {getattr(optuna.trial.TrialState, v): k for k, v in _STATES.items()}
    out = []
    for number, t in enumerate(trials):
        state = TrialState(states[t.state])
        if state == TrialState.RUNNING:          # it runs again here
            state = TrialState.WAITING
        value = t.value if state in (TrialState.COMPLETE, TrialState.PRUNED) else None
        error = t.user_attrs.get("fastnn_error", t.system_attrs.get("fail_reason"))
        if state == TrialState.FAILED and error is None:
            error = "failed in Optuna"
        out.append(FrozenTrial(
            number=number, state=state, params=dict(t.params),
            value=None if value is None or not math.isfinite(value) else float(value),
            intermediate=tuple(sorted((int(s), float(v))
                                      for s, v in t.intermediate_values.items())),
            user_attrs={k: v for k, v in t.user_attrs.items() if k not in _OWN},
            seed=int(t.user_attrs.get("fastnn_seed", trial_seed(seed, number))),
            datetime_start=_iso(t.datetime_start), datetime_end=_iso(t.datetime_complete),
            error=error))
    return out
