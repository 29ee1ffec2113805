"""A module-level UPPER_CASE constant is assigned once per module.

Last stop a second ``RECENT_S = 35`` in ``server/engine/waits.py`` silently replaced the first
(``RECENT_S = 1800``, the span over which today's arrival rate is read), and every forecast
extrapolated the last 35 s of a burst into the rest of the day (docs/performance.md section 8).
Python raises nothing for that; this test does."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("server", "kiosk", "display", "qms_common")


def constants_assigned_twice(source: str) -> dict[str, list[int]]:
    """UPPER_CASE names bound more than once at a module's top level (plain, annotated or
    augmented assignment, tuple targets), with the lines; ``if``/``try`` blocks at top level
    count too (two branches binding the same name are alternatives, so one block's bindings are
    counted once per branch set)."""
    seen: dict[str, list[int]] = defaultdict(list)

    def names(target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, (ast.Tuple, ast.List)):
            return [n for elt in target.elts for n in names(elt)]
        return []

    def bound(stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            targets: list[ast.expr] = []
            if isinstance(stmt, ast.Assign):
                targets = stmt.targets
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and (
                    not isinstance(stmt, ast.AnnAssign) or stmt.value is not None):
                targets = [stmt.target]
            for target in targets:
                for name in names(target):
                    if name.isupper() and len(name) > 1:
                        seen[name].append(stmt.lineno)

    def walk(stmts: list[ast.stmt]) -> None:
        bound(stmts)
        for stmt in stmts:
            if isinstance(stmt, (ast.If, ast.Try)):
                branches = [stmt.body, stmt.orelse] + [h.body for h in getattr(stmt, "handlers", [])]
                before = {k: list(v) for k, v in seen.items()}
                per_branch = []
                for branch in branches:
                    seen.clear()
                    seen.update({k: list(v) for k, v in before.items()})
                    walk(branch)
                    per_branch.append({k: v for k, v in seen.items()})
                seen.clear()
                seen.update(before)
                for branch in per_branch:  # the longest binding list of any one branch
                    for k, v in branch.items():
                        if len(v) > len(seen.get(k, [])):
                            seen[k] = v

    walk(ast.parse(source).body)
    return {k: v for k, v in seen.items() if len(v) > 1}


def modules() -> list[Path]:
    return sorted(p for role in ROLES for p in (ROOT / role).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("source", [
    "RECENT_S = 1800\nX = 1\nRECENT_S = 35\n",
    "A, RECENT_S = 1, 2\nRECENT_S: int = 3\n",
    "RECENT_S = 1\nif True:\n    RECENT_S = 2\n",
])
def test_the_lint_finds_a_constant_assigned_twice(source):
    assert "RECENT_S" in constants_assigned_twice(source)


@pytest.mark.parametrize("source", [
    "RECENT_S = 1800\ndef f():\n    RECENT_S = 35\n    return RECENT_S\n",
    "try:\n    FAST = True\nexcept ImportError:\n    FAST = False\n",
    "if 1:\n    MODE = 'a'\nelse:\n    MODE = 'b'\n",
    "__all__ = ['x']\n",
])
def test_the_lint_lets_alternatives_and_locals_be(source):
    assert constants_assigned_twice(source) == {}


def test_no_module_assigns_a_constant_twice():
    found = {str(p.relative_to(ROOT)): twice for p in modules()
             if (twice := constants_assigned_twice(p.read_text(encoding="utf-8")))}
    assert found == {}, f"constants assigned twice at module level: {found}"
