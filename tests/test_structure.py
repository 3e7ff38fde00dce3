"""The app's modules import one another in one direction: no module-level import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import REPO_DIR

PACKAGES = ("notifications", "presence")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_DIR).with_suffix("").parts).removesuffix(".__init__")


def module_level_imports(path: Path, known: set[str]) -> set[str]:
    """Modules of ours that importing ``path`` imports at once (not inside functions or TYPE_CHECKING)."""
    name = module_name(path)
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                candidates = [f"{node.module}.{alias.name}" for alias in node.names]
                found.update(c for c in candidates if c in known)
                if not any(c in known for c in candidates):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit([*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])])

    visit(ast.parse(path.read_text()).body)
    # A package's own __init__ runs before its modules: not an edge back from them.
    return {m for m in found if m in known and m != name and not name.startswith(f"{m}.")}


def test_no_module_level_import_cycles() -> None:
    paths = [p for package in PACKAGES for p in (REPO_DIR / package).rglob("*.py") if "migrations" not in p.parts]
    known = {module_name(p) for p in paths}
    graph = {module_name(p): module_level_imports(p, known) for p in paths}
    cycles = []

    def walk(module: str, trail: list[str]) -> None:
        for imported in sorted(graph[module]):
            if imported == trail[0]:
                cycles.append(" -> ".join([*trail, imported]))
            elif imported not in trail and imported > trail[0]:
                walk(imported, [*trail, imported])

    for module in sorted(graph):
        walk(module, [module])
    assert cycles == []
