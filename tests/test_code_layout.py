"""The layout rules of docs/design.md, checked on the source with ``ast``: imports among
vitconcepts modules run one way (no cycle, imports inside functions included), no function
or method is longer than 80 lines and no module longer than 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vitconcepts"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def module_name(path: Path) -> str:
    """Dotted name of a source file; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The vitconcepts modules ``name`` imports anywhere in its file (top level or inside
    functions), resolved to modules that exist (``from .x import y`` is ``x.y`` when ``y``
    is a module, and ``x`` in any case), each with the line of its first import."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{alias.name}" for alias in node.names] + [prefix]
        else:
            continue
        for target in targets:
            module = resolve(target) if target.split(".")[0] == "vitconcepts" else None
            if module and module != name:
                found[module] = min(found.get(module, node.lineno), node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}``; a module's own packages are left out (a
    package is its ``__init__``, which runs before any of its modules)."""
    modules = sources()
    known = set(modules)
    graph = {name: imported_modules(name, path, known) for name, path in modules.items()}
    return {
        name: {dep: line for dep, line in deps.items() if not name.startswith(dep + ".")}
        for name, deps in graph.items()
    }


def cycles(graph: dict[str, set[str]] | dict[str, dict[str, int]]) -> list[list[str]]:
    """The modules of each import cycle: every strongly connected component of more than one
    module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The imports that close a cycle, one per line: ``a.py:12 imports b``."""
    lines = [f"  {', '.join(component)} import each other:"]
    for module in component:
        path = sources()[module].relative_to(PACKAGE.parent)
        for dep, line in sorted(graph[module].items()):
            if dep in component:
                lines.append(f"    {path}:{line} imports {dep}")
    return "\n".join(lines)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from .x import y\n    from . import z\n")
    known = {"vitconcepts", "vitconcepts.x", "vitconcepts.x.y", "vitconcepts.z"}
    found = imported_modules("vitconcepts.m", source, known)
    assert found == {"vitconcepts.x": 2, "vitconcepts.x.y": 2, "vitconcepts.z": 3, "vitconcepts": 3}


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles among vitconcepts modules:\n" + "\n".join(
        describe(graph, component) for component in found
    )


def test_no_function_longer_than_80_lines() -> None:
    long = []
    for path in sources().values():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - first + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(
                        f"  {path.relative_to(PACKAGE.parent)}:{node.lineno} "
                        f"{node.name}: {length} lines"
                    )
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_no_module_longer_than_500_lines() -> None:
    long = [
        f"  {path.relative_to(PACKAGE.parent)}: {n} lines"
        for path in sources().values()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)
