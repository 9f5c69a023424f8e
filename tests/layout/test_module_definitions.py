"""Every module defines each top-level name once (a botched edit once left three
copies of the leadership classes in ledger/network/leader.py, earlier ones with stub methods:
the last copy silently won)."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "keys", "verifier", "portfolio_api")


def _redefinitions(body: list[ast.stmt], where: str) -> list[str]:
    names = Counter()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            decorators = {ast.unparse(d) for d in node.decorator_list}
            if any(d.endswith((".setter", ".deleter")) or d in {"overload", "typing.overload"} for d in decorators):
                continue
            names[node.name] += 1
    out = [f"{where}: {name} defined {n} times" for name, n in names.items() if n > 1]
    for node in body:
        if isinstance(node, ast.ClassDef):
            out += _redefinitions(node.body, f"{where}:{node.name}")
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_defines_a_class_or_function_twice(package):
    problems: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        problems += _redefinitions(ast.parse(path.read_text(encoding="utf-8")).body, str(path.relative_to(ROOT)))
    assert problems == []


def test_leadership_classes_are_the_working_ones():
    from ledger.network import leader

    # The stubs of the dead copies returned None from still_held and did nothing on release.
    assert leader.SoleWriter().still_held() is True
    source = ast.parse((ROOT / "ledger" / "network" / "leader.py").read_text(encoding="utf-8"))
    classes = [n.name for n in source.body if isinstance(n, ast.ClassDef)]
    assert classes.count("PostgresLeadership") == 1 and classes.count("SoleWriter") == 1
