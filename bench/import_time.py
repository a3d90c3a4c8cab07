"""Import time: wall time of ``python -c "import X"`` minus ``python -c "pass"``.

Each figure is the minimum over several fresh interpreters, run interleaved.
"""

from __future__ import annotations

import subprocess
import sys
import time

from context import Context
from report import Table, Target
from timing import best, interleave

GOAL = 0.5  # seconds for import fastnn
REPEATS = 5  # interleaved repeats in a full run


def wall(code: str) -> float:
    """Seconds a fresh interpreter takes to run ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    codes = {"pass": "pass", "numpy": "import numpy", "fastnn": "import fastnn"}
    if ctx.torch is not None:
        codes["torch"] = "import torch"
    times = best(interleave({k: (lambda c=c: wall(c)) for k, c in codes.items()},
                            ctx.repeats(REPEATS)))
    base = times.pop("pass")
    table = Table("Import time (seconds, interpreter start-up subtracted)", ["module", "import s"])
    for name, t in times.items():
        table.add(f"import {name}", f"{t - base:.3f}")
    table.notes.append(f"Minimum of {ctx.repeats(REPEATS)} interleaved fresh interpreters each; "
                       f"`python -c pass` took {base:.3f} s.")
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: no torch row.")
    mine = times["fastnn"] - base
    torch_s = f"import torch {times['torch'] - base:.2f} s" if "torch" in times else "n/a"
    return [table], [Target("import fastnn", f"{mine:.3f} s", torch_s, mine, GOAL,
                            f"{mine:.3f} s", f"< {GOAL} s", lower_is_better=True)]
