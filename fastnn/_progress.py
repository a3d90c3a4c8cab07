"""Live progress: a bar on a terminal, plain lines elsewhere.

On a terminal (``file.isatty()``) a :class:`Display` draws one bar that
redraws in place: tqdm's when tqdm is installed, else a one-line display
of its own (``\\r`` and the line). Anywhere else (a log file, a pipe, a
notebook's captured output) it writes one plain line per step, so logs stay
readable. Lines written with :meth:`Display.write` go above the bar.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Display", "format_duration", "is_terminal"]


def is_terminal(file) -> bool:
    """Whether ``file`` is an interactive terminal."""
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):       # a closed file
        return False


def format_duration(seconds: float | None) -> str:
    """Seconds as ``42s``, ``3m05s`` or ``1h02m``; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _tqdm():
    """tqdm's bar with our status after it, or None without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None

    class Bar(tqdm):
        status = ""

        @property
        def format_dict(self):
            return {**super().format_dict, "status": self.status}

    return Bar


class Display:
    """Progress of ``total`` steps on ``file`` (default standard output).

    Parameters
    ----------
    total : int
        Steps expected.
    desc : str
        A short label in front of the bar.
    file : file-like, optional
        Default ``sys.stdout`` (looked up when the display is made).
    live : bool, optional
        Draw a bar redrawn in place; default: whether ``file`` is a terminal.
    """

    def __init__(self, total: int, desc: str, file=None, live: bool | None = None):
        self.file = sys.stdout if file is None else file
        self.total, self.desc = total, desc
        self.live = is_terminal(self.file) if live is None else live
        self._bar = None
        self._width = 0
        if self.live:
            tqdm = _tqdm()
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=desc, file=self.file, leave=True,
                                 dynamic_ncols=True,
                                 bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {status}")

    def step(self, done: int, status: str, line: str | None = None) -> None:
        """Show ``done`` of ``total`` with ``status``; off a terminal, print ``line`` (or status)."""
        if not self.live:
            print(line if line is not None else status, file=self.file, flush=True)
        elif self._bar is not None:
            self._bar.n, self._bar.status = done, status
            self._bar.refresh()
        else:
            text = f"{self.desc} {done}/{self.total}  {status}"
            pad = max(self._width - len(text), 0)
            self._width = len(text)
            self.file.write("\r" + text + " " * pad)
            self.file.flush()

    def write(self, line: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self._bar is not None:
            self._bar.write(line, file=self.file)
        elif self.live and self._width:
            self.file.write("\r" + line.ljust(self._width) + "\n")
            self._width = 0
            self.file.flush()
        else:
            print(line, file=self.file, flush=True)

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.live and self._width:
            self.file.write("\n")
            self.file.flush()
            self._width = 0


class Clock:
    """Elapsed time and a naive ETA: time per step so far times the steps left."""

    def __init__(self):
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def eta(self, done: int, total: int) -> float | None:
        if done <= 0:
            return None
        return self.elapsed() / done * max(total - done, 0)
