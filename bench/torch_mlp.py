"""The PyTorch twin of ``fastnn.MLP``: Linear (no bias) -> BatchNorm1d -> ReLU per hidden
layer, then Linear; CrossEntropyLoss and Adam; a plain training loop.

Mini-batches are cut exactly as fastnn cuts them (``fastnn.train.batch_bounds``:
a lone trailing row joins the batch before it), from a fresh permutation per
epoch, indexed out of tensors loaded once (``X[idx]``).
"""

from __future__ import annotations

import numpy as np

from fastnn.train import batch_bounds


def build(torch, n_in: int, hidden: tuple[int, ...], n_classes: int, seed: int = 0):
    """An ``nn.Sequential`` MLP with batch norm, and Adam(lr=1e-3) over its parameters."""
    nn = torch.nn
    torch.manual_seed(seed)
    layers, width = [], n_in
    for units in hidden:
        layers += [nn.Linear(width, units, bias=False), nn.BatchNorm1d(units), nn.ReLU()]
        width = units
    model = nn.Sequential(*layers, nn.Linear(width, n_classes))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def tensors(torch, X: np.ndarray, y: np.ndarray):
    """``(X, y)`` as a float32 tensor and an int64 tensor, loaded once."""
    return (torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))


def train_epoch(torch, model, opt, X, y, batch_size: int) -> None:
    """One epoch over the tensors ``X``, ``y`` in shuffled mini-batches."""
    model.train()
    loss_fn = torch.nn.functional.cross_entropy
    perm = torch.randperm(X.shape[0])
    for lo, hi in batch_bounds(X.shape[0], batch_size):
        idx = perm[lo:hi]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()


def predict_proba(torch, model, X: np.ndarray) -> np.ndarray:
    """Class probabilities of the rows of ``X`` (NumPy in, NumPy out), in eval mode."""
    with torch.inference_mode():
        z = model(torch.from_numpy(X))
        return torch.softmax(z, dim=1).numpy()


def accuracy(torch, model, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    return float(np.mean(predict_proba(torch, model, X).argmax(axis=1) == y))
