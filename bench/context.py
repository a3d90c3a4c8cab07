"""What every workload gets: the run's settings and PyTorch, if it is there."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def load_torch():
    """``torch``, imported now (not at module import), or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class Context:
    """Settings of one benchmark run.

    ``threads`` are fastnn's thread counts; the headline ratios use the
    largest (``head``). PyTorch runs at 1 and 2 threads (capped at the
    cores) and its best counts. ``facts`` carries figures from one
    workload to a later one (W1's samples/s to the GEMM limit).
    """

    quick: bool = False
    threads: tuple[int, ...] = (1, 2)
    torch: object = None
    facts: dict = field(default_factory=dict)

    @property
    def head(self) -> int:
        return max(self.threads)

    @property
    def torch_threads(self) -> tuple[int, ...]:
        return tuple(t for t in (1, 2) if t <= max(cores(), 1)) or (1,)

    def repeats(self, full: int, quick: int = 2) -> int:
        """Repeats for a measurement: ``full``, or ``quick`` (2) in a quick run."""
        return quick if self.quick else full

    def set_torch_threads(self, n_threads: int) -> None:
        if self.torch.get_num_threads() != n_threads:
            self.torch.set_num_threads(n_threads)

    def keys(self) -> list[str]:
        """Candidate names: fastnn at each thread count, then PyTorch's (if installed)."""
        keys = [fastnn_key(t) for t in self.threads]
        if self.torch is not None:
            keys += [torch_key(t) for t in self.torch_threads]
        return keys

    def torch_best(self, figures: dict, lower_is_better: bool = False) -> float | None:
        """PyTorch's best figure over its thread counts (None without PyTorch)."""
        if self.torch is None:
            return None
        mine = [figures[torch_key(t)] for t in self.torch_threads]
        return min(mine) if lower_is_better else max(mine)


def fastnn_key(n_threads: int) -> str:
    return f"fastnn {n_threads}t"


def torch_key(n_threads: int) -> str:
    return f"torch {n_threads}t"
