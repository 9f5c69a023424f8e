"""Thin edges (issue 4: "FastAPI routers per resource over services, no SQL in handlers"):
no router opens a database transaction, builds SQL or imports the tables; services do."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTERS = Path(__file__).resolve().parents[2] / "portfolio_api" / "routers"


def test_no_router_touches_the_database():
    problems = []
    for path in sorted(ROUTERS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "engine":
                problems.append(f"{path.name}:{node.lineno}: uses .engine")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") or n == "portfolio_api.db" or n.startswith("portfolio_api.db.") for n in names):
                    problems.append(f"{path.name}:{node.lineno}: imports the database layer")
    assert problems == []
