"""Architecture check, run by CI: the import rules of the project hold, or CI fails.

Rules (issue 10, /work/shared/architecture.md):

(a) `bot.*` imports nothing from `handlers` or `pinbot`: the core does not know its listeners
    or its entry point, so it can be reused and tested without them.
(b) `handlers.*` imports nothing from `pinbot`: only the entry point wires things.
(c) No import cycle among project modules. Each strongly connected component is reported once,
    with one concrete cycle through it and the file:line of every import on that cycle.
(d) No function-level import of a project module: such imports exist to dodge a cycle, and they
    hide it from readers and from the interpreter until the function first runs.
(e) Use cases under `bot/pins/` never import each other; only the shared adapters
    `bot/pins/accounts.py`, `bot/pins/uploads.py` and `bot/pins/sweep_teams.py` may be imported
    by the others.

Why stdlib (`ast`) rather than grimp/import-linter: rule (d) needs to know whether an import sits
inside a function, and (c) must say which imports hide a cycle; grimp's graph records neither,
so the check would be written on top of `ast` anyway. The whole check is a few hundred lines.

How imports become edges, mirroring what Python runs at import time:
- `import a.b.c` and `from a.b import c` (c a submodule) import `a.b.c`; `from a.b import name`
  imports `a.b`, i.e. its `__init__`. An import of a package is an edge to its `__init__`.
- Importing `a.b.c` also runs `a` and `a.b` first, so those are edges too, except packages that
  contain the importer: they are already in `sys.modules` when the importer runs, so
  `from . import sibling` in `pkg/x.py` is not a cycle with `pkg/__init__.py` re-exporting `x`.
  Naming the package itself (`from pkg import Name` in `pkg/x.py`) is an edge: it reads a
  half-initialised module when `pkg/__init__.py` imports `x`, which is a real cycle.
- Relative imports are resolved; `importlib.import_module("a.b")` and `__import__("a.b")` with a
  literal name count as imports, so the rules cannot be dodged through them.
- Imports under `if TYPE_CHECKING:` never run, so they are left out of the runtime cycle check
  (c); they still obey (a), (b), (e). A cycle that exists only once they are counted is reported
  separately ("type-only import cycle") and fails the check too: it is the same design loop a
  function-level import hides, and the fix is the same (move the shared type to a lower module).

Usage: `python tools/check_architecture.py [--root DIR]`. Exit 0 with a one-line summary, or
exit 1 with one line per violation.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

PACKAGES = ("bot", "handlers", "pinbot")
#: A module under the key package must never import from the listed packages.
FORBIDDEN = {"bot": ("handlers", "pinbot"), "handlers": ("pinbot",)}
USE_CASES = "bot.pins"
SHARED_ADAPTERS = frozenset({"accounts", "uploads", "sweep_teams"})

Kind = Literal["module", "function", "type"]


@dataclass(frozen=True)
class Module:
    name: str
    path: Path  # relative to the root, for messages
    is_package: bool


@dataclass(frozen=True)
class Import:
    """One import statement's target as written (resolved to an absolute module name)."""

    source: str
    target: str
    path: Path
    line: int
    kind: Kind

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def discover(root: Path) -> dict[str, Module]:
    """Every `.py` file under the project's packages, named as Python would import it."""
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            modules[name] = Module(name, path.relative_to(root), is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _dynamic_name(call: ast.Call) -> str | None:
    """The literal module name of `importlib.import_module("x")` or `__import__("x")`."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return None if first.value.startswith(".") else first.value
    return None


class _Collector(ast.NodeVisitor):
    """Walks one module and records each import with where it sits (module, function, type)."""

    def __init__(self, module: Module, modules: Mapping[str, Module]) -> None:
        self.module = module
        self.modules = modules
        self.imports: list[Import] = []
        self.errors: list[str] = []
        self._functions = 0
        self._type_only = 0

    @property
    def _kind(self) -> Kind:
        if self._functions:
            return "function"
        return "type" if self._type_only else "module"

    def _add(self, target: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", 0)
        self.imports.append(Import(self.module.name, target, self.module.path, line, self._kind))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._functions += 1
        self.generic_visit(node)
        self._functions -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self._type_only += 1
        for statement in node.body:
            self.visit(statement)
        self._type_only -= 1
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node)
        if base is None:
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.modules else base, node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _dynamic_name(node)
        if name is not None:
            self._add(name, node)
        self.generic_visit(node)

    def _resolve(self, node: ast.ImportFrom) -> str | None:
        if not node.level:
            return node.module
        parts = self.module.name.split(".")
        package = parts if self.module.is_package else parts[:-1]
        if node.level - 1 >= len(package):
            self.errors.append(f"{self.module.path}:{node.lineno}: relative import beyond the "
                               "top-level package")
            return None
        base = package[: len(package) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)


def collect(root: Path, modules: Mapping[str, Module]) -> tuple[list[Import], list[str]]:
    """Every import of every module that names a project module, and any unparsable file."""
    imports: list[Import] = []
    errors: list[str] = []
    for module in modules.values():
        try:
            tree = ast.parse((root / module.path).read_bytes(), filename=str(module.path))
        except (SyntaxError, ValueError, OSError) as exc:
            errors.append(f"{module.path}: cannot be parsed ({exc.__class__.__name__}: {exc})")
            continue
        collector = _Collector(module, modules)
        collector.visit(tree)
        errors.extend(collector.errors)
        imports.extend(i for i in collector.imports if _project(i.target, modules))
    return imports, errors


def _project(name: str, modules: Mapping[str, Module]) -> bool:
    return any(p in modules for p in _prefixes(name))


def _prefixes(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def _top(name: str) -> str:
    return name.partition(".")[0]


def layering(imports: Sequence[Import]) -> Iterator[str]:
    """Rules (a), (b) and (e), on imports as written."""
    for imp in imports:
        banned = FORBIDDEN.get(_top(imp.source), ())
        if _top(imp.target) in banned:
            yield (f"{imp.where}: {imp.source} imports {imp.target}: {_top(imp.source)}/ must "
                   f"never import {' or '.join(p + '/' for p in banned)}")
        source_case, target_case = _use_case(imp.source), _use_case(imp.target)
        if source_case and target_case and source_case != target_case \
                and target_case not in SHARED_ADAPTERS:
            yield (f"{imp.where}: use case {imp.source} imports use case {imp.target}: sibling "
                   f"use cases never import each other (shared: "
                   f"{', '.join(sorted(SHARED_ADAPTERS))})")


def _use_case(name: str) -> str | None:
    prefix = USE_CASES + "."
    return name[len(prefix):].partition(".")[0] if name.startswith(prefix) else None


def function_level(imports: Sequence[Import]) -> Iterator[str]:
    """Rule (d)."""
    for imp in imports:
        if imp.kind == "function":
            yield (f"{imp.where}: function-level import of {imp.target} in {imp.source}: move "
                   "it to the top of the module (if that makes a cycle, move what both need "
                   "to a lower module)")


Edges = dict[tuple[str, str], Import]
#: An edge made by several imports is shown with the one that runs soonest.
_KIND_ORDER: dict[Kind, int] = {"module": 0, "function": 1, "type": 2}


def edges(imports: Sequence[Import], modules: Mapping[str, Module], kinds: set[Kind]) -> Edges:
    """Module graph: each import's target plus the packages Python runs first to reach it."""
    graph: Edges = {}
    for imp in sorted(imports, key=lambda i: (_KIND_ORDER[i.kind], i.line)):
        if imp.kind not in kinds:
            continue
        implicit = [p for p in _prefixes(imp.target)
                    if p != imp.target and not imp.source.startswith(p + ".")]
        for target in [*implicit, imp.target]:
            if target in modules and target != imp.source:
                graph.setdefault((imp.source, target), imp)
    return graph


def adjacency(graph: Edges) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for source, target in sorted(graph):
        out.setdefault(source, []).append(target)
        out.setdefault(target, [])
    return out


def components(adj: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(adj):
        if root in index:
            continue
        enter(root)
        work = [(root, iter(adj[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    enter(child)
                    work.append((child, iter(adj[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _path(adj: Mapping[str, Sequence[str]], start: str, goal: str, within: set[str]) -> list[str]:
    """Shortest path start → goal through `within` (breadth first); empty when there is none."""
    previous: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        for nxt in adj[node]:
            if nxt in within and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return []


def _render(cycle: Sequence[str], graph: Edges) -> str:
    """`a (a.py:3) -> b (b.py:7) -> a`: each module, then where it imports the next one."""
    hops = []
    for source, target in pairwise(cycle):
        imp = graph[(source, target)]
        note = {"module": "", "function": ", in a function", "type": ", TYPE_CHECKING"}[imp.kind]
        hops.append(f"{source} ({imp.where}{note})")
    return " -> ".join([*hops, cycle[-1]])


def _cycle_through(edge: tuple[str, str], adj: Mapping[str, Sequence[str]],
                   members: set[str]) -> list[str]:
    source, target = edge
    back = _path(adj, target, source, members)
    return [source, *back] if back else []


def cycles(imports: Sequence[Import], modules: Mapping[str, Module]) -> Iterator[str]:
    """Rule (c): runtime cycles, then cycles that only TYPE_CHECKING imports close."""
    runtime = edges(imports, modules, {"module", "function"})
    runtime_adj = adjacency(runtime)
    runtime_components = components(runtime_adj)
    for members in runtime_components:
        inside = set(members)
        start = members[0]
        candidates = [_cycle_through((start, n), runtime_adj, inside)
                      for n in runtime_adj[start] if n in inside]
        cycle = min((c for c in candidates if c), key=len)
        yield (f"import cycle among {len(members)} modules ({', '.join(members)}): "
               f"{_render(cycle, runtime)}")
    full = edges(imports, modules, {"module", "function", "type"})
    full_adj = adjacency(full)
    for members in components(full_adj):
        if members in runtime_components:
            continue
        inside = set(members)
        typed = sorted(e for e, imp in full.items()
                       if imp.kind == "type" and e[0] in inside and e[1] in inside
                       and e not in runtime)
        candidates = [_cycle_through(e, full_adj, inside) for e in typed]
        cycle = min((c for c in candidates if c), key=len)
        yield (f"type-only import cycle among {len(members)} modules ({', '.join(members)}), "
               f"closed by TYPE_CHECKING imports: {_render(cycle, full)}")


def check(root: Path) -> tuple[list[str], str]:
    """The violations under `root`, and a one-line summary of what was checked."""
    modules = discover(root)
    if not modules:
        return [f"{root}: none of the packages {', '.join(PACKAGES)} found"], ""
    imports, violations = collect(root, modules)
    violations += [*layering(imports), *function_level(imports), *cycles(imports, modules)]
    graph = edges(imports, modules, {"module", "function", "type"})
    summary = (f"architecture ok: {len(modules)} modules, {len(graph)} import edges; "
               "bot/ imports no handlers/ or pinbot/, handlers/ no pinbot/, no import cycle, "
               "no function-level import, no use case imports a sibling")
    return violations, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="directory holding the packages (default: this repository)")
    args = parser.parse_args(argv)
    violations, summary = check(args.root)
    for line in violations:
        print(line)
    if violations:
        print(f"architecture check failed: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
