"""The dependency between docex's packages runs one way: kit ← vocabulary ← domains ← faces.

Every ``import`` in ``docex/`` counts, including those under ``TYPE_CHECKING`` and inside
functions: a loop hidden in a function is still a loop a reader has to untangle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import docex

ROOT = Path(docex.__file__).parent
CLIENT_ROOT = ROOT.parent / "client" / "docex_client"

# The faces and the wiring: nothing below may import them.
FACES = {"api", "cli", "web", "app", "node", "bootstrap", "backup", "client", "metrics", "network"}
# Packages that do one technical job and know nothing of documents, agencies or people.
LOW = {"kit", "errors", "config", "db", "vocabulary", "queue"}
# Signatures and storage import no other domain package (issue 9).
INDEPENDENT = {"signing", "storage"}


def _imports(path: Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == package and len(parts) > 1:
                found.add(parts[1])
    return found


def package_graph(root: Path = ROOT, package: str = "docex") -> dict[str, set[str]]:
    """Top-level package (or module) of ``docex`` → the others it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in root.rglob("*.py"):
        if "migrations" in path.relative_to(root).parts[:1]:
            continue
        owner = path.relative_to(root).with_suffix("").parts[0]
        graph[owner] |= _imports(path, package) - {owner}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_loop_between_packages() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import loop: " + " → ".join(cycle or [])


def test_the_loop_finder_finds_loops() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


@pytest.mark.parametrize("package", sorted(set(package_graph()) - FACES))
def test_domains_do_not_import_the_faces(package: str) -> None:
    assert not package_graph()[package] & FACES, f"docex.{package} imports a face or the wiring"


@pytest.mark.parametrize("package", sorted(LOW))
def test_low_packages_import_only_low_packages(package: str) -> None:
    assert package_graph()[package] <= LOW, f"docex.{package} reaches up"


@pytest.mark.parametrize("package", sorted(INDEPENDENT))
def test_signing_and_storage_import_no_other_domain(package: str) -> None:
    assert package_graph()[package] <= LOW, f"docex.{package} imports another domain package"


def test_the_client_package_does_not_import_the_server() -> None:
    for path in CLIENT_ROOT.rglob("*.py"):
        assert "docex" not in {
            alias.name.split(".")[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        }, f"{path.name} imports the server package"
