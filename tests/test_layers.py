"""The layers, checked from the source (ast, nothing imported): imports point one way.

    config/     settings, templates, the clock, text and phone helpers, logging, the metrics seam
    storage/    models, the database, migrations, queries, the outbox insert, dedupe keys, roles
    scheduler/  the use cases (actions, outbound policy, reminders, digest, listening) and, in
                scheduler/delivery/, the delivery edge (worker, sender, rate limits, channels)
    bot/        the edges: the aiohttp app and webhooks, handlers, Telegram, CLI, web console,
                and the composition root (bot/compose.py)

A module may import from its own package and those below it, never above; no use case in
scheduler/ imports scheduler/delivery/; no two modules import each other, however far round;
and every import is at the top of its module (an import inside a function hides a dependency,
or dodges a cycle), with one exception named below.

What counts as an import is what a module names: ``from a.b import c`` imports ``a.b.c`` when
that is a module, else ``a.b``; imports under ``if TYPE_CHECKING:`` count too. (Python also
runs a package's ``__init__`` before any of its modules; that is not counted: a package's
``__init__`` may import its own modules.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("config", "storage", "scheduler", "bot")  # lowest first
DELIVERY = "scheduler.delivery"
# The one import allowed inside a function: matplotlib costs most of a second to import, and
# only a process that draws a digest chart should pay it (scheduler/digest/chart.py says so).
LAZY_ALLOWED = {
    ("scheduler.digest.chart", "matplotlib.backends.backend_agg"),
    ("scheduler.digest.chart", "matplotlib.figure"),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a project module, or any name for a lazy import)
    line: int
    in_function: bool


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four packages, by dotted name (a package by its own name)."""
    found = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inside.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):
            yield Import(name, target, node.lineno, id(node) in inside)


def project(target: str, known: Mapping[str, Path]) -> str | None:
    """The project module ``target`` names (itself, or the module holding it), or None."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def graph(known: Mapping[str, Path]) -> tuple[dict[str, set[str]], list[Import]]:
    """Module -> the project modules it imports; and every import made inside a function."""
    edges: dict[str, set[str]] = {name: set() for name in known}
    lazy = []
    for name, path in known.items():
        for imp in imports(name, path, known):
            if imp.in_function:
                lazy.append(imp)
            target = project(imp.target, known)
            if target is not None and target != name:
                edges[name].add(target)
    return edges, lazy


def layer(name: str) -> int:
    return LAYERS.index(name.split(".")[0])


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    return sorted(
        f"{src} -> {dst}"
        for src, targets in edges.items()
        for dst in targets
        if layer(dst) > layer(src)
    )


def into_delivery(edges: Mapping[str, set[str]]) -> list[str]:
    def delivery(name: str) -> bool:
        return name == DELIVERY or name.startswith(DELIVERY + ".")

    return sorted(
        f"{src} -> {dst}"
        for src, targets in edges.items()
        if src.startswith("scheduler") and not delivery(src)
        for dst in targets
        if delivery(dst)
    )


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another (strongly connected, Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges.get(v, ()):
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


@pytest.fixture(scope="module")
def project_graph() -> tuple[dict[str, set[str]], list[Import]]:
    return graph(modules())


def test_no_module_imports_from_a_layer_above_its_own(
    project_graph: tuple[dict[str, set[str]], list[Import]],
) -> None:
    edges, _ = project_graph
    assert upward(edges) == [], f"layers, lowest first: {', '.join(LAYERS)}"


def test_no_use_case_in_the_scheduler_imports_the_delivery_edge(
    project_graph: tuple[dict[str, set[str]], list[Import]],
) -> None:
    edges, _ = project_graph
    assert into_delivery(edges) == []
    assert any(dst.startswith(DELIVERY) for dst in edges["bot.compose"])  # the scan sees them


def test_no_modules_import_one_another(
    project_graph: tuple[dict[str, set[str]], list[Import]],
) -> None:
    edges, _ = project_graph
    assert cycles(edges) == []


def test_every_import_is_at_the_top_of_its_module_but_matplotlib_in_the_chart(
    project_graph: tuple[dict[str, set[str]], list[Import]],
) -> None:
    _, lazy = project_graph
    found = {(imp.module, imp.target) for imp in lazy}
    assert found - LAZY_ALLOWED == set(), "import at the top of the module"
    assert found == LAZY_ALLOWED  # the exception is still needed, and the scan sees it


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """A small made-up project with one of each fault."""
    files = {
        "config/__init__.py": "",
        "config/low.py": "from bot import edge\n",  # up a layer
        "storage/__init__.py": "",
        "storage/a.py": "from storage import b\n",  # a cycle: a -> b -> a
        "storage/b.py": "import storage.a\n",
        "scheduler/__init__.py": "",
        "scheduler/use.py": "from scheduler.delivery.worker import Worker\n",  # into delivery
        "scheduler/delivery/__init__.py": "",
        "scheduler/delivery/worker.py": "Worker = object\n",
        "bot/__init__.py": "",
        "bot/edge.py": "def late():\n    from storage import a\n",  # inside a function
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    edges, lazy = graph(modules(tmp_path))
    assert upward(edges) == ["config.low -> bot.edge"]
    assert into_delivery(edges) == ["scheduler.use -> scheduler.delivery.worker"]
    assert cycles(edges) == [["storage.a", "storage.b"]]
    assert [(i.module, i.target, i.line) for i in lazy] == [("bot.edge", "storage.a", 2)]
