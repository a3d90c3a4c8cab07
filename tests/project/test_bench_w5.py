"""bench/w5_search.py: the waiting measurement runs the default sampler's own trials on
both sides, the second time queued into a study that never waits."""

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import w5_search  # noqa: E402
from context import Context  # noqa: E402


def test_the_queued_run_trains_the_default_samplers_configurations():
    obj, _ = w5_search.objective(Context(quick=True))
    failures, busy, configs = [], [], []
    batched, queued = (w5_search.study_run(obj, 12, setup, failures, busy, configs)
                       for setup in w5_search.WAIT_SETUPS.values())
    batched()
    assert len(configs) == 12 and len({tuple(sorted(p.items())) for p in configs}) == 12
    queued()            # raises if it ran anything but those 12, in order
    batched()           # and the default, at 2 jobs, draws them again
    assert not failures and len(busy) == 3 and all(0 < b <= 1.05 for b in busy)
    del configs[-1]     # the queue runs dry: the twelfth trial is a random draw
    with pytest.raises(RuntimeError, match="other configurations"):
        queued()


def test_the_queued_run_needs_the_defaults_configurations_first():
    obj, _ = w5_search.objective(Context(quick=True))
    queued = w5_search.study_run(obj, 12, w5_search.WAIT_SETUPS[
        "2 jobs, the same configurations queued"], [], [], [])
    with pytest.raises(RuntimeError, match="runs after the default's"):
        queued()
