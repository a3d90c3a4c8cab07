"""Headless Chromium for the tests that look at HTML pages as a reader's browser draws them.

Without Chromium on PATH those tests are skipped, with a reason that says how to get it;
with FASTNN_REQUIRE_CHROMIUM=1 in the environment (.ci/run sets it) they fail instead, so
that a run meant to check the pages cannot pass without looking at them.
"""

import os
import shutil
import subprocess

import pytest

REQUIRE = "FASTNN_REQUIRE_CHROMIUM"
HOW = ("headless Chromium is not on PATH (as chromium or chromium-browser): install it, "
       "e.g. apt-get install chromium on Debian or Ubuntu")


def chromium() -> str:
    """The Chromium executable; skips the calling test without one (fails if required)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get(REQUIRE, "").strip() not in ("", "0"):
            pytest.fail(f"{HOW} ({REQUIRE} is set, so these tests must run)")
        pytest.skip(f"{HOW}; {REQUIRE}=1 makes this a failure")
    return found


def screenshot(page_path, png_path, width: int = 1200, height: int = 900) -> None:
    """``page_path`` (an HTML file) drawn by headless Chromium into ``png_path``."""
    profile = os.path.join(os.path.dirname(os.fspath(png_path)), "chromium-profile")
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--hide-scrollbars", "--force-device-scale-factor=1", f"--window-size={width},{height}",
         f"--screenshot={os.fspath(png_path)}", f"file://{os.path.abspath(page_path)}"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and os.path.getsize(png_path) > 0, proc.stderr[-2000:]
