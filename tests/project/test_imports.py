"""The house's floors: no import cycles among fastnn's modules, counting imports
made inside functions too, and ``import fastnn`` loads neither the kernels nor
the optional subpackages."""

import ast
from pathlib import Path

import fastnn

PACKAGE = Path(fastnn.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _statements(tree: ast.Module):
    """Every statement of a module, however nested (function bodies, branches, handlers).

    Imports are statements, so this finds all that ``ast.walk`` would while not visiting
    the expressions, which are most of the nodes (a third of a second for the package).
    """
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(getattr(node, field, ()))


def _imports(path: Path, name: str, modules: set) -> set:
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in _statements(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_no_import_cycles():
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, name, modules) for name, path in paths.items()}
    # a package's __init__ re-exporting its own modules is not a cycle
    for name in graph:
        graph[name] = {t for t in graph[name] if not (name.startswith(t + ".") and
                                                       paths[t].name == "__init__.py")}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_import_fastnn_loads_no_kernels_and_no_subpackages(fresh_python):
    code = ("import sys, fastnn; "
            "print(sorted(m for m in sys.modules if m.startswith(('fastnn._kernels._ops', "
            "'fastnn._kernels._network', 'fastnn.search', 'fastnn.datasets', 'scipy'))))")
    out = fresh_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_names_agree_between_the_python_registries_and_the_kernel_tables():
    from fastnn import _kernels, kinds, ops
    from fastnn.layers import ACTIVATIONS
    from fastnn.losses import LOSSES
    from fastnn.optim import OPTIMIZERS

    names = [row.name for row in kinds.ACTIVATIONS]
    assert list(ACTIVATIONS) == names
    assert _kernels.ops.N_ACTIVATIONS == len(names)
    for name in names:
        assert callable(getattr(ops, name)) and callable(getattr(ops, name + "_backward"))
    assert list(LOSSES) == [row.name for row in kinds.LOSSES]
    assert _kernels.network.LOSS_KINDS == {row.name: k for k, row in enumerate(kinds.LOSSES)}
    for row in kinds.LOSSES:
        assert getattr(ops, row.name).__name__ == row.name
    assert {cls.rule for cls in OPTIMIZERS.values()} == set(_kernels.network.RULES)
    for cls in OPTIMIZERS.values():
        opt = cls(lr=0.1)
        assert len(opt.slots) == _kernels.network.RULE_SLOTS[cls.rule]
        assert len(opt.hyper()) == _kernels.network.RULE_HYPER[cls.rule]


def test_the_compiled_dispatch_is_written_from_the_declarations():
    """_kinds.pxi, _rules.pxi and _losses.pxd, which the build writes from fastnn/kinds.py,
    number the activations, the optimizer rules and the losses in the rows' order (a build after editing kinds.py
    rewrites them)."""
    from fastnn import kinds

    text = (PACKAGE / "_kernels" / "_kinds.pxi").read_text()
    for k, row in enumerate(kinds.ACTIVATIONS):
        assert f"act == {k}:      # {row.name}\n" in text
        assert f"{row.name}_forward(x[i], alpha)" in text
        assert f"{row.name}_backward(dy[i], x[i], y[i], alpha)" in text
    assert f"N_ACTIVATIONS = {len(kinds.ACTIVATIONS)}\n" in text
    text = (PACKAGE / "_kernels" / "_rules.pxi").read_text()
    for k, row in enumerate(kinds.RULES):
        assert f"u.rule == {k}:      # {row.name}\n" in text
        assert f"{row.name}_prepare(u, k)" in text and f"{row.name}_apply(u, w + lo" in text
    assert f"N_RULES = {len(kinds.RULES)}\n" in text
    text = (PACKAGE / "_kernels" / "_losses.pxd").read_text()
    for k, row in enumerate(kinds.LOSSES):
        module, function = row.kernel.split(".")
        assert f"k == {k}:      # {row.name}\n        return {function}()\n" in text
        assert f"from fastnn._kernels.{module} cimport {function}\n" in text
        assert (PACKAGE / "_kernels" / f"{module}.pxd").exists()
    assert f"N_LOSSES = {len(kinds.LOSSES)}\n" in text


# ---------------------------------------------------------------- private attributes

def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_private_names(tree: ast.Module) -> set:
    """The private names a module defines itself: its functions, classes, variables,
    arguments and the attributes it assigns (``self._x = ...``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _private(n)}


def _is_module(package: str, name: str) -> bool:
    folder = PACKAGE.parent.joinpath(*package.split("."))
    return ((folder / f"{name}.py").exists() or (folder / name).is_dir()
            or (folder / f"{name}.pyx").exists())


def _private_reads(path: Path) -> list[str]:
    """``obj._name`` (not on self or cls) where the module defines no ``_name`` itself, and
    ``from fastnn... import _name`` of what is not a module. A package's private modules
    (``_validation``, ``_kernels``...) are shared by design; their private names are not."""
    tree = ast.parse(path.read_text())
    own = _own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{ast.unparse(node.value)}.{node.attr}")
        elif (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fastnn")
              and not node.level):
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if _private(a.name) and not _is_module(node.module, a.name)]
    return found


# Reads allowed for now, each with its reason; printed by the test so that they stay seen.
PRIVATE_READS_ALLOWED = {
    "fastnn/cli.py": ("argparse's own subparser lists (sub._choices_actions, "
                      "command._subparsers), which argparse offers no public way to read; "
                      "and helpers of fastnn.search.babysitter and fastnn.datasets._csv"),
    "fastnn/search/optuna_bridge.py": "a Study's id and storage, and a distribution's _contains",
    "fastnn/search/study.py": "a Trial's halt flag and its reports",
}


def test_no_module_reads_another_modules_private_attributes():
    reads = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = _private_reads(path)
        if found:
            reads[path.relative_to(PACKAGE.parent).as_posix()] = sorted(set(found))
    for name, found in reads.items():
        if name in PRIVATE_READS_ALLOWED:
            print(f"allowed: {name} reads {', '.join(found)}: {PRIVATE_READS_ALLOWED[name]}")
    unexpected = {k: v for k, v in reads.items() if k not in PRIVATE_READS_ALLOWED}
    assert not unexpected, unexpected
    stale = set(PRIVATE_READS_ALLOWED) - set(reads)
    assert not stale, f"no longer reads private attributes: remove {sorted(stale)}"


def test_the_private_read_check_finds_one(tmp_path):
    module = tmp_path / "reader.py"
    module.write_text("from fastnn.model import _restore\n"
                      "def f(model):\n    return model._params, model.engine.params\n")
    assert _private_reads(module) == ["from fastnn.model import _restore", "model._params"]
