"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) pass, no module
imports itself back through others, only keys/ touches private key bytes, and ledger/ keeps its modules
in the packages named for their concept."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "verifier", "keys", "portfolio_api")


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "5 kept" in r.stdout, r.stdout


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_project_modules():
    g = grimp.build_graph(*PACKAGES, include_external_packages=False)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    # A package's __init__ re-exporting its own submodules is not a cycle of ideas: leave those edges out.
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    assert _cycles(graph) == []


# cryptography's private-key classes and loaders; keys.signer.Signer.from_private_bytes is keys' own API.
PRIVATE_KEY = re.compile(r"Ed25519PrivateKey|(?<!from_)private_bytes\(|load_(pem|der)_private_key")


def test_only_keys_touches_private_key_bytes():
    offenders = [
        str(p.relative_to(ROOT))
        for package in PACKAGES
        if package != "keys"
        for p in sorted((ROOT / package).rglob("*.py"))
        if PRIVATE_KEY.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_ledger_has_no_module_at_its_top_level_but_its_entry_points():
    modules = sorted(p.name for p in (ROOT / "ledger").glob("*.py"))
    assert modules == ["__init__.py", "errors.py"]
    packages = sorted(p.name for p in (ROOT / "ledger").iterdir() if (p / "__init__.py").exists())
    assert packages == ["cli", "model", "network", "node", "storage", "tlog"]


def test_every_test_file_is_in_a_folder_named_for_what_it_tests():
    assert sorted(p.name for p in (ROOT / "tests").glob("test_*.py")) == []
