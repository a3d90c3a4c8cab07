import re
from pathlib import Path

from _readme import assert_prints, readme_examples

ROOT = Path(__file__).resolve().parents[2]


def _command(line):
    return line.strip()


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_command = _command(ci_lines[-1])
    assert "pytest" in ci_command
    readme = (ROOT / "README.md").read_text()
    assert ci_command in {_command(line) for line in readme.splitlines()}, (
        "the last line of .ci/run must be the README's test command")


def test_readme_model_examples_run_and_print_what_the_readme_shows(tmp_path, monkeypatch):
    # the model, loss, weights, estimator and kernel examples run as written, in order, in
    # one namespace, and print what the README shows after them (the search example runs a
    # long study: test_cli_readme.py runs it shorter; the web service is a program)
    monkeypatch.chdir(tmp_path)
    examples = [(code, out) for code, out in readme_examples()
                if "Study(" not in code and "ThreadingHTTPServer" not in code]
    assert len(examples) >= 6
    shown = [code for code, out in examples if out is not None]
    assert len(shown) >= 4
    namespace = {}
    for code, out in examples:
        assert_prints(code, out, namespace)
    assert namespace["reg"].evaluate(namespace["Xr"][2400:], namespace["yr"][2400:])["r2"] > 0.95
    from sklearn.neural_network import MLPClassifier        # the score the comment promises

    theirs = MLPClassifier(hidden_layer_sizes=(100,), random_state=0).fit(
        namespace["X_train"], namespace["y_train"])
    assert theirs.score(namespace["X_test"], namespace["y_test"]) == namespace["clf"].score(
        namespace["X_test"], namespace["y_test"])
    _the_web_service_answers_as_shown(tmp_path / "digits.fnn")
    # a value the README shows in a comment is a claim too: every one is printed and checked
    for code, _ in readme_examples():
        for line in code.splitlines():
            comment = line.partition("#")[2]
            assert not re.search(r"~\s*\d|\{'|\d\.\d\d", comment), (
                f"README.md shows a result in a comment: {line.strip()}")


def _the_web_service_answers_as_shown(model_path):
    """examples/serve.py on the model the Models example saved, asked the README's curl
    request: its answer is the one the README shows under it."""
    import doctest
    import subprocess
    import sys
    import urllib.request

    lines = [line for line in (ROOT / "README.md").read_text().splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    body = re.search(r"-d '(.*)'", lines[at]).group(1).encode()
    shown = lines[at + 1].removeprefix("# ")
    server = subprocess.Popen([sys.executable, str(ROOT / "examples" / "serve.py"),
                               str(model_path), "--port", "0"], stdout=subprocess.PIPE,
                              text=True)
    try:
        url = server.stdout.readline().split()[-1]
        request = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
    assert doctest.OutputChecker().check_output(shown, answer, doctest.ELLIPSIS), (shown, answer)


# ------------------------------------------------------------ the first steps

def _tree_without_kernels(tmp_path):
    """A copy of the checkout's fastnn/ with its Python files only: the source folder as it
    is after `pip install .`, which builds the kernels elsewhere."""
    import shutil

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "fastnn", checkout / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))
    return checkout


def test_importing_a_source_tree_without_kernels_says_what_happened_and_what_to_do(tmp_path):
    import subprocess
    import sys

    checkout = _tree_without_kernels(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "import fastnn; fastnn.show_config()"],
                          cwd=checkout, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fastnn was imported from the source tree "
                           f"{checkout}, whose compiled kernels are not built"), proc.stderr
    assert "Run Python from another folder" in last
    assert "; fastnn-mlp is installed in " in last and f"installed in {checkout}" not in last
    assert f"pip install -e {checkout}" in last
    assert "circular import" not in proc.stderr
    # the README's check after `pip install .` is the command line, which works from the
    # checkout: an installed script's folder, not the current one, comes first on sys.path
    script = Path(sys.executable).with_name("fastnn")
    proc = subprocess.run([str(script), "info"], cwd=checkout, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "fastnn " in proc.stdout, proc.stderr
    assert "fastnn info" in _bash_lines()


def _bash_lines() -> list[str]:
    lines, inside = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.strip() == "```bash":
            inside = True
        elif line.strip() == "```":
            inside = False
        elif inside:
            lines.append(line.split("#")[0].strip())
    return lines


def _declared_requirements() -> set[str]:
    """The names of the packages fastnn requires or offers as extras (pyproject.toml)."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values()
                                       for s in extra]
    return {re.split(r"[\[<>=! ;]", s, 1)[0].lower() for s in specs}


def _install_hints():
    """(where, what follows `pip install`) for every install hint in the docs and the code."""
    import re

    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md"),
             *(ROOT / "fastnn").rglob("*.py"), *(ROOT / "bench").glob("*.py"),
             *(ROOT / "examples").glob("*.py")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for found in re.finditer(r"pip install ([^`\n)#]*)", text):
            yield f"{path.relative_to(ROOT)}: {found.group(0).strip()}", found.group(1)


def test_no_install_hint_can_fetch_another_project():
    # PyPI's "fastnn" is another project: a hint names the checkout (".", ".[plot]") or a
    # package fastnn itself declares (matplotlib, onnx...), never fastnn by name
    import re

    declared = _declared_requirements()
    hints = list(_install_hints())
    assert len(hints) >= 10
    for where, args in hints:
        words = [w.strip("\"'`,;:") for w in re.split(r"&&|\||;", args)[0].split()]
        words = [w for w in words if w and not w.startswith("-")]
        assert words, where
        for word in words:
            if re.fullmatch(r"\.(\[[\w,]+\])?", word):          # the checkout, with extras
                continue
            if word.startswith("{") and "tree" in word:       # a checkout's path, in a message
                continue
            name = re.split(r"[\[<>=!]", word, maxsplit=1)[0].lower()
            assert name in declared, f"{where}: {name!r} is not a package fastnn declares"
    # the name pip knows fastnn by is its own, and the one fastnn's messages use
    from fastnn._kernels import DISTRIBUTION

    assert _distribution_name() == DISTRIBUTION != "fastnn"


def _distribution_name() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]


def test_browser_tests_skip_without_chromium_and_fail_when_asked_to_run(tmp_path):
    # the README's test command passes on a machine without Chromium; .ci/run, which
    # sets FASTNN_REQUIRE_CHROMIUM=1, cannot pass without looking at the pages
    import os
    import subprocess
    import sys

    test = tmp_path / "test_page.py"
    test.write_text("from _browser import chromium\n\n\ndef test_page():\n    chromium()\n")
    env = {k: v for k, v in os.environ.items() if k != "FASTNN_REQUIRE_CHROMIUM"}
    env.update(PATH=os.path.dirname(sys.executable), PYTHONPATH=str(ROOT / "tests"))

    def pytest_says(**extra):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p",
                               "no:cacheprovider", f"--rootdir={tmp_path}", str(test)],
                              cwd=tmp_path, env={**env, **extra}, capture_output=True,
                              text=True, timeout=120)
        return proc.returncode, proc.stdout

    status, out = pytest_says()
    assert status == 0 and "1 skipped" in out, out
    assert "apt-get install chromium" in out and "FASTNN_REQUIRE_CHROMIUM=1" in out
    status, out = pytest_says(FASTNN_REQUIRE_CHROMIUM="1")
    assert status == 1 and "1 failed" in out and "apt-get install chromium" in out, out
    ci = (ROOT / ".ci" / "run").read_text()
    assert "export FASTNN_REQUIRE_CHROMIUM=1" in ci
    assert "FASTNN_REQUIRE_CHROMIUM=1" in (ROOT / "README.md").read_text()
