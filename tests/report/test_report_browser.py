"""The HTML reports, rendered in headless Chromium (see _browser.py: skipped without it,
unless FASTNN_REQUIRE_CHROMIUM=1, which .ci/run sets).

A copy of each page gets a probe script first in its head: it records
errors and console.error calls, and at load writes into the page each
figure's rendered size and the resources the page fetched. Chromium dumps
the rendered DOM; the test reads the probe's record from it.
"""

import html
import json
import re
import subprocess

import numpy as np
import pytest

import fastnn
from fastnn import plot
from fastnn.cli import main as cli_main
from fastnn.datasets import load_digits
from fastnn.search import Babysitter

from _browser import chromium, screenshot
from _plot_study import make_study, objective

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push("error: " + e.message));
const __error = console.error;
console.error = (...a) => { window.__errors.push("console: " + a.join(" ")); __error(...a); };
window.addEventListener("load", () => {
  const sizes = [...document.querySelectorAll("figure svg")].map(s => {
    const r = s.getBoundingClientRect();
    return [s.parentNode.id, r.width, r.height, r.left + window.scrollX, r.top + window.scrollY,
            s.querySelectorAll("title").length];
  });
  const fetched = performance.getEntriesByType("resource").map(r => r.name);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({sizes, fetched, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _render(page: str, tmp_path):
    """The probe's record and Chromium's console lines for ``page``."""
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--window-size=1200,900", "--virtual-time-budget=10000", "--enable-logging=stderr",
         "--v=0", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the page did not finish loading:\n" + proc.stdout[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def _self_contained(page: str) -> None:
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)


def _check_rendered(page, tmp_path, n_figures):
    record, console = _render(page, tmp_path)
    assert record["errors"] == [] and console == [], (record["errors"], console)
    assert record["fetched"] == []                       # nothing loaded from anywhere
    assert len(record["sizes"]) == n_figures
    for key, width, height, *_ in record["sizes"]:
        assert width > 100 and height > 100, (key, width, height)
    return record


def _check_screenshot(page, record, tmp_path):
    """The page as Chromium draws it (a PNG kept in the test's folder): each figure's area
    holds a drawing, in many colours (trials coloured by rank), not a blank box."""
    from matplotlib.image import imread

    page_path, png = tmp_path / "report.html", tmp_path / "report.png"
    page_path.write_text(page, encoding="utf-8")
    bottom = max(top + height for _, _, height, _, top, _ in record["sizes"])
    screenshot(page_path, png, width=1200, height=int(bottom) + 40)
    image = imread(png)[:, :, :3]
    for key, width, height, left, top, _ in record["sizes"]:
        area = image[int(top):int(top + height), int(left):int(left + width)]
        assert area.shape[0] > 100 and area.shape[1] > 100, key
        ink = (area < 0.9).any(axis=2).mean()
        colours = len(np.unique((area * 31).round().reshape(-1, 3), axis=0))
        assert 0.02 < ink < 0.9 and colours >= 20, (key, ink, colours)


def test_study_report_renders_every_figure_with_no_errors(tmp_path):
    study = make_study(tmp_path / "study.db")
    study.retest(objective, top_k=2, seeds=(0, 1))
    page = plot.report(study, tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    _self_contained(page)
    for section in ("Settings", "Space", "Leaderboard", "Figures", "Zoom history", "Retests",
                    "Failed trials"):
        assert f"<h2>{section}" in page, section
    failed = [t for t in study.trials if str(t.state) == "FAILED"]
    assert f"Failed trials ({len(failed)})" in page
    assert all(f"trial {t.number} broke on purpose" in page for t in failed)
    assert "OneMinusLogUniform(0.8, 0.999)" in page and "log of 1 - x" in page
    retests = page[page.index("<h2>Retests"):page.index("<h2>Failed")]
    assert "rank before" in retests and retests.count("<tr>") == 1 + 2   # header, 2 trials
    record = _check_rendered(page, tmp_path, n_figures=8)
    assert [key for key, *_ in record["sizes"]] == ["fig-history", "fig-slices", "fig-parallel",
                                                    "fig-importances", "fig-contour", "fig-edf",
                                                    "fig-zoom", "fig-curves"]
    hovers = {key: titles for key, *_, titles in record["sizes"]}
    for key in ("fig-history", "fig-slices", "fig-parallel", "fig-contour", "fig-zoom",
                "fig-curves"):                    # each trial's point or line: its title
        assert hovers[key] >= 10, (key, hovers[key])
    _check_screenshot(page, record, tmp_path)
    study.close()


def test_babysitting_report_renders_its_curve_with_rollbacks_and_nudges(tmp_path):
    X, y = load_digits()
    run = tmp_path / "run"
    sitter = Babysitter(fastnn.MLP(hidden=(16,), seed=0), X[:400], y[:400],
                        (X[400:600], y[400:600]), run, fastnn.Adam(lr=0.01), batch_size=64)
    sitter.train(2)
    sitter.nudge(factor=0.5)
    sitter.train(1)
    sitter.rollback(2)
    sitter.train(1)
    page = plot.report(run)
    _self_contained(page)
    assert 'id="rollback-1"' in page and 'id="nudge-1"' in page     # the marks, in the SVG
    assert "best epoch" in page and "to_epoch=2" in page
    _check_rendered(page, tmp_path, n_figures=1)


def test_report_checks_its_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot.report(tmp_path / "missing.db")
    with pytest.raises(TypeError, match="source must be a Study"):
        plot.report(42)
    assert cli_main(["study", "report", str(tmp_path / "missing.db")]) == 2
