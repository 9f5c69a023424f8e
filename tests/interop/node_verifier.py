"""Digital Bazaar's VC 2.0 verifier (npm, ``tests/interop/js``), run as one Node process per batch.

(No tests here; the module is imported by tests/interop/.)

``verify_with_node(credentials, documents, workdir)`` writes one input file (the credentials, and the documents
a node serves: eduledger's context by its URL, DID documents by their DID), runs ``node verify.mjs`` once and
returns one ``{"verified": bool, "error": str | None}`` per credential. The npm packages are the exact versions
of ``tests/interop/js/package-lock.json``: CI installs them (``npm ci`` in ``.ci/run``); on a developer machine
the first use runs ``npm ci`` itself. Without ``node``/``npm`` (or when ``npm ci`` cannot reach the registry)
the tests are skipped with the reason, unless ``CI=true`` or ``EDULEDGER_REQUIRE_NODE=1``: then they fail,
because CI must run the outside verifier (as tests/conftest.py treats a missing PostgreSQL).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).with_name("js")
NPM_CI_TIMEOUT = 600
NODE_TIMEOUT = 300


def node_required() -> bool:
    return os.environ.get("EDULEDGER_REQUIRE_NODE") == "1" or os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if node_required():
        pytest.fail(f"{reason} (required: CI=true or EDULEDGER_REQUIRE_NODE=1)")
    pytest.skip(reason)


def _installed() -> bool:
    """node_modules holds what package-lock.json names (npm ci writes its own copy of the lock last)."""
    marker = JS_DIR / "node_modules" / ".package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= (JS_DIR / "package-lock.json").stat().st_mtime


def ensure_node_modules() -> str:
    """The path of ``node``, with the pinned packages installed; skips (or fails, when required) otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the outside verifier (Debian: apt-get install nodejs npm)")
    # One npm ci at a time: several test sessions may share this working tree.
    lock_path = Path(tempfile.gettempdir()) / f"eduledger-npm-ci-{os.getuid()}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)],
                    capture_output=True, text=True, timeout=NPM_CI_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                _unavailable(f"npm ci --prefix {JS_DIR} did not finish in {NPM_CI_TIMEOUT} s")
            if done.returncode != 0:
                _unavailable(f"npm ci --prefix {JS_DIR} failed: {done.stderr.strip()[-1500:]}")
    return node  # type: ignore[return-value]


def verify_with_node(credentials: Sequence[Mapping[str, Any]], documents: Mapping[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """One Node process checks every credential; its answers, in order."""
    node = ensure_node_modules()
    path = workdir / "node-verifier-input.json"
    path.write_text(json.dumps({"credentials": list(credentials), "documents": dict(documents)}, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([node, str(JS_DIR / "verify.mjs"), str(path)], capture_output=True, text=True, timeout=NODE_TIMEOUT, cwd=JS_DIR)
    if done.returncode != 0:
        pytest.fail(f"verify.mjs exited {done.returncode}: {done.stderr.strip()[-3000:]}")
    results = json.loads(done.stdout)
    assert isinstance(results, list) and len(results) == len(credentials), done.stdout[:2000]
    return results
