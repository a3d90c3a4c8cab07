"""Every loss declared in fastnn/kinds.py (LOSSES) against its NumPy twin and its own
finite differences: parametrized over the declarations, so a loss added there joins
these tests without editing a test file (the model-level tests of the losses are in
tests/model/test_model_loss_kinds.py)."""

import numpy as np
import pytest
from conftest import assert_close, numeric_grad

from fastnn import _reference as ref
from fastnn import kinds, ops

ROWS = kinds.LOSSES
IDS = [row.name for row in ROWS]


def targets(row, rng, shape, dtype):
    """Targets of loss ``row`` for outputs of ``shape``: what its row's ``targets`` reads."""
    n, k = shape
    if row.targets == "classes":
        return rng.integers(0, k, n)
    if row.targets == "labels":
        return (rng.random(shape) < 0.5).astype(dtype)
    if row.targets == "counts":
        return rng.poisson(2.0, shape).astype(dtype)
    return (rng.standard_normal(shape) * 2).astype(dtype)


def other_settings(row):
    """Settings away from the defaults (a setting that matters must change the loss)."""
    return {name: default * (0.5 if how == "unit" else 0.37) for name, default, how in row.settings}


# each loss with its default settings, and each loss that has settings with others
CASES = [(row, {}) for row in ROWS] + [(row, other_settings(row)) for row in ROWS if row.settings]
CASE_IDS = [row.name + ("-" + "-".join(f"{k}={v:g}" for k, v in s.items()) if s else "")
            for row, s in CASES]


@pytest.mark.parametrize("row, settings", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (17, 5), (300, 10)], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_each_loss_matches_its_numpy_twin(row, settings, shape, weighted, dtype, n_threads, rng):
    z = (rng.standard_normal(shape) * 2).astype(dtype)
    y = targets(row, rng, shape, dtype)
    w = rng.random(shape[0]) + 0.1 if weighted else None
    loss, dz = getattr(ops, row.name)(z, y, sample_weight=w, n_threads=n_threads, **settings)
    want, want_dz = getattr(ref, row.name)(z, y, sample_weight=w, **settings)
    assert isinstance(loss, float)
    assert dz.dtype == z.dtype and dz.shape == shape
    assert_close(loss, want, dtype)
    assert_close(dz, want_dz, dtype)
    only, none = getattr(ops, row.name)(z, y, sample_weight=w, compute_grad=False,
                                        n_threads=n_threads, **settings)
    assert none is None and only == loss


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (8, 1)], ids=str)
def test_each_losss_gradient_matches_finite_differences(row, shape, rng):
    z = rng.standard_normal(shape) * 2
    y = targets(row, rng, shape, np.float64)
    w = rng.random(shape[0]) + 0.1
    settings = other_settings(row)
    fn = getattr(ops, row.name)

    def value():
        return fn(z, y, sample_weight=w, compute_grad=False, **settings)[0]

    np.testing.assert_allclose(fn(z, y, sample_weight=w, **settings)[1],
                               numeric_grad(value, z), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("row", [r for r in ROWS if r.settings], ids=[r.name for r in ROWS
                                                                      if r.settings])
def test_a_losss_settings_are_checked_and_change_it(row, rng):
    z, y = rng.standard_normal((9, 2)) * 3, targets(row, rng, (9, 2), np.float64)
    fn = getattr(ops, row.name)
    assert fn(z, y, **other_settings(row))[0] != fn(z, y)[0]
    for name, _, _ in row.settings:
        with pytest.raises(ValueError, match=name):
            fn(z, y, **{name: -1.0})
        with pytest.raises(ValueError, match=name):
            fn(z, y, **{name: float("nan")})
