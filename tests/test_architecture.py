"""The shape of the house, checked: no import cycle between files of src/, the live driver never
imports the backtest driver (nor the reverse), the core imports neither, model/ and rules/
import nothing of the outer layers, and no source file outgrows 800 lines (migrations aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "riskpilot"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            deps.update(t for t in targets if t in files and t != name)
        graph[name] = deps
    return graph


GRAPH = _graph()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_package(module: str) -> bool:
    return (PKG.parent / Path(*module.split("."))).is_dir()


def test_no_import_cycle_between_files() -> None:
    # Tarjan's strongly connected components over file-level edges (a package __init__ that
    # re-exports its modules is not a file-level dependency of them).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if _is_package(w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("live", {"backtest"}),
        ("backtest", {"live", "web"}),
        ("trading", {"backtest", "live", "app", "cli", "store", "brokers", "web"}),
        ("model", {"backtest", "live", "store", "brokers", "cli", "app", "trading", "execution", "risk", "rules"}),
        ("rules", {"backtest", "live", "store", "brokers", "cli", "app", "trading", "execution"}),
        ("risk", {"backtest", "live", "store", "brokers", "cli", "app", "trading", "execution"}),
        # The executor and the venues depend on small ledger protocols, not on the store.
        ("execution", {"store", "backtest", "live", "cli", "app", "web"}),
        ("brokers", {"store", "backtest", "live", "cli", "app", "web"}),
    ],
)
def test_arrows_point_inward(layer: str, forbidden: set[str]) -> None:
    leaks = sorted(
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        if _layer(m) == layer
        for d in deps
        if _layer(d) in forbidden
    )
    assert leaks == []


def test_no_source_file_over_800_lines_except_migrations() -> None:
    long = sorted(
        f"{p.relative_to(SRC)}: {n}"
        for p in PKG.rglob("*.py")
        if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 800
    )
    assert long == []
