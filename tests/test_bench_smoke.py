"""Smoke test of the benchmark driver: a quick W3 run prints a markdown table.

PyTorch is optional: without it the torch columns are skipped with a note.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "compare.py")


def test_compare_quick_w3_prints_a_table(tmp_path):
    out = tmp_path / "w3.md"
    proc = subprocess.run([sys.executable, SCRIPT, "--quick", "--workloads", "W3",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "### Headline: targets" in text
    assert "### W3: kernels" in text
    assert "| bn forward (training) | 8192x1024 |" in text
    assert "| softmax + CE (loss + grad) | 256x10 |" in text
    assert out.read_text().strip() == text.strip()
