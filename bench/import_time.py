"""Import time: wall time of ``python -c "import X"`` minus ``python -c "pass"``.

Each figure is the minimum over several fresh interpreters, run interleaved.
They run outside the checkout (a temporary working directory, the checkout
taken out of ``PYTHONPATH``), so ``import fastnn`` times the installed
package, not the source tree beside this script: the same thing when fastnn
is installed with ``pip install -e .``, not the same after ``pip install .``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from context import Context
from report import Table, Target
from timing import best, interleave

GOAL = 0.5  # seconds for import fastnn
REPEATS = 5  # interleaved repeats in a full run
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def outside_checkout() -> dict:
    """``subprocess.run`` arguments that keep the checkout off a child's ``sys.path``: a
    working directory outside it, and ``PYTHONPATH`` without it."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and os.path.realpath(p) != os.path.realpath(CHECKOUT)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return {"cwd": tempfile.gettempdir(), "env": env}


def wall(code: str) -> float:
    """Seconds a fresh interpreter, started outside the checkout, takes to run ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, **outside_checkout())
    return time.perf_counter() - start


def imported_from() -> str:
    """Where a fresh interpreter outside the checkout finds fastnn."""
    return subprocess.run([sys.executable, "-c", "import fastnn; print(fastnn.__file__)"],
                          check=True, capture_output=True, text=True,
                          **outside_checkout()).stdout.strip()


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
    table.notes.append(f"fastnn imported from `{imported_from()}` (run outside the checkout).")
    if ctx.torch is None:
        table.notes.append("PyTorch is not installed: no torch row.")
    mine = times["fastnn"] - base
    torch_s = f"import torch {times['torch'] - base:.2f} s" if "torch" in times else "n/a"
    return [table], [Target("import fastnn", f"{mine:.3f} s", torch_s, mine, GOAL,
                            f"{mine:.3f} s", f"< {GOAL} s", lower_is_better=True)]
