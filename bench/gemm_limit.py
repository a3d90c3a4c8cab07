"""GEMM limit: W1's training-step GEMMs alone, through each BLAS backend (float32).

Per layer ``(n_in, n_out)`` and batch ``b``: forward ``x @ W`` (b, n_in) @
(n_in, n_out); backward ``dW = x.T @ dy`` and, except for the first layer
(its input needs no gradient), ``dx = dy @ W.T``. Run into preallocated
outputs in fastnn's own scheme, timed in C (``fastnn._kernels._blas.gemm_step``:
the calls a Dense layer makes, each GEMM cut into blocks by shape, each
block a single-threaded BLAS call on one of fastnn's OpenMP threads, BLAS
held at one thread), through every BLAS backend installed here (OpenBLAS,
and MKL when its extra is installed; ``FASTNN_BLAS``). The time of one step
through a backend gives samples/s (batch / time): what a training step would
reach if everything but its GEMMs were free. The limit is the fastest
backend's; W1 (run through the backend in use) is shown against it.

Beside it, Adam's update of W1's parameters (one flat float32 array, as a
model holds them, through ``fastnn.ops.adam_update``): its cost does not
depend on the batch size, so at a small batch it bounds W1 on its own. The
"ceiling" is the samples/s a step would reach if everything but the GEMMs
(through the backend in use) and that update were free:
batch / (GEMM step + update); "W1 / ceiling" the fraction W1 reaches.
"""

from __future__ import annotations

import numpy as np

import fastnn
from context import Context, fastnn_key
from fastnn._kernels import _backends, _blas
from fastnn._threads import blas_held
from report import Table, Target, fmt_pct, fmt_rate, fmt_us, ratio
from timing import best, interleave, timed
from w1_training import BATCHES, HIDDEN, W1_LAYERS, train_flops_per_sample

GOAL = 0.70  # fastnn's W1 at batch 512 / the GEMM limit
REPEATS = 9  # interleaved repeats in a full run
BACKENDS = ("openblas", "mkl")


def backends() -> list[str]:
    """The BLAS backends that load here, the one in use first."""
    in_use = _backends.select().name
    found = [in_use]
    for name in BACKENDS:
        if name != in_use:
            try:
                _backends.load(name)
            except ImportError:
                continue
            found.append(name)
    return found


def gemm_step(batch: int, widths=W1_LAYERS, seed: int = 0, backend: str | None = None,
              n_threads: int = 1, inner: int | None = None):
    """A function running one training step's GEMMs on preallocated float32 arrays in
    fastnn's block scheme on ``n_threads`` threads, through ``backend`` ("openblas", "mkl";
    None: the one in use), ``inner`` steps a call (default: about 4,096 samples' worth;
    ``step.inner`` says how many). Call it with BLAS held at one thread
    (fastnn._threads.blas_held); it binds its backend on each call, so steps through several
    backends interleave, and the caller binds the one in use again after
    (:func:`restore`)."""
    lib = _backends.load(backend) if backend else _backends.select()
    rng = np.random.default_rng(seed)
    rand = lambda *shape: rng.standard_normal(shape, dtype=np.float32)  # noqa: E731
    pairs = list(zip(widths[:-1], widths[1:]))
    xs = [rand(batch, a) for a, _ in pairs]
    Ws = [rand(a, b) for a, b in pairs]
    ys = [np.empty((batch, b), np.float32) for _, b in pairs]
    dys = [rand(batch, b) for _, b in pairs]
    dWs = [np.empty_like(W) for W in Ws]
    dxs = [np.empty_like(x) for x in xs]

    inner = inner or max(1, 4096 // batch)

    def step() -> None:
        _backends.bind(lib)
        _blas.gemm_step(xs, Ws, ys, dys, dWs, dxs, n_threads, inner)
    step.inner = inner

    with blas_held:
        _backends.bind(lib)                     # the products are right, and in place
        _blas.gemm_step(xs, Ws, ys, dys, dWs, dxs, n_threads, 1)
    restore()
    assert np.allclose(ys[0], xs[0] @ Ws[0], rtol=1e-4, atol=1e-3)
    assert np.allclose(dWs[1], xs[1].T @ dys[1], rtol=1e-4, atol=1e-3)
    assert np.allclose(dxs[1], dys[1] @ Ws[1].T, rtol=1e-4, atol=1e-3)
    return step


def restore() -> None:
    """Bind the backend FASTNN_BLAS chose again (after steps through others)."""
    _backends.bind(_backends.select())


def n_params(widths=W1_LAYERS) -> int:
    """Trainable parameters of W1's model (weights, biases, batch norm's gamma and beta)."""
    model = fastnn.MLP(hidden=HIDDEN, n_classes=widths[-1], seed=0)
    model.build(widths[0])
    return model.n_params


def update_time(ctx: Context, size: int, seed: int = 0) -> dict[int, float]:
    """Seconds per Adam step over ``size`` float32 parameters at each thread count (best of
    interleaved repeats)."""
    rng = np.random.default_rng(seed)
    p, g = (rng.standard_normal(size, dtype=np.float32) for _ in range(2))
    m, v = np.zeros(size, np.float32), np.full(size, 0.5, np.float32)
    runs = {t: timed(lambda t=t: fastnn.ops.adam_update(p, g, m, v, 1e-3, 5, n_threads=t),
                     0.05 if ctx.quick else 0.15) for t in ctx.threads}
    return best(interleave(runs, ctx.repeats(REPEATS)))


def step_time(ctx: Context, batch: int, names: list[str]) -> dict[tuple[str, int], float]:
    """Seconds per step through each backend at each thread count (best of interleaved
    repeats)."""
    runs, inner = {}, {}
    try:
        with blas_held:
            for name in names:
                for t in ctx.threads:
                    step = gemm_step(batch, backend=name, n_threads=t)
                    runs[name, t] = timed(step, 0.05 if ctx.quick else 0.15)
                    inner[name, t] = step.inner
            per_call = best(interleave(runs, ctx.repeats(REPEATS)))
            return {key: seconds / inner[key] for key, seconds in per_call.items()}
    finally:
        restore()


def row(ctx: Context, batch: int, flops: float, names: list[str], updates: dict[int, float],
        table: Table) -> list[Target]:
    """Measure one batch size, add its table row, return its target (batch 512 only)."""
    times, w1 = step_time(ctx, batch, names), ctx.facts.get("W1", {}).get(batch, {})
    cells, targets = [batch], []
    for t in ctx.threads:
        adam, in_use = updates[t], times[names[0], t]
        fastest = min(times[name, t] for name in names)
        limit, ceiling = batch / fastest, batch / (in_use + adam)
        mine = w1.get(fastnn_key(t))
        frac = ratio(mine, limit)
        cells += [fmt_rate(batch / times[name, t]) for name in names]
        cells += [f"{limit * flops / 1e9:.1f}", fmt_pct(frac), fmt_us(adam), fmt_rate(ceiling),
                  fmt_pct(ratio(mine, ceiling))]
        if batch == 512 and t == ctx.head:
            targets.append(Target(f"W1 batch 512 vs GEMM limit ({t}t)",
                                  f"{fmt_rate(mine)} samples/s", f"GEMM limit {fmt_rate(limit)}",
                                  frac, GOAL, fmt_pct(frac), f">= {GOAL:.0%}"))
    table.add(*cells)
    return targets


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    flops = train_flops_per_sample()
    names = backends()
    cols = ["batch"]
    for t in ctx.threads:
        cols += [f"{name} {t}t samples/s" for name in names]
        cols += [f"fastest {t}t GFLOP/s", f"W1 / fastest {t}t", f"Adam update {t}t us",
                 f"ceiling {t}t samples/s", f"W1 / ceiling {t}t"]
    table = Table("GEMM limit: W1's GEMMs alone, through each BLAS backend (float32)", cols)
    targets = []
    size = n_params()
    updates = update_time(ctx, size)
    for batch in BATCHES:
        targets += row(ctx, batch, flops, names, updates, table)
    libs = ", ".join(f"{name} {_backends.load(name).version}" for name in names)
    table.notes += [
        f"{flops / 1e6:.2f} MFLOP per sample, into preallocated outputs, in fastnn's block "
        "scheme (fastnn._kernels._blas.gemm_step: each GEMM cut into blocks by shape, each a "
        "single-threaded BLAS call on one of fastnn's OpenMP threads), timed in C, through "
        f"each backend that loads here ({libs}) in the same interleaved repeats (best of "
        f"{ctx.repeats(REPEATS)}). W1 runs through the backend in use, {names[0]} "
        f"({_backends.reason}); the limit is the fastest backend at each batch and thread "
        "count.",
        f"Adam update: one step over W1's {size:,} parameters in one flat float32 array "
        "(fastnn.ops.adam_update, its checks included), best of interleaved repeats. "
        "Ceiling: batch / (GEMM step through the backend in use + update), what W1 would "
        "reach if everything else were free. The update costs the same at any batch size.",
    ]
    if len(names) == 1:
        table.notes.append("MKL is not installed here (pip install mkl): one backend.")
    if "W1" not in ctx.facts:
        table.notes.append("W1 was not run: no fastnn fractions.")
    return [table], targets
