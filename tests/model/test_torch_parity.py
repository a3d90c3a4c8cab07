"""The losses, weight decay and AdamW against PyTorch (CPU, float64), step by step.

torch is a test extra (``pip install -e ".[test]"``).
"""

import numpy as np
import pytest
import torch

from fastnn import MLP, SGD, Adam, AdamW, RMSprop, ops

torch.set_num_threads(1)


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (300, 10)], ids=str)
def test_mse_and_bce_with_logits_match_torch(shape):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape) * 5
    y01 = (rng.random(shape) < 0.5).astype(np.float64)
    yreal = rng.standard_normal(shape)
    for ours, theirs, y in ((ops.mse, torch.nn.MSELoss(), yreal),
                            (ops.sigmoid_cross_entropy, torch.nn.BCEWithLogitsLoss(), y01)):
        zt = torch.tensor(z, requires_grad=True)
        loss_t = theirs(zt, torch.tensor(y))
        loss_t.backward()
        loss, dz = ours(z, y)
        assert loss == pytest.approx(loss_t.item(), rel=1e-12)
        np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-11, atol=1e-15)


def test_weighted_losses_match_torch_per_row_losses():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((50, 4)), (rng.random((50, 4)) < 0.5).astype(np.float64)
    w = rng.uniform(0, 3, 50)
    rows = torch.nn.BCEWithLogitsLoss(reduction="none")(torch.tensor(z), torch.tensor(y)).mean(1)
    want = float((rows * torch.tensor(w)).sum() / w.sum())
    assert ops.sigmoid_cross_entropy(z, y, sample_weight=w)[0] == pytest.approx(want, rel=1e-12)
    labels = rng.integers(0, 4, 50)
    rows = torch.nn.CrossEntropyLoss(reduction="none")(torch.tensor(z), torch.tensor(labels))
    want = float((rows * torch.tensor(w)).sum() / w.sum())
    assert ops.softmax_cross_entropy(z, labels, sample_weight=w)[0] == pytest.approx(want, rel=1e-12)


CASES = [
    (lambda: SGD(0.1, weight_decay=0.05), lambda p, wd: torch.optim.SGD(p, lr=0.1)),
    (lambda: RMSprop(0.01, beta2=0.9, eps=1e-6, weight_decay=0.05),
     lambda p, wd: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6)),
    (lambda: Adam(0.01, beta1=0.8, beta2=0.95, weight_decay=0.05),
     lambda p, wd: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95))),
    (lambda: AdamW(0.01, beta1=0.8, beta2=0.95, weight_decay=0.3),
     lambda p, wd: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.95))),
]


@pytest.mark.parametrize("make, make_torch", CASES, ids=["SGD", "RMSprop", "Adam", "AdamW"])
def test_optimizers_with_weight_decay_match_torch_over_steps(make, make_torch):
    # weight decay on the matrix, none on the vector: torch param groups
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    opt = make()
    Wt, bt = torch.tensor(W.copy(), requires_grad=True), torch.tensor(b.copy(), requires_grad=True)
    topt = make_torch([{"params": [Wt], "weight_decay": opt.weight_decay},
                       {"params": [bt], "weight_decay": 0.0}], opt.weight_decay)
    for _ in range(6):
        gW, gb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
        opt.step([W, b], [gW, gb])
        Wt.grad, bt.grad = torch.tensor(gW), torch.tensor(gb)
        topt.step()
        np.testing.assert_allclose(W, Wt.detach().numpy(), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(b, bt.detach().numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loss, torch_loss", [("mse", torch.nn.MSELoss()),
                                              ("sigmoid_cross_entropy", torch.nn.BCEWithLogitsLoss())])
def test_mlp_training_matches_torch(loss, torch_loss):
    # a 5-6-3 tanh MLP, full batches, AdamW with decay on the weights: same weights as torch
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    Y = rng.standard_normal((40, 3)) if loss == "mse" else (rng.random((40, 3)) < 0.5) * 1.0
    model = MLP(hidden=(6,), loss=loss, batch_norm=False, activation="tanh", dtype="float64",
                seed=0)
    model.prepare(X, Y)
    dense = [x for x in model.layers if hasattr(x, "params") and "W" in x.params]
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for layer, lin in zip(dense, (net[0], net[2])):
            lin.weight.copy_(torch.tensor(layer.params["W"].T))
            lin.bias.copy_(torch.tensor(layer.params["b"]))
    topt = torch.optim.AdamW([{"params": [net[0].weight, net[2].weight], "weight_decay": 0.1},
                              {"params": [net[0].bias, net[2].bias], "weight_decay": 0.0}],
                             lr=0.02)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    losses = []
    for _ in range(8):
        topt.zero_grad()
        value = torch_loss(net(Xt), Yt)
        value.backward()
        topt.step()
        losses.append(value.item())
    history = model.fit(X, Y, epochs=8, batch_size=40, shuffle=False,
                        optimizer=AdamW(0.02, weight_decay=0.1))
    assert history["loss"] == pytest.approx(losses, rel=1e-10)
    for layer, lin in zip(dense, (net[0], net[2])):
        np.testing.assert_allclose(layer.params["W"], lin.weight.detach().numpy().T, rtol=1e-9)
        np.testing.assert_allclose(layer.params["b"], lin.bias.detach().numpy(), rtol=1e-9, atol=1e-12)
