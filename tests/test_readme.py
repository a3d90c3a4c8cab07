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
