"""GEMM limit: W1's training-step GEMMs alone, back to back through BLAS (float32).

Per layer ``(n_in, n_out)`` and batch ``b``: forward ``x @ W`` (b, n_in) @
(n_in, n_out); backward ``dW = x.T @ dy`` and, except for the first layer
(its input needs no gradient), ``dx = dy @ W.T``. Run into preallocated
outputs, BLAS held at 1 or 2 threads by threadpoolctl, through two BLAS
builds: the one fastnn calls (scipy's, ``scipy.linalg.blas.sgemm``;
transposes passed as views, no copies) and NumPy's own (``np.matmul``),
which may be another OpenBLAS version. The time of one step through the
faster of the two gives samples/s (batch / time): what a training step
would reach if everything but its GEMMs were free. W1 against the step
through fastnn's own BLAS is shown beside it.

Beside it, Adam's update of W1's parameters (one flat float32 array, as a
model holds them, through ``fastnn.ops.adam_update``), timed before the
GEMMs (NumPy's BLAS threads spin on after a threaded GEMM): its cost does
not depend on the batch size, so at a small batch it bounds W1 / limit on
its own. The "ceiling" column is the fraction W1 would reach if everything
but the GEMMs and that update were free: limit step / (limit step + update).
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastnn
from context import Context, fastnn_key
from report import Table, Target, fmt_pct, fmt_rate, fmt_us, ratio
from timing import best, calibrate, interleave, time_calls, timed
from w1_training import BATCHES, HIDDEN, W1_LAYERS, train_flops_per_sample

GOAL = 0.70  # fastnn's W1 at batch 512 / the GEMM limit
REPEATS = 9  # interleaved repeats in a full run


def gemm_step(batch: int, widths=W1_LAYERS, seed: int = 0, blas: str = "scipy"):
    """A function running one training step's GEMMs on preallocated float32 arrays, through
    scipy's BLAS (``blas="scipy"``, the one fastnn calls) or NumPy's matmul (``"numpy"``)."""
    from scipy.linalg.blas import sgemm

    rng = np.random.default_rng(seed)
    rand = lambda *shape: rng.standard_normal(shape, dtype=np.float32)  # noqa: E731
    pairs = list(zip(widths[:-1], widths[1:]))
    xs = [rand(batch, a) for a, _ in pairs]
    Ws = [rand(a, b) for a, b in pairs]
    ys = [np.empty((batch, b), np.float32) for _, b in pairs]
    dys = [rand(batch, b) for _, b in pairs]
    dWs = [np.empty_like(W) for W in Ws]
    dxs = [np.empty_like(x) for x in xs]

    def numpy_step() -> None:
        for i in range(len(pairs)):
            np.matmul(xs[i], Ws[i], out=ys[i])
        for i in reversed(range(len(pairs))):
            np.matmul(xs[i].T, dys[i], out=dWs[i])
            if i:
                np.matmul(dys[i], Ws[i].T, out=dxs[i])

    # A row-major array is the column-major array of its transpose, so sgemm takes each
    # product transposed (C.T = B.T @ A.T), into C.T: views, no copies.
    def scipy_step() -> None:
        for i in range(len(pairs)):            # y.T = W.T @ x.T
            sgemm(1.0, Ws[i].T, xs[i].T, beta=0.0, c=ys[i].T, overwrite_c=True)
        for i in reversed(range(len(pairs))):  # dW.T = dy.T @ x; dx.T = W @ dy.T
            sgemm(1.0, dys[i].T, xs[i].T, trans_b=1, beta=0.0, c=dWs[i].T, overwrite_c=True)
            if i:
                sgemm(1.0, Ws[i].T, dys[i].T, trans_a=1, beta=0.0, c=dxs[i].T,
                      overwrite_c=True)

    step = scipy_step if blas == "scipy" else numpy_step
    step()                                      # the products are right, and in place
    assert np.allclose(ys[0], xs[0] @ Ws[0], rtol=1e-4, atol=1e-3)
    assert np.allclose(dWs[1], xs[1].T @ dys[1], rtol=1e-4, atol=1e-3)
    assert np.allclose(dxs[1], dys[1] @ Ws[1].T, rtol=1e-4, atol=1e-3)
    return step


def _blas_name(which: str) -> str:
    """The OpenBLAS build behind scipy's or NumPy's BLAS, as threadpoolctl reports it."""
    from threadpoolctl import threadpool_info

    folder = "scipy.libs" if which == "scipy" else "numpy.libs"
    for lib in threadpool_info():
        if lib.get("user_api") == "blas" and folder in lib.get("filepath", ""):
            return f"{lib['internal_api']} {lib.get('version')}"
    return "unknown build"


def n_params(widths=W1_LAYERS) -> int:
    """Trainable parameters of W1's model (weights, biases, batch norm's gamma and beta)."""
    model = fastnn.MLP(hidden=HIDDEN, n_classes=widths[-1], seed=0)
    model.build(widths[0])
    return model.n_params


def update_time(ctx: Context, size: int, seed: int = 0) -> dict[int, float]:
    """Seconds per Adam step over ``size`` float32 parameters at each thread count (best of
    interleaved repeats), measured before any GEMM here: NumPy's BLAS threads keep spinning
    for a while after a threaded GEMM and would take a core from fastnn's second thread."""
    rng = np.random.default_rng(seed)
    p, g = (rng.standard_normal(size, dtype=np.float32) for _ in range(2))
    m, v = np.zeros(size, np.float32), np.full(size, 0.5, np.float32)
    time.sleep(0.2)                 # let other pools' spinning threads go to sleep
    runs = {t: timed(lambda t=t: fastnn.ops.adam_update(p, g, m, v, 1e-3, 5, n_threads=t),
                     0.05 if ctx.quick else 0.15) for t in ctx.threads}
    return best(interleave(runs, ctx.repeats(REPEATS)))


def step_time(ctx: Context, batch: int) -> dict[tuple[str, int], float]:
    """Seconds per step through each BLAS ("scipy", "numpy") at each thread count (best of
    interleaved repeats)."""
    runs = {}
    for blas in ("scipy", "numpy"):
        step = gemm_step(batch, blas=blas)
        for t in ctx.threads:
            with threadpool_limits(limits=t, user_api="blas"):
                number = calibrate(step, 0.05 if ctx.quick else 0.15)

            def run(t=t, number=number, step=step) -> float:
                with threadpool_limits(limits=t, user_api="blas"):
                    return time_calls(step, number)
            runs[blas, t] = run
    return best(interleave(runs, ctx.repeats(REPEATS)))


def row(ctx: Context, batch: int, flops: float, updates: dict[int, float],
        table: Table) -> list[Target]:
    """Measure one batch size, add its table row, return its target (batch 512 only)."""
    times, w1 = step_time(ctx, batch), ctx.facts.get("W1", {}).get(batch, {})
    cells, targets = [batch], []
    for t in ctx.threads:
        adam, own = updates[t], times["scipy", t]
        gemm = min(own, times["numpy", t])          # the faster BLAS: the stricter limit
        limit, own_limit = batch / gemm, batch / own
        mine = w1.get(fastnn_key(t))
        frac = ratio(mine, limit)
        cells += [fmt_rate(limit), f"{limit * flops / 1e9:.1f}", fmt_pct(frac),
                  fmt_rate(own_limit), fmt_pct(ratio(mine, own_limit)), fmt_us(adam),
                  fmt_pct(gemm / (gemm + adam))]
        if batch == 512 and t == ctx.head:
            targets.append(Target(f"W1 batch 512 vs GEMM limit ({t}t)",
                                  f"{fmt_rate(mine)} samples/s", f"GEMM limit {fmt_rate(limit)}",
                                  frac, GOAL, fmt_pct(frac), f">= {GOAL:.0%}"))
    table.add(*cells)
    return targets


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    flops = train_flops_per_sample()
    cols = ["batch"]
    for t in ctx.threads:
        cols += [f"GEMM {t}t samples/s", f"GEMM {t}t GFLOP/s", f"fastnn {t}t W1 / limit",
                 f"fastnn's BLAS {t}t samples/s", f"W1 / fastnn's BLAS {t}t",
                 f"Adam update {t}t us", f"ceiling {t}t"]
    table = Table("GEMM limit: W1's GEMMs alone through BLAS (float32)", cols)
    targets = []
    size = n_params()
    updates = update_time(ctx, size)
    for batch in BATCHES:
        targets += row(ctx, batch, flops, updates, table)
    table.notes += [
        f"{flops / 1e6:.2f} MFLOP per sample, into preallocated outputs, transposes passed as "
        "views, through two BLAS builds in the same interleaved repeats (best of "
        f"{ctx.repeats(REPEATS)}): the one fastnn calls, scipy's (scipy.linalg.blas.sgemm, "
        f"{_blas_name('scipy')}: the \"fastnn's BLAS\" columns), and NumPy's (np.matmul, "
        f"{_blas_name('numpy')}). The limit is the faster of the two at each batch and thread "
        "count.",
        "At 2 threads this is BLAS's own thread pool; fastnn instead splits rows across its "
        "OpenMP pool with single-threaded GEMMs.",
        f"Adam update: one step over W1's {size:,} parameters in one flat float32 array "
        "(fastnn.ops.adam_update, its checks included), best of interleaved repeats before "
        "the GEMMs. Ceiling: W1 / limit if everything but the GEMMs and this update were free, "
        "GEMM step / (GEMM step + update). The update costs the same at any batch size; it is "
        "bound by one square root and one division per parameter.",
    ]
    if "W1" not in ctx.facts:
        table.notes.append("W1 was not run: no fastnn fractions.")
    return [table], targets
