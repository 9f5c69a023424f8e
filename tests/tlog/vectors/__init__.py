"""Published test vectors, kept in the repository with their provenance (README.md beside this file).

``directory(name)`` is the one way tests reach them: a copy that is missing fails the run with the
path it looked for, never a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def directory(name: str) -> Path:
    """``tests/tlog/vectors/<name>``; fails (at collection, naming the path) when it is not there."""
    path = HERE / name
    if not path.is_dir():
        pytest.fail(f"test vectors not found at {path}: they are part of the repository (see {HERE / 'README.md'})", pytrace=False)
    return path


MERKLE = "merkle"
TLOG_LOG = "tlog-log"
