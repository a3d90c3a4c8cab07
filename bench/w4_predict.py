"""W4: prediction with the digits MLP: one-sample latency and 10,000-sample throughput.

Both models are trained a few epochs on the digits first. fastnn:
``model.predict_proba(x)``; PyTorch: ``model.eval()`` once, then under
``torch.inference_mode()`` ``softmax(model(from_numpy(x)))`` back to NumPy.
Latency: the median of many single calls, timed one by one, in interleaved
blocks. Throughput: best of interleaved repeats on 10,000 rows.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import fastnn
from context import Context, fastnn_key, torch_key
from report import Table, Target, fmt_rate, fmt_ratio, fmt_us, ratio, torch_baseline
from timing import best, interleave, timed
import torch_mlp
import w2_digits

GOAL = 4.0
N_BULK = 10_000
EPOCHS = 5  # of training before predicting
REPEATS = 5  # interleaved repeats in a full run


def fastnn_predictors(ctx: Context, X_tr, y_tr) -> dict:
    """key -> (predict_proba of a fitted fastnn model at t threads, nothing to do before)."""
    models = {t: fastnn.MLP(hidden=w2_digits.HIDDEN, n_classes=10, seed=0, n_threads=t)
              for t in ctx.threads}
    for model in models.values():
        model.fit(X_tr, y_tr, epochs=EPOCHS, batch_size=32)
    return {fastnn_key(t): (m.predict_proba, lambda: None) for t, m in models.items()}


def torch_predictors(ctx: Context, X_tr, y_tr) -> dict:
    """key -> (predict of a fitted PyTorch model in eval mode, set its thread count)."""
    torch = ctx.torch
    model, opt = torch_mlp.build(torch, 64, w2_digits.HIDDEN, 10, seed=0)
    Xt, yt = torch_mlp.tensors(torch, X_tr, y_tr)
    for _ in range(EPOCHS):
        torch_mlp.train_epoch(torch, model, opt, Xt, yt, 32)
    model.eval()
    predict = lambda X: torch_mlp.predict_proba(torch, model, X)  # noqa: E731
    return {torch_key(t): (predict, lambda t=t: ctx.set_torch_threads(t))
            for t in ctx.torch_threads}


def latency(fns: dict, rows: np.ndarray, blocks: int, calls: int) -> dict[str, float]:
    """Median seconds of a one-row call, ``calls`` per block, ``blocks`` interleaved blocks."""
    samples = {key: [] for key in fns}
    for b in range(blocks):
        for key in (list(fns) if b % 2 == 0 else list(fns)[::-1]):
            predict, before = fns[key]
            before()
            for i in range(calls):
                x = rows[i % len(rows)][None, :]
                start = time.perf_counter_ns()
                predict(x)
                samples[key].append(time.perf_counter_ns() - start)
    return {key: statistics.median(v) * 1e-9 for key, v in samples.items()}


def throughput(fns: dict, X: np.ndarray, repeats: int, min_s: float) -> dict[str, float]:
    """Rows per second of ``predict(X)`` (best of interleaved repeats)."""
    runs = {key: timed(lambda p=predict: p(X), min_s, before)
            for key, (predict, before) in fns.items()}
    return {key: len(X) / s for key, s in best(interleave(runs, repeats)).items()}


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    X_tr, X_te, y_tr, _ = w2_digits.split()
    fns = fastnn_predictors(ctx, X_tr, y_tr)
    if ctx.torch is not None:
        fns.update(torch_predictors(ctx, X_tr, y_tr))
    blocks, calls = (4, 100) if ctx.quick else (10, 500)
    for predict, _ in fns.values():
        predict(X_te[:1])
    lat = latency(fns, X_te, blocks, calls)
    bulk = np.ascontiguousarray(X_te[np.arange(N_BULK) % len(X_te)])
    rates = throughput(fns, bulk, ctx.repeats(REPEATS), 0.02 if ctx.quick else 0.1)
    table = Table("W4: prediction, digits MLP 64-128-64-10 (softmax included)",
                  ["candidate", "one sample: median us", f"{N_BULK:,} samples: samples/s"])
    for key in fns:
        table.add(key, fmt_us(lat[key]), fmt_rate(rates[key]))
    head = fastnn_key(ctx.head)
    torch_lat = ctx.torch_best(lat, lower_is_better=True)
    speedup = ratio(torch_lat, lat[head])
    table.notes += [
        f"Latency: median of {blocks} x {calls} single-row calls (float32 row in, NumPy "
        "probabilities out), interleaved blocks. Throughput: best of "
        f"{ctx.repeats(REPEATS)} interleaved repeats of a calibrated loop on {N_BULK:,} rows.",
        f"{head} vs torch best: one sample {fmt_ratio(speedup)} faster; {N_BULK:,} samples "
        f"{fmt_ratio(ratio(rates[head], ctx.torch_best(rates)))} the throughput.",
    ]
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: torch rows skipped.")
    baseline = torch_baseline(f"torch best {fmt_us(torch_lat)} us", torch_lat)
    target = Target("W4 one-sample predict latency", f"{fmt_us(lat[head])} us", baseline,
                    speedup, GOAL, fmt_ratio(speedup), f">= {GOAL}x faster")
    return [table], [target]
