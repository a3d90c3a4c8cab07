"""Where W1's training step spends its time: `perf` samples sorted into the step's parts.

Usage::

    python bench/profile_w1.py --batch 32,512 --threads 1 --seconds 10
    /other/checkout/.venv/bin/python bench/profile_w1.py ...   # profiles that install

For each batch size, the W1 model (784-512-256-10, BN + ReLU, Adam, float32,
as ``bench/w1_training.py`` builds it) is made and warmed up by one epoch;
then ``perf record`` attaches to this process for whole epochs only (set-up,
data and the warm-up are left out) and its samples (``cpu-clock``: CPU time
of every thread, so it counts only while the process runs, which a busy
machine disturbs less than wall time) are sorted by symbol into the parts
of a step: the GEMMs (the BLAS, with the zeroing of C it does through
libc), the optimizer update, batch norm forward and backward, the
activations, the loss, the dense layers' own loops (bias, column sums), the
batch gather (the epoch loop and its row copies), OpenMP's fork, join and
waiting, and the rest. Each part is printed as its share of the samples
and as CPU microseconds per step (summed over threads); ``outside GEMMs``
is everything else the step costs. Needs ``perf`` (Linux) allowed to read
its own processes (``kernel.perf_event_paranoid`` <= 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import fastnn
from w1_training import HIDDEN, data, steps
from context import Context

# (part, test on "dso symbol"), first match wins; a libc copy or fill goes to its caller's part
PARTS = [
    ("GEMMs (BLAS)", lambda d, s: ("openblas" in d or "mkl" in d) and "thread_server" not in s),
    ("BLAS threads waiting", lambda d, s: "thread_server" in s),
    ("optimizer update", lambda d, s: "_optim_" in s),
    ("batch norm forward", lambda d, s: "_batchnorm_" in s and ("forward" in s or "moments" in s
                                                                 or "normalize" in s)),
    ("batch norm backward", lambda d, s: "_batchnorm_" in s),
    ("activations", lambda d, s: "_activations_" in s),
    ("loss (softmax)", lambda d, s: "_softmax_" in s),
    ("dense (bias, column sums)", lambda d, s: "_dense_" in s or "_blas_" in s),
    ("batch gather, epoch loop", lambda d, s: "_network_" in s),
    ("OpenMP fork, join, waiting", lambda d, s: "gomp" in d),
    ("kernel", lambda d, s: "kernel" in d),
]
OTHER = "Python, other"
GEMM = PARTS[0][0]


def part_of(dso: str, sym: str) -> str:
    for name, test in PARTS:
        if test(dso, sym):
            return name
    return OTHER


def attribute(script: str, main_tid: int) -> tuple[Counter, Counter, Counter]:
    """Samples per part (all threads, and the main thread alone) and per (part, symbol), from
    ``perf script`` output (callchains: a libc sample counts for the first caller outside
    libc)."""
    counts: Counter = Counter()
    main: Counter = Counter()
    symbols: Counter = Counter()
    for sample in script.split("\n\n"):
        lines = [line for line in sample.splitlines() if line.strip()]
        if not lines or lines[0].startswith("\t"):
            continue
        tid = int(lines[0].split()[0])
        frames = [line.split(None, 1)[1] for line in lines[1:]
                  if line.startswith("\t") and len(line.split(None, 1)) == 2]
        part, sym = OTHER, frames[0] if frames else "[unknown]"
        for frame in frames:
            # "sym (dso)"
            name, _, dso = frame.rpartition(" (")
            if "libc.so" in dso or "libc-" in dso or name.startswith(("__mem", "mem")):
                continue
            part, sym = part_of(dso, name), name
            break
        counts[part] += 1
        symbols[part, sym] += 1
        if tid == main_tid:
            main[part] += 1
    return counts, main, symbols


def profile(batch: int, n_threads: int, seconds: float, freq: int, callgraph: bool) -> dict:
    ctx = Context(quick=False)
    n = batch * steps(ctx, batch)
    X, y = data(n)
    model = fastnn.MLP(hidden=HIDDEN, n_classes=10, seed=0, n_threads=n_threads)
    model.fit(X, y, epochs=1, batch_size=batch, shuffle=True, optimizer=fastnn.Adam(lr=1e-3))
    start = time.perf_counter()
    model.fit(X, y, epochs=1, batch_size=batch, shuffle=True)
    epochs = max(1, round(seconds / (time.perf_counter() - start)))
    out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
    cmd = ["perf", "record", "-q", "-F", str(freq), "-p", str(os.getpid()), "-o", out]
    perf = subprocess.Popen(cmd + (["--call-graph", "dwarf,4096"] if callgraph else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)                       # perf attaches to every thread first
    if perf.poll() is not None:
        raise SystemExit(f"perf record failed: {perf.stderr.read().strip()}")
    start = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=batch, shuffle=True)
    wall = time.perf_counter() - start
    perf.send_signal(signal.SIGINT)
    perf.wait()
    script = subprocess.run(["perf", "script", "-i", out, "-F", "tid,ip,sym,dso"], text=True,
                            capture_output=True, check=True).stdout
    os.unlink(out)
    counts, main, symbols = attribute(script, threading.get_native_id())
    n_steps = epochs * (n // batch)
    return {"counts": counts, "main": main, "symbols": symbols, "steps": n_steps, "wall_us": wall / n_steps * 1e6,
            "freq": freq, "epochs": epochs}


def report(batch: int, n_threads: int, r: dict, top: int = 0) -> str:
    counts, main, total = r["counts"], r["main"], sum(r["counts"].values())
    us = lambda c: c / r["freq"] / r["steps"] * 1e6  # noqa: E731
    lines = [f"### batch {batch}, {n_threads} thread(s): {r['steps']} steps in {r['epochs']} "
             f"epochs, {r['wall_us']:,.0f} us/step wall, {us(total):,.0f} CPU us/step "
             f"({total} samples at {r['freq']} Hz)", "",
             "| part | share | CPU us/step, all threads | main thread us/step |",
             "| --- | --- | --- | --- |"]
    for name in [p for p, _ in PARTS] + [OTHER]:
        if counts[name]:
            lines.append(f"| {name} | {counts[name] / total:.1%} | {us(counts[name]):,.1f} | "
                         f"{us(main[name]):,.1f} |")
    outside, main_outside = total - counts[GEMM], sum(main.values()) - main[GEMM]
    lines.append(f"| **outside GEMMs** | {outside / total:.1%} | {us(outside):,.1f} | "
                 f"{us(main_outside):,.1f} |")
    lines.append(f"| all | 100% | {us(total):,.1f} | {us(sum(main.values())):,.1f} |")
    if top:
        lines += ["", f"The {top} symbols outside the GEMMs with the most samples:", "",
                  "| part | symbol | share |", "| --- | --- | --- |"]
        ranked = [(c, key) for key, c in r["symbols"].items() if key[0] != GEMM]
        for c, (part, sym) in sorted(ranked, reverse=True)[:top]:
            lines.append(f"| {part} | `{sym[:90]}` | {c / total:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", default="32,512", help="batch sizes, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0, help="profiled seconds per batch size")
    p.add_argument("--top", type=int, default=0,
                   help="also list this many symbols outside the GEMMs, most samples first")
    p.add_argument("--freq", type=int, default=1999, help="samples per second per thread")
    args = p.parse_args(argv)
    if shutil.which("perf") is None:
        raise SystemExit("profile_w1.py needs perf (linux-tools) on the PATH")
    print(f"fastnn {fastnn.__version__} from {os.path.dirname(fastnn.__file__)}\n")
    for batch in (int(b) for b in args.batch.split(",")):
        r = profile(batch, args.threads, args.seconds, args.freq, callgraph=True)
        print(report(batch, args.threads, r, args.top), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
