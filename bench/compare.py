"""Compare fastnn with PyTorch (CPU) and the NumPy reference; print a markdown report.

Usage::

    python bench/compare.py                          # all but W8 (several minutes)
    python bench/compare.py --workloads W1,W3 --threads 1,2 --out bench/RESULTS.md
    python bench/compare.py --quick --workloads W3   # smoke run

Workloads: W1 training throughput (784-512-256-10), GEMM its GEMM limit,
W2 digits training and accuracy, W3 kernels, W4 prediction, W5 search,
W6 a shared machine (busy neighbours, NumPy BLAS before), W7 the scikit-learn drop-in
against scikit-learn, IMPORT import time, W8 search quality against Optuna (hours: it
runs only when named, ``--workloads W8``; see bench/search_quality.py, whose runs it
caches). See bench/README.md.

A workload that fails does not stop the run: its error goes into the report
(a table of failed workloads under the headline), the others run, and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from context import Context, load_torch  # noqa: E402
from machine import describe, load_average  # noqa: E402
from report import Table, Target, targets_table  # noqa: E402

WORKLOADS = ("W1", "GEMM", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "IMPORT")
DEFAULT = tuple(w for w in WORKLOADS if w != "W8")     # W8 takes hours: only when named
MODULES = {"W1": "w1_training", "GEMM": "gemm_limit", "W2": "w2_digits", "W3": "w3_kernels",
           "W4": "w4_predict", "W5": "w5_search", "W6": "w6_shared", "W7": "w7_sklearn",
           "W8": "search_quality", "IMPORT": "import_time"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default=",".join(DEFAULT),
                   help=f"comma-separated, from {','.join(WORKLOADS)} (default: all but W8)")
    p.add_argument("--threads", default="1,2",
                   help="fastnn thread counts (default 1,2); the largest makes the headline")
    p.add_argument("--quick", action="store_true", help="short smoke run (numbers are rough)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--out", help="also write the report to this markdown file")
    args = p.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown or not args.workloads:
        p.error(f"unknown workloads {unknown}; choose from {','.join(WORKLOADS)}")
    try:
        args.threads = tuple(sorted({int(t) for t in args.threads.split(",")}))
    except ValueError:
        p.error(f"--threads must be comma-separated integers; got {args.threads!r}")
    if min(args.threads) < 1:
        p.error("--threads must be positive integers")
    return args


def header(ctx: Context, argv: list[str], machine: list[str], seconds: float) -> str:
    quick = " (quick run: rough numbers)" if ctx.quick else ""
    lines = ["# fastnn benchmark", "",
             f"Command: `{' '.join(['python bench/compare.py'] + argv)}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M')}, run time {seconds:.0f} s{quick}", ""]
    lines += [f"- {line}" for line in machine + [f"Load average at the end: {load_average()}"]]
    if ctx.torch is None:
        lines.append("- PyTorch columns skipped (not installed, or --no-torch).")
    return "\n".join(lines) + "\n"


def run_workloads(ctx: Context, names: list[str]) -> tuple[list[Table], list[Target], Table]:
    """Run the named workloads in the canonical order; collect tables, targets and a table
    of the workloads that failed (each with its error; the others still run)."""
    import importlib

    tables, targets = [], []
    failed = Table("Failed workloads", ["workload", "error", "after s"])
    for name in (w for w in WORKLOADS if w in names):
        print(f"[compare] running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            more_tables, more_targets = importlib.import_module(MODULES[name]).run(ctx)
        except Exception as exc:     # one workload's failure must not lose the others
            traceback.print_exc(file=sys.stderr)
            message = " ".join(f"{type(exc).__name__}: {exc}".split()).replace("|", "/")
            failed.add(name, f"`{message[:300]}`", f"{time.perf_counter() - start:.0f}")
            print(f"[compare] {name} FAILED", file=sys.stderr, flush=True)
            continue
        print(f"[compare] {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
        tables += more_tables
        targets += more_targets
    if failed.rows:
        failed.notes.append("The traceback of each is on standard error; the run exits 1.")
    return tables, targets, failed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch = None if args.no_torch else load_torch()
    ctx = Context(quick=args.quick, threads=args.threads, torch=torch)
    machine = describe(torch)          # before torch's thread count is changed
    if os.getloadavg()[0] > 0.5:
        print(f"[compare] warning: load average {load_average()}: other work is running, "
              "multi-threaded figures will suffer", file=sys.stderr)
    start = time.perf_counter()
    tables, targets, failed = run_workloads(ctx, args.workloads)
    parts = [header(ctx, argv, machine, time.perf_counter() - start),
             targets_table(targets).markdown()]
    parts += [failed.markdown()] if failed.rows else []
    parts += [t.markdown() for t in tables]
    text = "\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 1 if failed.rows else 0


if __name__ == "__main__":
    sys.exit(main())
