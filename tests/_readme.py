"""The README's Python examples and a check of what they print, shared by the tests of
the README (tests/project) and of its command lines (tests/cli)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_examples(text=None):
    """The README's Python examples in order: (code, output), the output being the text
    block right after the code block (only blank lines between), or None."""
    import re

    text = (ROOT / "README.md").read_text() if text is None else text
    found = re.finditer(r"^```(python|text)\n(.*?)^```\n", text, flags=re.S | re.M)
    examples, end = [], None
    for block in found:
        kind, body = block.groups()
        if kind == "python":
            examples.append([body, None])
        elif examples and examples[-1][1] is None and not text[end:block.start()].strip():
            examples[-1][1] = body
        end = block.end()
    return [tuple(example) for example in examples]


def assert_prints(code, expected, namespace, where="README.md"):
    """Run ``code`` in ``namespace``; what it prints must be ``expected``, where "..." stands
    for any text (doctest's ELLIPSIS: the digits that vary are left out)."""
    import contextlib
    import doctest
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), namespace)
    if expected is None:
        return out.getvalue()
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert checker.check_output(expected, out.getvalue(), flags), (
        f"the README shows\n{expected}\nbut the code printed\n{out.getvalue()}")
    return out.getvalue()
