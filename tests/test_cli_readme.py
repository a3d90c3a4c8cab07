"""The README's search example and command lines stay true."""

import re
from pathlib import Path

from fastnn.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def test_the_search_example_runs_on_its_own(tmp_path, monkeypatch):
    # alone, in a fresh namespace: it defines every name it uses (X_val included);
    # fewer, shorter trials than written, which change nothing else
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _blocks("python") if "Study(" in b)
    small = block.replace("n_trials=60", "n_trials=3").replace("max_epochs=20", "max_epochs=1")
    assert small.count("n_trials=3") == 1 and small.count("max_epochs=1") == 1
    namespace = {}
    exec(compile(small, "README.md", "exec"), namespace)
    assert len(namespace["study"].trials) == 3 and (tmp_path / "study.db").exists()
    imports = [line for line in block.splitlines() if " import " in line]
    imported = {name.strip() for line in imports for name in line.split(" import ")[1].split(",")}
    body = "\n".join(line for line in block.splitlines() if line not in imports)
    unused = {name for name in imported if not re.search(rf"\b{name}\b", body)}
    assert not unused, f"the search example imports {unused} without using them"


def test_the_command_lines_parse():
    parser = build_parser()
    lines = [line.split("#")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    commands = [line.split()[1:] for line in lines if line.startswith("fastnn ")]
    assert len(commands) >= 7
    for argv in commands:
        if "--help" in argv:
            continue
        args = parser.parse_args(argv)                     # raises on an unknown option
        assert callable(args.run), argv
