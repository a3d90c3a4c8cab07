"""Trials in a process pool and on a Dask cluster: same draws, reports come back."""

import math
import os

import pytest

from fastnn.search import ASHA, IntUniform, LogUniform, Space, Study, TrialState

LEVELS = [0.50, 0.40, 0.60, 0.45, 0.70, 0.30, 0.55, 0.65, 0.20]
ASHA_STEPS = [9, 1, 9, 1, 9, 1, 1, 3, 1]   # see test_search_schedulers.py


def space():
    return Space({"lr": LogUniform(1e-4, 1e-1), "k": IntUniform(1, 5)})


def score(params, trial):
    """Deterministic in the params; module level, so processes can import it."""
    value = -abs(math.log10(params["lr"]) + 2.5) + 0.1 * params["k"]
    trial.report(value - 0.5, 1)
    trial.user_attrs["seed"] = trial.seed
    trial.user_attrs["n_threads"] = trial.n_threads
    return value


def curve(params, trial):
    for step in range(1, 10):
        trial.report(LEVELS[trial.number], step)
        if trial.should_stop():
            break
    return LEVELS[trial.number]


def reference(n_trials):
    study = Study(None, space=space(), seed=8)
    study.optimize(score, n_trials=n_trials, n_jobs=2)
    return study


def same_trials(study, ref):
    assert [(t.number, t.params, t.value, t.intermediate, t.user_attrs) for t in study.trials] \
        == [(t.number, t.params, t.value, t.intermediate, t.user_attrs) for t in ref.trials]


def test_process_pool_draws_the_same_trials():
    study = Study(None, space=space(), seed=8)
    study.optimize(score, n_trials=8, n_jobs=2, executor="process")
    same_trials(study, reference(8))


def test_process_pool_failures_and_snapshot_asha():
    # one trial at a time: each snapshot holds every earlier report, so the
    # decisions equal the in-process ones exactly
    study = Study(None, space=space(), seed=0)
    study.optimize(curve, n_trials=9, executor="process", scheduler=ASHA(1, 3, max_resource=9))
    assert [len(t.intermediate) for t in study.trials] == ASHA_STEPS
    assert [t.state == TrialState.COMPLETE for t in study.trials] == [s == 9 for s in ASHA_STEPS]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # Dask's nanny sets its workers' OMP_NUM_THREADS=1 (and more) in this process's
    # os.environ before spawning them, and leaves it there: fastnn would then take its
    # thread count as fixed by the user for every later test of the session
    environ = dict(os.environ)
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    finally:
        _restore(environ)
    yield client
    client.close()
    cluster.close()
    _restore(environ)


def _restore(environ):
    """os.environ back to ``environ`` (changed in place: the same mapping)."""
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)


def test_dask_cluster_draws_the_same_trials(dask_client):
    study = Study(None, space=space(), seed=8)
    study.optimize(score, n_trials=8, n_jobs=2, executor=dask_client.get_executor())
    same_trials(study, reference(8))


def test_dask_cluster_reports_and_snapshots(dask_client):
    study = Study(None, space=space(), seed=0)
    study.optimize(curve, n_trials=9, executor=dask_client.get_executor(),
                   scheduler=ASHA(1, 3, max_resource=9))
    assert [len(t.intermediate) for t in study.trials] == ASHA_STEPS
    # with two in flight, a trial may decide on an older snapshot, but every
    # report still reaches the driver and every trial ends
    study = Study(None, space=space(), seed=0)
    study.optimize(curve, n_trials=9, n_jobs=2, executor=dask_client.get_executor(),
                   scheduler=ASHA(1, 3, max_resource=9))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert all(len(t.intermediate) in (1, 3, 9) for t in study.trials)
    assert study.trials[0].state == TrialState.COMPLETE


def test_dask_retest(dask_client):
    study = reference(6)
    report = study.retest(score, top_k=3, seeds=(0, 1), n_jobs=2,
                          executor=dask_client.get_executor())
    assert [r.old_rank for r in report.rows] == [1, 2, 3]   # same objective: same order


def _worker_default():
    import fastnn

    return fastnn.get_num_threads()


def test_trials_do_not_oversubscribe_the_cores(dask_client):
    import fastnn

    study = Study(None, space=space(), seed=1)
    study.optimize(score, n_trials=4, n_jobs=2)                 # threads of this process
    assert {t.user_attrs["n_threads"] for t in study.trials} == {max(1, fastnn.get_num_threads() // 2)}
    study = Study(None, space=space(), seed=1)
    study.optimize(score, n_trials=4, n_jobs=2, executor="process")
    assert {t.user_attrs["n_threads"] for t in study.trials} == {max(1, fastnn.get_num_threads() // 2)}
    # on Dask a trial takes its worker's share: fastnn's default there (Dask's nanny sets
    # OMP_NUM_THREADS for its workers) over the worker's 1 task thread
    expected = set(dask_client.run(_worker_default).values())
    study = Study(None, space=space(), seed=1)
    study.optimize(score, n_trials=4, n_jobs=2, executor=dask_client.get_executor())
    assert {t.user_attrs["n_threads"] for t in study.trials} <= expected
