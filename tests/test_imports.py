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
    from fastnn import _kernels
    from fastnn.layers import ACTIVATIONS
    from fastnn.losses import LOSSES
    from fastnn.optim import OPTIMIZERS

    assert set(ACTIVATIONS) == set(_kernels.ops.ACTIVATIONS)
    assert set(LOSSES) == set(_kernels.network.LOSS_KINDS)
    assert {cls.rule for cls in OPTIMIZERS.values()} == set(_kernels.network.RULES)
    for cls in OPTIMIZERS.values():
        opt = cls(lr=0.1)
        assert len(opt.slots) == _kernels.network.RULE_SLOTS[cls.rule]
        assert len(opt.hyper()) == _kernels.network.RULE_HYPER[cls.rule]
