"""Before and after: the same workloads of compare.py on two fastnn installs, alternated.

Usage::

    python bench/ab.py --before /path/to/old/.venv/bin/python --before-dir /path/to/old \\
        --after .venv/bin/python --rounds 4 --workloads W1,W2,W4

Each round runs ``bench/compare.py --no-torch --workloads ...`` once with
each interpreter (each from its own checkout, so each measures its own
fastnn), alternating which goes first. The figures of each table cell are
taken as the median over the rounds; the report gives before, after and
after / before for every cell (for latencies, lower is better).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(python: str, checkout: str, workloads: str, quick: bool = False) -> str:
    cmd = [python, os.path.join(checkout, "bench", "compare.py"), "--no-torch",
           "--workloads", workloads] + (["--quick"] if quick else [])
    return subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, check=True).stdout


def cells(report: str) -> dict[tuple[str, str, str], float]:
    """(section, row, column) -> number, for every numeric cell of the per-workload tables."""
    out, section, header = {}, None, None
    for line in report.splitlines():
        if line.startswith("### "):
            section, header = line[4:].split(":")[0], None
            continue
        if section is None or section.startswith("Headline") or not line.startswith("|"):
            continue
        parts = [p.strip() for p in line.strip("|").split("|")]
        if header is None:
            header = parts
            continue
        if set(parts[0]) <= {"-", " "}:
            continue
        for name, value in zip(header[1:], parts[1:]):
            number = re.fullmatch(r"[\d,]+(\.\d+)?", value)
            if number and " / " not in name and "GFLOP" not in name:
                out[(section, parts[0], name)] = float(value.replace(",", ""))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="python of the 'before' install")
    p.add_argument("--before-dir", required=True, help="its checkout (for its bench/compare.py)")
    p.add_argument("--after", default=sys.executable, help="python of the 'after' install")
    p.add_argument("--after-dir", default=ROOT)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--workloads", default="W1,W2,W4")
    p.add_argument("--quick", action="store_true",
                   help="compare.py's short smoke run: proves the set-up, numbers are rough")
    args = p.parse_args(argv)
    runs = {"before": [], "after": []}
    start = time.time()
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for side in order:
            python, checkout = ((args.before, args.before_dir) if side == "before"
                                else (args.after, args.after_dir))
            runs[side].append(cells(run(python, checkout, args.workloads, args.quick)))
            print(f"[ab] round {r + 1}/{args.rounds} {side} done", file=sys.stderr, flush=True)
    keys = [k for k in runs["after"][0] if all(k in c for c in runs["before"] + runs["after"])]
    quick = " --quick" if args.quick else ""
    print(f"Command: `python bench/ab.py --rounds {args.rounds} --workloads {args.workloads}"
          f"{quick}`"
          f" ({time.time() - start:.0f} s); median of {args.rounds} alternated runs each\n")
    print("| workload | row | column | before | after | after / before |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key in keys:
        before = statistics.median(c[key] for c in runs["before"])
        after = statistics.median(c[key] for c in runs["after"])
        fmt = (lambda v: f"{v:.4f}") if max(before, after) < 10 else (lambda v: f"{v:,.1f}")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(before)} | {fmt(after)} | "
              f"{after / before:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
