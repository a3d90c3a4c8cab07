from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _command(line):
    return line.strip()


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_command = _command(ci_lines[-1])
    assert "pytest" in ci_command
    readme = (ROOT / "README.md").read_text()
    assert ci_command in {_command(line) for line in readme.splitlines()}, (
        "the last line of .ci/run must be the README's test command")


def _python_blocks(text):
    blocks, inside = [], None
    for line in text.splitlines():
        if line.strip() == "```python":
            inside = []
        elif line.strip() == "```" and inside is not None:
            blocks.append("\n".join(inside))
            inside = None
        elif inside is not None:
            inside.append(line)
    return blocks


def test_readme_model_examples_run(tmp_path, monkeypatch):
    # the model, loss, weights and kernel examples run as written, in order, in one
    # namespace (the search example runs a long study: the search tests cover it)
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in _python_blocks((ROOT / "README.md").read_text()) if "Study(" not in b]
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["reg"].evaluate(namespace["Xr"][2400:], namespace["yr"][2400:])["r2"] > 0.95
