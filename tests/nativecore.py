"""The native core for the tests that compare it with its pure twins (tests/tlog, tests/model).

``load(name)`` imports ``ledger.tlog._native`` or ``ledger.model._compose``; under ``CI=true`` a core that was
not built fails the run (CI installs gcc and libssl-dev), elsewhere the module's tests are skipped with the
reason. ``kernels()`` names the SHA-256 kernels this machine has; ``use_kernel`` switches to one and back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from ledger.tlog import _hashing


def load(name: str) -> ModuleType:
    if os.environ.get("CI") and _hashing.BACKEND != "native" and not os.environ.get("EDULEDGER_NO_NATIVE"):  # pragma: no cover
        pytest.fail("CI builds the native core (gcc, libssl-dev); it is not in use", pytrace=False)
    return pytest.importorskip(name, reason="native core not built (no compiler or OpenSSL headers)")


def kernels() -> list[str]:
    """The kernels of ledger.tlog._native available here, fastest first (empty without the native core)."""
    try:
        native = importlib.import_module("ledger.tlog._native")
    except ImportError:
        return []
    found = []
    for name in ("sha-ni", "libcrypto"):
        try:
            previous = native._set_kernel(name)
        except ValueError:
            continue
        native._set_kernel(previous)
        found.append(name)
    return found


@contextlib.contextmanager
def use_kernel(name: str) -> Iterator[str]:
    native = importlib.import_module("ledger.tlog._native")
    previous = native._set_kernel(name)
    try:
        yield name
    finally:
        native._set_kernel(previous)
