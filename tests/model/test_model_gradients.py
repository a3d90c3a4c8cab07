"""Finite-difference check, in float64, of a whole network through the model:
3 dense layers, batch norm before or after the activation, softmax loss."""

import numpy as np
import pytest

from fastnn import MLP, kinds


def _loss_and_grads(model, ws):
    loss, _ = model.engine.train_step(ws, 1)
    return loss, model.engine.grads.copy()


@pytest.mark.parametrize("activation", [row.name for row in kinds.ACTIVATIONS])
@pytest.mark.parametrize("batch_norm, bn_position", [(True, "before"), (True, "after"),
                                                     (False, "before")],
                         ids=["bn-before", "bn-after", "no-bn"])
def test_network_gradient(bn_position, activation, batch_norm):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 3, 12)
    model = MLP(hidden=(6, 4), n_classes=3, batch_norm=batch_norm, bn_position=bn_position,
                activation=activation, dtype="float64", seed=1)
    model.build(5, 3)
    # gamma, beta away from 1, 0
    model.engine.params += rng.standard_normal(model.engine.params.size) * 0.1
    ws = model.engine.workspace(12)
    ws.x[...] = X
    ws.target[...] = y
    _, analytic = _loss_and_grads(model, ws)
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for i in range(model.engine.params.size):
        old = model.engine.params[i]
        model.engine.params[i] = old + eps
        hi = model.engine.train_step(ws, 1)[0]
        model.engine.params[i] = old - eps
        lo = model.engine.train_step(ws, 1)[0]
        model.engine.params[i] = old
        numeric[i] = (hi - lo) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(analytic).max() > 1e-3      # the check is not vacuous
