"""Smoke test of the benchmark driver: a quick W3 run prints a markdown table.

PyTorch is optional: without it the torch columns are skipped with a note.
The script runs as ``__main__`` in this process (the ``in_process`` fixture):
the session has NumPy, fastnn and PyTorch loaded already.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "compare.py")


def test_compare_quick_w3_prints_a_table(tmp_path, capsys, in_process):
    out = tmp_path / "w3.md"
    status = in_process(SCRIPT, ["--quick", "--workloads", "W3", "--out", out])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    text = captured.out
    assert "### Headline: targets" in text
    assert "### W3: kernels" in text
    assert "| bn forward (training) | 8192x1024 |" in text
    assert "| softmax + CE (loss + grad) | 256x10 |" in text
    assert out.read_text().strip() == text.strip()
