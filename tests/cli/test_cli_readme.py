"""The README's search example and command lines stay true."""

import re
from pathlib import Path

from fastnn.cli import build_parser

from _readme import assert_prints, readme_examples

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def test_the_search_example_runs_on_its_own_and_prints_what_the_readme_shows(tmp_path,
                                                                             monkeypatch):
    # alone, in a fresh namespace, as written (60 trials: about 25 s on 2 busy cores): it
    # defines every name it uses (X_val included), writes its own study file, and prints
    # the leaderboard and parameters the README shows
    monkeypatch.chdir(tmp_path)
    block, shown = next((code, out) for code, out in readme_examples() if "Study(" in code)
    assert shown is not None, "the README shows what the search example prints"
    namespace = {}
    assert_prints(block, shown, namespace)
    study = namespace["study"]
    assert len(study.trials) == 60 and (tmp_path / "search.db").exists()
    assert study.best.value > 0.95
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
