"""The machine a benchmark ran on: CPU, cores, BLAS, OpenMP, PyTorch, Python."""

from __future__ import annotations

import os
import platform
import subprocess

import numpy as np

import fastnn
from context import cores


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo or lscpu."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on a shared machine skews timings)."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def blas_text(libs: list[dict]) -> str:
    return "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, "
                     f"{b['threading_layer']})" for b in libs) or "unknown"


def describe(torch=None) -> list[str]:
    """Lines describing this machine and software."""
    cfg = fastnn.config()
    lines = [
        f"CPU: {cpu_model()}, {cores()} cores available",
        f"fastnn {cfg['version']}: OpenMP {'on' if cfg['openmp'] else 'off'}, "
        f"default {cfg['n_threads']} threads; BLAS {cfg['blas_backend']} "
        f"({cfg['blas_choice']}): {blas_text(cfg['blas'])}",
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        f"Load average at the start (1, 5, 15 min): {load_average()}",
    ]
    if torch is None:
        lines.append("PyTorch: not installed")
    else:
        lines.append(f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads by "
                     f"default, {torch.get_num_interop_threads()} inter-op threads, "
                     f"MKL {'yes' if torch.backends.mkl.is_available() else 'no'}")
    return lines
