"""Optimizer updates fused into the backward pass, against one update after it (W1's model).

Usage::

    python bench/fused_updates.py --batch 32 --threads 2 --rounds 7

Two copies of the W1 model (784-512-256-10, BN + ReLU, Adam, float32), one
updating each op's parameters right after its backward (fastnn's default),
one with ``Network.fuse_updates = False`` (one update of the flat array
after the pass; the same bits), and W1's GEMMs alone in fastnn's block
scheme through the BLAS in use (gemm_limit.gemm_step), interleaved: samples/s of one epoch,
best and median over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import fastnn
from fastnn._threads import blas_held
from gemm_limit import gemm_step
from w1_training import HIDDEN, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, choices=(32, 128, 512))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    batch, threads = args.batch, args.threads
    n_steps = {32: 256, 128: 128}.get(batch, 32)      # as W1 measures
    n = batch * n_steps
    X, y = data(n)

    def model_run(fuse: bool):
        model = fastnn.MLP(hidden=HIDDEN, n_classes=10, seed=0, n_threads=threads)
        model.fit(X, y, epochs=1, batch_size=batch, optimizer=fastnn.Adam(1e-3))
        model.engine.fuse_updates = fuse

        def run() -> float:
            start = time.perf_counter()
            model.fit(X, y, epochs=1, batch_size=batch)
            return time.perf_counter() - start
        return run

    step = gemm_step(batch, n_threads=threads, inner=n_steps)

    def gemms() -> float:
        with blas_held:
            start = time.perf_counter()
            step()
            return time.perf_counter() - start

    runs = {"fused": model_run(True), "after the pass": model_run(False), "GEMM limit": gemms}
    times = {key: [] for key in runs}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for key in order:
            times[key].append(runs[key]())
    limit = min(times["GEMM limit"])
    print(f"W1 model, batch {batch}, {threads} thread(s), {args.rounds} rounds of {n} samples")
    for key, values in times.items():
        print(f"  {key:15s} best {n / min(values):9,.0f}  median {n / statistics.median(values):9,.0f}"
              f" samples/s   best / GEMM limit {limit / min(values):.0%}")


if __name__ == "__main__":
    main()
