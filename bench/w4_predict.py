"""W4: prediction with the digits MLP: one-sample latency and 10,000-sample throughput.

The models are trained a few epochs on the digits first. fastnn:
``model.predict_proba(x)``; onnxruntime: the same fastnn model exported
with ``to_onnx``, ``session.run(["probabilities"], {"X": x})`` on one
thread (``intra_op_num_threads = inter_op_num_threads = 1``), compared with
fastnn at 1 thread; PyTorch: ``model.eval()`` once, then under
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
ORT_KEY = "onnxruntime 1t"
N_BULK = 10_000
EPOCHS = 5  # of training before predicting
REPEATS = 5  # interleaved repeats in a full run


def fastnn_predictors(ctx: Context, X_tr, y_tr) -> dict:
    """key -> (predict_proba of a fitted fastnn model at t threads, nothing to do before)."""
    models = {t: fastnn.MLP(hidden=w2_digits.HIDDEN, n_classes=10, seed=0, n_threads=t)
              for t in ctx.threads}
    for model in models.values():
        model.fit(X_tr, y_tr, epochs=EPOCHS, batch_size=32)
    return {fastnn_key(t): (m.predict_proba, lambda: None) for t, m in models.items()}, models


def onnxruntime_predictor(model):
    """key -> (one-thread onnxruntime session on ``model`` exported to ONNX, nothing to do
    before), or None (and why) when onnx or onnxruntime is not installed."""
    try:
        import onnxruntime as ort
        proto = model.to_onnx()
    except ImportError as exc:
        return None, f"onnxruntime rows skipped: {exc}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sess = ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    predict = lambda X: sess.run(["probabilities"], {"X": X})[0]  # noqa: E731
    return {ORT_KEY: (predict, lambda: None)}, f"onnxruntime {ort.__version__}"


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
    fns, models = fastnn_predictors(ctx, X_tr, y_tr)
    ort_fns, ort_note = onnxruntime_predictor(models[min(ctx.threads)])
    fns.update(ort_fns or {})
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
    return [table], [target] + onnxruntime_targets(ctx, lat, rates, ort_note, table)


def onnxruntime_targets(ctx: Context, lat: dict, rates: dict, note: str,
                        table: Table) -> list[Target]:
    """fastnn / onnxruntime on one thread each: latency ratio (<= 1 wanted) and
    throughput ratio (>= 1 wanted)."""
    table.notes.append(note)
    if ORT_KEY not in lat:
        return [Target(f"W4 vs onnxruntime: {what}", "n/a", "no onnxruntime", None, 1.0, "n/a",
                       target, lower_is_better=lower)
                for what, target, lower in (("one-sample latency", "<= 1x", True),
                                            (f"{N_BULK:,}-sample throughput", ">= 1x", False))]
    mine = fastnn_key(min(ctx.threads))
    lat_ratio = ratio(lat[mine], lat[ORT_KEY])
    rate_ratio = ratio(rates[mine], rates[ORT_KEY])
    table.notes.append(f"{mine} / {ORT_KEY} (the same exported model): one-sample latency "
                       f"{fmt_ratio(lat_ratio)}, {N_BULK:,}-sample throughput "
                       f"{fmt_ratio(rate_ratio)}.")
    return [
        Target("W4 vs onnxruntime: one-sample latency (fastnn / onnxruntime)",
               f"{fmt_us(lat[mine])} us ({mine})", f"{fmt_us(lat[ORT_KEY])} us ({ORT_KEY})",
               lat_ratio, 1.0, fmt_ratio(lat_ratio), "<= 1x", lower_is_better=True),
        Target(f"W4 vs onnxruntime: {N_BULK:,}-sample throughput (fastnn / onnxruntime)",
               f"{fmt_rate(rates[mine])}/s ({mine})", f"{fmt_rate(rates[ORT_KEY])}/s ({ORT_KEY})",
               rate_ratio, 1.0, fmt_ratio(rate_ratio), ">= 1x"),
    ]
