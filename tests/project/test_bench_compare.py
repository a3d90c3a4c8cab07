"""bench/compare.py: a failing workload is reported and the others still run; W4 has
onnxruntime as a candidate; the import-time workload imports the installed package,
not a source tree beside the script."""

import os
import shutil
import subprocess
import sys

import pytest

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")


@pytest.mark.usefixtures("in_process")
def test_a_failing_workload_is_reported_and_the_others_still_run(tmp_path, capsys):
    # IMPORT is replaced by a workload module that raises; W4 runs for real. In this
    # process (onnx and onnxruntime are loaded already): the fixture forgets compare
    # and its patched MODULES afterwards.
    (tmp_path / "failing_workload.py").write_text(
        "def run(ctx):\n    raise RuntimeError('the machine | caught fire')\n")
    out = tmp_path / "report.md"
    sys.path[:0] = [BENCH, str(tmp_path)]
    import compare

    compare.MODULES["IMPORT"] = "failing_workload"
    status = compare.main(["--quick", "--no-torch", "--threads", "1",
                           "--workloads", "IMPORT,W4", "--out", str(out)])
    proc = capsys.readouterr()
    assert status == 1, proc.err
    text = proc.out
    assert out.read_text().strip() == text.strip()
    assert "### Failed workloads" in text
    assert "| IMPORT | `RuntimeError: the machine / caught fire` |" in text
    assert "RuntimeError: the machine | caught fire" in proc.err     # the traceback
    # W4 ran after the failure, with onnxruntime next to fastnn and its ratios in the headline
    assert "### W4: prediction" in text
    assert "| onnxruntime 1t |" in text
    assert "| W4 vs onnxruntime: one-sample latency (fastnn / onnxruntime) |" in text
    assert "| W4 vs onnxruntime: 10,000-sample throughput (fastnn / onnxruntime) |" in text


def test_import_time_imports_the_installed_fastnn_not_the_tree_beside_it(tmp_path):
    # a checkout whose source tree holds a fastnn that cannot be imported (as after
    # `pip install .`, whose compiled kernels are in site-packages, not in the tree)
    checkout = tmp_path / "checkout"
    shutil.copytree(BENCH, checkout / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "fastnn").mkdir()
    (checkout / "fastnn" / "__init__.py").write_text("raise ImportError('the source tree')\n")
    code = "import sys; sys.path.insert(0, 'bench'); import import_time; " \
           "print(import_time.imported_from()); import_time.wall('import fastnn')"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == fastnn.__file__
    # the tree would have been imported by a child started the plain way
    plain = subprocess.run([sys.executable, "-c", "import fastnn"], cwd=checkout, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "the source tree" in plain.stderr
