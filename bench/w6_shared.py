"""W6: a shared machine. Training throughput beside other busy processes, and after
NumPy BLAS work in the same process.

The W1 model (784-512-256-10, BN + ReLU, Adam, float32) at batch 32, 128
and 512, and the W2 digits model (64-128-64-10, BN + ReLU, Adam) on the
bundled digits at batch 32. Candidates: fastnn
at its default thread count (``n_threads=None``), at fixed 1 and 2 threads,
and PyTorch at its default (all cores). Loads: quiet, and beside 1 and 2
processes each spinning on a core (``while True: pass``), started before the
measurement and stopped after it. Under load single runs swing widely, so
each figure is the median of the interleaved repeats, not the best.

Then "after NumPy": a NumPy matmul on its own BLAS threads right before each
fastnn epoch (OpenBLAS's threads keep spinning for a while after it),
against the same epoch alone, interleaved.

One cell alone: ``python bench/w6_shared.py --load 2 --batch 32`` (``--batch
digits`` for the digits MLP); with ``FASTNN_THREAD_LOG=FILE`` the thread
chooser writes each timed segment and its decision to FILE.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np

import fastnn
from context import Context, cores
from report import Table, Target, fmt_rate, fmt_ratio, ratio
from timing import interleave
import torch_mlp
from w1_training import HIDDEN, data

BATCHES = (32, 128, 512)
LOADS = (0, 1, 2)
STEPS = {32: 64, 128: 32, 512: 16}
DIGITS = "digits"             # the digits model's rows are labelled by this instead of a batch
# A cell compares medians of noisy runs: with 5 repeats, even a default that always ran the
# best count missed a cell in about one run in three (a simulation with 10% noise per run),
# so a miss said more about the noise than about the thread chooser; 9 halve that
REPEATS = 9
DIGITS_EPOCHS = 5             # a digits epoch lasts ~8 ms, about a scheduler's time slice
GOAL_QUIET, GOAL_BUSY, GOAL_TORCH, GOAL_NUMPY = 0.90, 0.85, 2.0, 0.93
DEFAULT, ONE, TWO, TORCH = "fastnn default", "fastnn 1t", "fastnn 2t", "torch default"


def busy(n: int) -> list[subprocess.Popen]:
    """``n`` processes spinning on a core each."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def _case(X, y, batch):
    """(rows, labels, hidden widths, batch size, epochs per run) of one table row; batch
    DIGITS: the digits."""
    if batch == DIGITS:
        from fastnn.datasets import load_digits
        Xd, yd = load_digits()
        return Xd.astype(np.float32), yd, (128, 64), 32, DIGITS_EPOCHS
    n = batch * STEPS[batch]
    return X[:n], y[:n], HIDDEN, batch, 1


def _fastnn(X, y, batch, n_threads, hidden=HIDDEN, epochs=1):
    model = fastnn.MLP(hidden=hidden, n_classes=10, seed=0, n_threads=n_threads)
    model.fit(X, y, epochs=1, batch_size=batch, optimizer=fastnn.Adam(1e-3))

    def run() -> float:
        start = time.perf_counter()
        model.fit(X, y, epochs=epochs, batch_size=batch)
        return time.perf_counter() - start
    return run


def _torch(ctx: Context, X, y, batch, hidden=HIDDEN, epochs=1):
    torch, n = ctx.torch, cores()
    ctx.set_torch_threads(n)
    model, opt = torch_mlp.build(torch, X.shape[1], hidden, 10, seed=0)
    Xt, yt = torch_mlp.tensors(torch, X, y)
    torch_mlp.train_epoch(torch, model, opt, Xt, yt, batch)

    def run() -> float:
        ctx.set_torch_threads(n)
        start = time.perf_counter()
        for _ in range(epochs):
            torch_mlp.train_epoch(torch, model, opt, Xt, yt, batch)
        return time.perf_counter() - start
    return run


def measure(ctx: Context, X, y, batch, load: int) -> dict[str, float]:
    """Median samples/s of each candidate at one batch size (or on the digits) beside
    ``load`` busy processes."""
    Xn, yn, hidden, size, epochs = _case(X, y, batch)
    if ctx.quick:
        Xn, yn = Xn[:8 * size], yn[:8 * size]
    n = len(Xn) * epochs
    runs = {DEFAULT: _fastnn(Xn, yn, size, None, hidden, epochs),
            ONE: _fastnn(Xn, yn, size, 1, hidden, epochs),
            TWO: _fastnn(Xn, yn, size, 2, hidden, epochs)}
    if ctx.torch is not None:
        runs[TORCH] = _torch(ctx, Xn, yn, size, hidden, epochs)
    procs = busy(load)
    try:
        times = interleave(runs, ctx.repeats(REPEATS))
    finally:
        stop(procs)
    return {key: n / statistics.median(values) for key, values in times.items()}


def after_numpy(ctx: Context, X, y) -> tuple[float, float]:
    """(samples/s of a batch-32 epoch alone, right after a NumPy matmul), medians."""
    steps = 8 if ctx.quick else STEPS[32]
    n = 32 * steps
    epoch = _fastnn(X[:n], y[:n], 32, None)
    a = np.random.default_rng(0).standard_normal((768, 768))

    def alone() -> float:
        time.sleep(0.2)                 # the same pause before both
        return epoch()

    def after() -> float:
        time.sleep(0.2)
        a @ a                           # NumPy's BLAS on its own threads
        return epoch()
    times = interleave({"alone": alone, "after": after}, ctx.repeats(2 * REPEATS))
    return n / statistics.median(times["alone"]), n / statistics.median(times["after"])


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    X, y = data(n=max(STEPS[b] * b for b in BATCHES))
    keys = [DEFAULT, ONE, TWO] + ([TORCH] if ctx.torch is not None else [])
    table = Table("W6: a shared machine, MLP 784-512-256-10 (and the digits MLP) training "
                  "(samples/s, medians)",
                  ["load", "batch"] + keys + ["default / best fixed", "default / torch default"])
    targets = []
    for load in LOADS:
        for batch in (*BATCHES, DIGITS):
            r = measure(ctx, X, y, batch, load)
            fixed = max(r[ONE], r[TWO])
            rel, vs_torch = ratio(r[DEFAULT], fixed), ratio(r[DEFAULT], r.get(TORCH))
            name = "quiet" if load == 0 else f"busy {load}"
            table.add(name, batch, *(fmt_rate(r[k]) for k in keys), fmt_ratio(rel),
                      fmt_ratio(vs_torch))
            goal = GOAL_QUIET if load == 0 else GOAL_BUSY
            case = "digits MLP" if batch == DIGITS else f"batch {batch}"
            targets.append(Target(f"W6 default vs best fixed threads, {name}, {case}",
                                  f"{fmt_rate(r[DEFAULT])} samples/s",
                                  f"best fixed {fmt_rate(fixed)}", rel, goal, fmt_ratio(rel),
                                  f">= {goal}x"))
            if load and vs_torch is not None:
                targets.append(Target(f"W6 default vs torch default, {name}, {case}",
                                      f"{fmt_rate(r[DEFAULT])} samples/s",
                                      f"torch {fmt_rate(r[TORCH])}", vs_torch, GOAL_TORCH,
                                      fmt_ratio(vs_torch), f">= {GOAL_TORCH}x"))
    alone, after = after_numpy(ctx, X, y)
    rel = ratio(after, alone)
    table.add("after NumPy BLAS", 32, fmt_rate(after), "", "", *([""] if ctx.torch else []),
              f"{fmt_ratio(rel)} of alone ({fmt_rate(alone)})", "")
    targets.append(Target("W6 right after NumPy BLAS work, batch 32", f"{fmt_rate(after)} samples/s",
                          f"alone {fmt_rate(alone)}", rel, GOAL_NUMPY, fmt_ratio(rel),
                          f">= {GOAL_NUMPY}x"))
    table.notes += [
        f"Median of {ctx.repeats(REPEATS)} interleaved repeats of one epoch ("
        + ", ".join(f"{STEPS[b]} x {b}" for b in BATCHES) + " samples; the digits: "
        f"{DIGITS_EPOCHS} epochs of all 1,797 rows at batch 32) per cell, after a "
        "warm-up epoch; 'busy N': N other processes spinning on a core each, during the "
        f"whole cell; fastnn default = {fastnn.get_num_threads()} threads here; torch "
        f"default = {cores()} threads.",
        "After NumPy: a 768x768 float64 matmul on NumPy's own BLAS threads right before each "
        "fastnn epoch (batch 32, default threads), against the epoch alone; medians of "
        f"{ctx.repeats(2 * REPEATS)} interleaved repeats, 0.2 s pause before each.",
    ]
    return [table], targets


def main(argv=None) -> None:
    """One cell, printed: e.g. beside two busy processes at batch 32, with
    ``FASTNN_THREAD_LOG=w6.log`` set to read the thread chooser's decisions there."""
    import argparse

    p = argparse.ArgumentParser(description="One W6 cell (fastnn only): default, 1 and 2 "
                                "threads beside LOAD busy processes, medians of 9 runs")
    p.add_argument("--load", type=int, choices=LOADS, default=2)
    p.add_argument("--batch", choices=[str(b) for b in BATCHES] + [DIGITS], default="32")
    p.add_argument("--quick", action="store_true", help="2 runs on a few batches")
    args = p.parse_args(argv)
    X, y = data(n=max(STEPS[b] * b for b in BATCHES))
    batch = args.batch if args.batch == DIGITS else int(args.batch)
    r = measure(Context(quick=args.quick), X, y, batch, args.load)
    print(f"load {args.load}, batch {batch}: " + ", ".join(f"{k} {fmt_rate(v)}" for k, v in r.items())
          + f"; default / best fixed {fmt_ratio(ratio(r[DEFAULT], max(r[ONE], r[TWO])))}")


if __name__ == "__main__":
    main()
