"""W3: kernels, float32: batch-norm forward (training) and backward, softmax + cross-entropy.

fastnn through ``fastnn.ops`` with preallocated ``out=`` buffers; PyTorch
through ``F.batch_norm(training=True)``, ``aten.native_batch_norm_backward``
(the call autograd makes in a training step) and ``F.cross_entropy``
forward + ``backward()``; the NumPy reference ``fastnn._reference``.
Bandwidth: the bytes a kernel must move (inputs read once, outputs written
once) per second, beside the copy bandwidth at the same thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bandwidth import COPY_BYTES, QUICK_COPY_BYTES, copy_bandwidth
from context import Context, fastnn_key, torch_key
from fastnn import _reference as ref
from fastnn import ops
from report import Table, Target, fmt_pct, fmt_ratio, fmt_us, ratio, torch_baseline
from timing import best, interleave, timed

NUMPY = "NumPy ref"
BN_SHAPES = ((256, 1024), (8192, 1024))
CE_SHAPES = ((256, 10), (8192, 1000))
LARGE_ROWS = 8192
BW_GOAL = 0.5
REPEATS = 9  # interleaved repeats in a full run
QUICK_REPEATS = 1  # a quick run is a smoke run: one timed loop after calibration


@dataclass
class Case:
    """One kernel at one shape: a call per candidate and the bytes it must move."""

    kernel: str
    shape: tuple[int, int]
    nbytes: int
    fastnn: Callable[[int], Callable[[], object]]
    torch: Callable[[], object] | None
    numpy: Callable[[], object]


def bn_arrays(n: int, d: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32) * 2 + 1
    a = {"x": x, "dy": rng.standard_normal((n, d), dtype=np.float32),
         "gamma": rng.uniform(0.5, 1.5, d).astype(np.float32),
         "beta": rng.standard_normal(d, dtype=np.float32),
         "rm": np.zeros(d, np.float32), "rv": np.ones(d, np.float32)}
    _, a["mean"], a["rstd"] = ops.batchnorm_forward(x, a["gamma"], a["beta"])
    return a


def bn_forward(ctx: Context, n: int, d: int, a: dict | None = None) -> Case:
    a = bn_arrays(n, d) if a is None else a
    out = (np.empty_like(a["x"]), np.empty(d, np.float32), np.empty(d, np.float32))

    def fastnn(t):
        return lambda: ops.batchnorm_forward(a["x"], a["gamma"], a["beta"], running_mean=a["rm"],
                                             running_var=a["rv"], out=out, n_threads=t)

    torch_fn = None
    if ctx.torch is not None:
        F, T = ctx.torch.nn.functional, {k: ctx.torch.from_numpy(v.copy()) for k, v in a.items()}
        torch_fn = lambda: F.batch_norm(T["x"], T["rm"], T["rv"], T["gamma"], T["beta"],  # noqa
                                        training=True, momentum=0.1, eps=1e-5)
    rm, rv = a["rm"].copy(), a["rv"].copy()
    numpy_fn = lambda: ref.batchnorm_forward(a["x"], a["gamma"], a["beta"],  # noqa: E731
                                             running_mean=rm, running_var=rv)
    return Case("bn forward (training)", (n, d), 4 * (2 * n * d + 8 * d), fastnn, torch_fn,
                numpy_fn)


def bn_backward(ctx: Context, n: int, d: int, a: dict | None = None) -> Case:
    a = bn_arrays(n, d) if a is None else a
    out = (np.empty_like(a["x"]), np.empty(d, np.float32), np.empty(d, np.float32))

    def fastnn(t):
        return lambda: ops.batchnorm_backward(a["dy"], a["x"], a["mean"], a["rstd"], a["gamma"],
                                              out=out, n_threads=t)

    torch_fn = None
    if ctx.torch is not None:
        torch = ctx.torch
        T = {k: torch.from_numpy(v.copy()) for k, v in a.items()}
        _, mean, invstd = torch.ops.aten.native_batch_norm(T["x"], T["gamma"], T["beta"], T["rm"],
                                                           T["rv"], True, 0.1, 1e-5)
        torch_fn = lambda: torch.ops.aten.native_batch_norm_backward(  # noqa: E731
            T["dy"], T["x"], T["gamma"], T["rm"], T["rv"], mean, invstd, True, 1e-5,
            [True, True, True])
    numpy_fn = lambda: ref.batchnorm_backward(a["dy"], a["x"], a["mean"], a["rstd"],  # noqa
                                              a["gamma"])
    return Case("bn backward", (n, d), 4 * (3 * n * d + 6 * d), fastnn, torch_fn, numpy_fn)


def softmax_ce(ctx: Context, n: int, c: int) -> Case:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, c), dtype=np.float32) * 3
    labels = rng.integers(0, c, n)
    dz = np.empty_like(z)

    def fastnn(t):
        return lambda: ops.softmax_cross_entropy(z, labels, out=dz, n_threads=t)

    torch_fn = None
    if ctx.torch is not None:
        torch = ctx.torch
        zt = torch.from_numpy(z.copy()).requires_grad_(True)
        lt = torch.from_numpy(labels)

        def torch_fn():
            zt.grad = None
            torch.nn.functional.cross_entropy(zt, lt).backward()
    numpy_fn = lambda: ref.softmax_cross_entropy(z, labels)  # noqa: E731
    return Case("softmax + CE (loss + grad)", (n, c), 8 * n * c + 8 * n, fastnn, torch_fn,
                numpy_fn)


def cases(ctx: Context) -> list[Case]:
    """Every case, built before any is measured.

    A quick run builds each shape's batch-norm arrays once, for forward and
    backward alike (at 8192 rows that halves the setup). Sharing is safe only
    because all cases are built first: backward's PyTorch copies are taken
    before forward's fastnn calls update the running stats in place.
    """
    shared = {s: bn_arrays(*s) for s in BN_SHAPES} if ctx.quick else {}
    out = [bn_forward(ctx, *s, shared.get(s)) for s in BN_SHAPES]
    out += [bn_backward(ctx, *s, shared.get(s)) for s in BN_SHAPES]
    return out + [softmax_ce(ctx, *s) for s in CE_SHAPES]


def measure(ctx: Context, case: Case) -> dict[str, float]:
    """Seconds per call of each candidate (best of interleaved repeats)."""
    min_s = 0.005 if ctx.quick else 0.04
    runs = {fastnn_key(t): timed(case.fastnn(t), min_s) for t in ctx.threads}
    if case.torch is not None:
        for t in ctx.torch_threads:
            runs[torch_key(t)] = timed(case.torch, min_s, lambda t=t: ctx.set_torch_threads(t))
    runs[NUMPY] = timed(case.numpy, min_s)
    return best(interleave(runs, ctx.repeats(REPEATS, QUICK_REPEATS)))


def row(ctx: Context, case: Case, copy_bw: float, table: Table) -> list[Target]:
    """Measure one case, add its table row, return its targets."""
    secs, head = measure(ctx, case), fastnn_key(ctx.head)
    mine, torch_best = secs[head], ctx.torch_best(secs, lower_is_better=True)
    speedup = ratio(torch_best, mine)
    gbs = case.nbytes / mine
    shape = "x".join(map(str, case.shape))
    cells = [case.kernel, shape] + [fmt_us(secs[k]) for k in ctx.keys() + [NUMPY]]
    cells += [fmt_ratio(speedup)] if ctx.torch is not None else []
    table.add(*cells, f"{gbs / 1e9:.1f}", fmt_pct(gbs / copy_bw))
    baseline = torch_baseline(f"torch best {fmt_us(torch_best)} us", torch_best)
    targets = [Target(f"W3 {case.kernel} {shape}", f"{fmt_us(mine)} us", baseline, speedup,
                      1.0, fmt_ratio(speedup), "faster than torch (> 1x)")]
    if case.shape[0] >= LARGE_ROWS:
        targets.append(Target(f"W3 {case.kernel} {shape} bandwidth", f"{gbs / 1e9:.1f} GB/s",
                              f"copy {copy_bw / 1e9:.1f} GB/s", gbs / copy_bw, BW_GOAL,
                              fmt_pct(gbs / copy_bw), f">= {BW_GOAL:.0%} of copy"))
    return targets


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    copy_bytes = QUICK_COPY_BYTES if ctx.quick else COPY_BYTES
    copy_bw = copy_bandwidth(ctx.threads, ctx.repeats(5), copy_bytes)
    head = fastnn_key(ctx.head)
    columns = ["kernel", "shape"] + ctx.keys() + [NUMPY]
    columns += [f"torch best / {head}"] if ctx.torch is not None else []
    table = Table("W3: kernels, float32 (microseconds per call)",
                  columns + [f"{head} GB/s", f"% of copy bw ({ctx.head}t)"])
    targets = []
    for case in cases(ctx):
        targets += row(ctx, case, copy_bw[ctx.head], table)
    repeats = ctx.repeats(REPEATS, QUICK_REPEATS)
    timing = f"Best of {repeats} interleaved repeats" if repeats > 1 else "One timing"
    table.notes += [
        f"Copy bandwidth (np.copyto of {copy_bytes >> 20} MB, bytes read + written / time; "
        "at 2t two threads each copy half): "
        + ", ".join(f"{t}t {bw / 1e9:.1f} GB/s" for t, bw in copy_bw.items()) + ".",
        "Bytes a kernel must move: bn forward 2 n d + 8 d floats (x in, y out; gamma, beta, "
        "running stats in and out, mean and rstd out); bn backward 3 n d + 6 d; softmax + CE "
        "2 n c floats + n int64 labels.",
        f"{timing} of a calibrated loop. fastnn: fastnn.ops with out= buffers (its input "
        "checks included); bn forward updates running stats on all sides; torch's softmax + "
        "CE runs autograd (cross_entropy forward + backward).",
    ]
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: torch columns skipped.")
    return [table], targets
