"""A small study with every kind of parameter and every end state, run without training."""

import math

from fastnn.search import (Choice, IntLogUniform, IntUniform, LogUniform, OneMinusLogUniform,
                           Study)

SPACE = {"lr": LogUniform(1e-4, 1e-1), "beta1": OneMinusLogUniform(0.8, 0.999),
         "units": IntLogUniform(16, 512), "batch_size": Choice([16, 32, 64]),
         "n_layers": IntUniform(1, 3)}


class PruneSome:
    """A scheduler: stops trials whose number is 1 modulo 4 at their second report."""

    def report(self, number, step, value):
        return number % 4 == 1 and step >= 2


def objective(params, trial):
    score = -abs(math.log10(params["lr"]) + 2.5) - 3 * (1 - params["beta1"])
    for step in range(1, 4):
        trial.report(value=score - 0.1 * (3 - step), step=step)
        if trial.should_stop():
            break
    if trial.number % 5 == 3:
        raise RuntimeError(f"trial {trial.number} broke on purpose")
    return score


def make_study(storage=None, n_trials=24, rounds=3, progress=False):
    study = Study(storage, space=SPACE, seed=7, sampler="random")
    study.optimize(objective, n_trials, n_jobs=2, rounds=rounds, scheduler=PruneSome(),
                   progress=progress)
    return study
