"""W1: training throughput, MLP 784-512-256-10 with BN + ReLU, Adam, float32.

Synthetic data (random X, random labels). Each candidate gets its own
model, warmed up by one fit of the measured size; a measurement is then one
more epoch of ``n`` samples (training continues on the same model), and the
figure is ``n / seconds`` at the best of the interleaved repeats.
"""

from __future__ import annotations

import time

import numpy as np

import fastnn
from context import Context, fastnn_key, torch_key
from report import Table, Target, fmt_rate, fmt_ratio, ratio, torch_baseline
from timing import best, interleave
import torch_mlp

W1_LAYERS = (784, 512, 256, 10)
HIDDEN = W1_LAYERS[1:-1]
BATCHES = (32, 128, 512, 2048)
# fastnn / PyTorch's best; at 2048, never below PyTorch (the goal on any machine without MKL)
GOALS = {32: 4.0, 128: 1.5, 512: 1.1, 2048: 1.0}
N_SAMPLES = 16384
REPEATS = 5  # interleaved repeats in a full run


def train_flops_per_sample(widths=W1_LAYERS) -> float:
    """FLOPs (2 x multiply-adds) of a training step's GEMMs, per sample.

    Forward x @ W and dW = x.T @ dy for every layer, dx = dy @ W.T for all
    but the first (the input needs no gradient).
    """
    macs = sum(3 * a * b for a, b in zip(widths[:-1], widths[1:])) - widths[0] * widths[1]
    return 2.0 * macs


def steps(ctx: Context, batch: int) -> int:
    """Mini-batches per measured epoch: enough for a steady state, few enough for ~10 min."""
    if ctx.quick:
        return 8
    return {32: 256, 128: 128, 512: 32, 2048: N_SAMPLES // 2048}[batch]


def data(n: int = N_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def fastnn_run(X, y, batch: int, n_threads: int):
    """A warmed-up fastnn model and a function timing one more epoch on it."""
    model = fastnn.MLP(hidden=HIDDEN, n_classes=10, seed=0, n_threads=n_threads)
    model.fit(X, y, epochs=1, batch_size=batch, shuffle=True, optimizer=fastnn.Adam(lr=1e-3))

    def run() -> float:
        start = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=batch, shuffle=True)
        return time.perf_counter() - start
    return run


def torch_run(ctx: Context, X, y, batch: int, n_threads: int):
    """A warmed-up PyTorch model and a function timing one more epoch on it."""
    torch = ctx.torch
    ctx.set_torch_threads(n_threads)
    model, opt = torch_mlp.build(torch, 784, HIDDEN, 10, seed=0)
    Xt, yt = torch_mlp.tensors(torch, X, y)
    torch_mlp.train_epoch(torch, model, opt, Xt, yt, batch)

    def run() -> float:
        ctx.set_torch_threads(n_threads)
        start = time.perf_counter()
        torch_mlp.train_epoch(torch, model, opt, Xt, yt, batch)
        return time.perf_counter() - start
    return run


def measure(ctx: Context, X, y, batch: int) -> dict[str, float]:
    """Samples/s of each candidate at one batch size (best of interleaved repeats)."""
    n = batch * steps(ctx, batch)
    Xn, yn = X[:n], y[:n]
    runs = {fastnn_key(t): fastnn_run(Xn, yn, batch, t) for t in ctx.threads}
    if ctx.torch is not None:
        runs.update({torch_key(t): torch_run(ctx, Xn, yn, batch, t) for t in ctx.torch_threads})
    return {key: n / s for key, s in best(interleave(runs, ctx.repeats(REPEATS))).items()}


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    X, y = data()
    keys, head = ctx.keys(), fastnn_key(ctx.head)
    flops = train_flops_per_sample(W1_LAYERS)
    table = Table("W1: training throughput, MLP 784-512-256-10, BN+ReLU, Adam (samples/s)",
                  ["batch"] + keys + [f"{head} / torch best", f"{head} GFLOP/s"])
    targets, rates = [], {}
    for batch in BATCHES:
        r = rates[batch] = measure(ctx, X, y, batch)
        torch_best = ctx.torch_best(r)
        rel = ratio(r[head], torch_best)
        table.add(batch, *(fmt_rate(r[k]) for k in keys), fmt_ratio(rel),
                  f"{r[head] * flops / 1e9:.1f}")
        baseline = torch_baseline(f"torch best {fmt_rate(torch_best)}", torch_best)
        targets.append(Target(f"W1 training, batch {batch}", f"{fmt_rate(r[head])} samples/s",
                              baseline, rel, GOALS[batch], fmt_ratio(rel),
                              f">= {GOALS[batch]}x"))
    ctx.facts["W1"] = rates
    table.notes += [
        f"Best of {ctx.repeats(REPEATS)} interleaved repeats of one epoch of "
        + ", ".join(f"{steps(ctx, b)} x {b}" for b in BATCHES)
        + " samples (steps x batch), after a warm-up epoch; random X (float32), random "
        "labels 0..9; torch's best is over its 1 and 2 threads.",
        f"GFLOP/s counts the GEMMs only ({flops / 1e6:.2f} MFLOP per sample: forward x@W of "
        "the 3 layers, dW = x.T@dy of the 3 layers, dx = dy@W.T of layers 2 and 3; "
        "the input needs no gradient).",
    ]
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: torch columns skipped.")
    return [table], targets
