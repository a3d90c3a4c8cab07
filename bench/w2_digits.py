"""W2: the digits MLP 64-128-64-10 with BN, batch 32: speed and the accuracy it buys.

Stratified 25% test split of the bundled digits (seed 0). Each repeat
trains a fresh model per candidate for ``EPOCHS`` epochs (Adam, lr 1e-3,
no decay; model seed = repeat number) and records the wall time of the
whole fit and the test accuracy. Speed: training samples / seconds at the
best repeat. Accuracy: mean over the repeats.
"""

from __future__ import annotations

import time

import numpy as np

import fastnn
from context import Context, fastnn_key, torch_key
from fastnn.datasets import load_digits, train_test_split
from report import Table, Target, fmt_rate, fmt_ratio, ratio, torch_baseline
from timing import interleave
import torch_mlp

HIDDEN = (128, 64)
BATCH = 32
GOAL = 4.0
REPEATS = 4  # interleaved repeats in a full run


def epochs(ctx: Context) -> int:
    return 3 if ctx.quick else 30


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as float32, stratified 25% test split (seed 0): X_tr, X_te, y_tr, y_te."""
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=True, seed=0)
    return X_tr.astype(np.float32), X_te.astype(np.float32), y_tr, y_te


def fastnn_run(ctx: Context, data, n_threads: int, results: list):
    """A function timing the fit of a fresh fastnn model; its test accuracy goes to ``results``."""
    X_tr, X_te, y_tr, y_te = data

    def run() -> float:
        model = fastnn.MLP(hidden=HIDDEN, n_classes=10, seed=len(results), n_threads=n_threads)
        start = time.perf_counter()
        model.fit(X_tr, y_tr, epochs=epochs(ctx), batch_size=BATCH,
                  optimizer=fastnn.Adam(lr=1e-3))
        seconds = time.perf_counter() - start
        results.append(model.evaluate(X_te, y_te)["accuracy"])
        return seconds
    return run


def torch_run(ctx: Context, data, n_threads: int, results: list):
    """A function timing the training of a fresh PyTorch model; accuracy goes to ``results``."""
    torch = ctx.torch
    X_tr, X_te, y_tr, y_te = data
    Xt, yt = torch_mlp.tensors(torch, X_tr, y_tr)

    def run() -> float:
        ctx.set_torch_threads(n_threads)
        model, opt = torch_mlp.build(torch, 64, HIDDEN, 10, seed=len(results))
        start = time.perf_counter()
        for _ in range(epochs(ctx)):
            torch_mlp.train_epoch(torch, model, opt, Xt, yt, BATCH)
        seconds = time.perf_counter() - start
        results.append(torch_mlp.accuracy(torch, model, X_te, y_te))
        return seconds
    return run


def candidates(ctx: Context, data) -> tuple[dict, dict]:
    """Runs (key -> function returning seconds) and their accuracy lists."""
    acc = {fastnn_key(t): [] for t in ctx.threads}
    runs = {k: fastnn_run(ctx, data, t, acc[k]) for k, t in zip(acc, ctx.threads)}
    if ctx.torch is not None:
        for t in ctx.torch_threads:
            acc[torch_key(t)] = []
            runs[torch_key(t)] = torch_run(ctx, data, t, acc[torch_key(t)])
    return runs, acc


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    data = split()
    runs, acc = candidates(ctx, data)
    for fn in runs.values():          # warm-up: one untimed fit each
        fn()
    for values in acc.values():
        values.clear()
    times = interleave(runs, ctx.repeats(REPEATS))
    n_seen = len(data[0]) * epochs(ctx)
    rates = {k: n_seen / min(v) for k, v in times.items()}
    table = Table(f"W2: digits MLP 64-128-64-10 with BN, batch {BATCH}, {epochs(ctx)} epochs",
                  ["candidate", "samples/s", "test accuracy (mean)", "accuracy range"])
    for key in runs:
        table.add(key, fmt_rate(rates[key]), f"{np.mean(acc[key]):.4f}",
                  f"{min(acc[key]):.4f} - {max(acc[key]):.4f}")
    head, torch_best = rates[fastnn_key(ctx.head)], ctx.torch_best(rates)
    rel = ratio(head, torch_best)
    table.notes += [
        f"{len(data[0])} training / {len(data[1])} test rows (stratified 25%, seed 0), raw "
        "pixels 0..16; Adam lr 1e-3, no decay. samples/s = rows x epochs / fit time, best of "
        f"{ctx.repeats(REPEATS)} interleaved repeats, each a fresh model (seeds 0, 1, ...); "
        "accuracy over the same repeats.",
        f"fastnn {ctx.head}t / torch best: {fmt_ratio(rel)}.",
    ]
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: torch rows skipped.")
    baseline = torch_baseline(f"torch best {fmt_rate(torch_best)}", torch_best)
    target = Target("W2 digits training, batch 32", f"{fmt_rate(head)} samples/s", baseline,
                    rel, GOAL, fmt_ratio(rel), f">= {GOAL}x")
    return [table], [target]
