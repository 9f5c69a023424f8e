"""Shared fixtures.

PostgreSQL: ``postgres_url`` starts a PRIVATE server for the test session
(Debian's binaries from /usr/lib/postgresql/*/bin, initdb as the ``postgres``
user when we are root, trust auth, 127.0.0.1 on a free port, unix socket in
its own temp dir) and stops it at the end. ``pg_store_url`` gives each test a
fresh database on it. If no server can be started the PostgreSQL tests are
skipped with the reason, unless ``EDULEDGER_REQUIRE_POSTGRES=1`` or
``CI=true``: then they fail, because CI must exercise the real database.
That server runs with fsync, synchronous_commit and full_page_writes off, for
speed. ``durable_postgres_server`` / ``durable_pg_store_url`` are a second
private server, started the same way (``private_postgres``), with all three
on: the failover tests, which must catch a lost write, run on it.

``store_url`` runs a test once per backend: sqlite, postgres, memory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port

PG_USER = "postgres"
# The shared server holds throwaway test data and is never crashed: durability off, for speed.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# What a production server runs with; the failover tests must see what a lost write would look like.
DURABLE_SETTINGS = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")


def _postgres_required() -> bool:
    return os.environ.get("EDULEDGER_REQUIRE_POSTGRES") == "1" or os.environ.get("CI", "").lower() == "true"


def _find_pg_bindir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's layout first, then PATH."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL server in a temp dir; ``start`` raises RuntimeError with the reason.

    ``settings`` are ``name=value`` server settings (``-c``), e.g. FAST_SETTINGS or DURABLE_SETTINGS."""

    def __init__(self, settings: tuple[str, ...] = FAST_SETTINGS) -> None:
        self.settings = settings
        self.tmp: Path | None = None
        self.port = 0
        self.bindir: Path | None = None
        self._run_as: list[str] = []

    @property
    def data(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "data"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._run_as + list(args), capture_output=True, text=True, timeout=timeout)

    def start(self) -> str:
        self.bindir = _find_pg_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH")
        # A world-traversable parent (not pytest's tmp_path, which may sit under /root).
        self.tmp = Path(tempfile.mkdtemp(prefix="eduledger-pg-"))
        if os.geteuid() == 0:
            # initdb refuses to run as root: run the server as the postgres user.
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                raise RuntimeError(f"running as root and there is no {PG_USER!r} user to run PostgreSQL as") from None
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root and runuser is not available to drop to the postgres user")
            shutil.chown(self.tmp, PG_USER, PG_USER)
            self._run_as = ["runuser", "-u", PG_USER, "--"]
        init = self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER, "-E", "UTF8", "--no-sync"
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        last = ""
        for _ in range(3):  # the free port may be taken between choosing and binding it
            self.port = free_port()
            options = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 " + " ".join(f"-c {s}" for s in self.settings)
            started = self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.tmp / "server.log"),
                "-w", "-t", "60", "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0 and self._wait_ready():
                return self.url("postgres")
            last = self._log_tail() or started.stderr.strip()
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        raise RuntimeError(f"PostgreSQL did not start: {last}")

    def _wait_ready(self, timeout: float = 30) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(**self.connect_args("postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def _log_tail(self) -> str:
        try:
            assert self.tmp is not None
            return "\n".join((self.tmp / "server.log").read_text().splitlines()[-5:])
        except OSError:
            return ""

    def connect_args(self, dbname: str) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "user": PG_USER, "dbname": dbname}

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        if self.bindir is not None and self.tmp is not None and self.data.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", timeout=60)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def private_postgres(settings: tuple[str, ...]) -> Iterator[PrivatePostgres]:
    """Start a private server with ``settings``, yield it, stop it; skip (or fail, when required) if it cannot start."""
    server = PrivatePostgres(settings)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        server.stop()
        reason = f"cannot start a private PostgreSQL server: {e}"
        if _postgres_required():
            pytest.fail(f"{reason} (required: EDULEDGER_REQUIRE_POSTGRES=1 or CI=true)")
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


def fresh_database(server: PrivatePostgres) -> Iterator[str]:
    """A new, empty database on ``server``; dropped afterwards (even with connections left open)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**server.connect_args("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(**server.connect_args("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres]:
    """The private PostgreSQL server of this test session (skips or fails if it cannot start)."""
    yield from private_postgres(FAST_SETTINGS)


@pytest.fixture(scope="session")
def durable_postgres_server() -> Iterator[PrivatePostgres]:
    """A second private server with fsync, synchronous_commit and full_page_writes on (the failover tests)."""
    yield from private_postgres(DURABLE_SETTINGS)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PrivatePostgres) -> str:
    """URL of the maintenance database ``postgres`` on the session's private server."""
    return postgres_server.url("postgres")


@pytest.fixture
def pg_store_url(postgres_server: PrivatePostgres) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards (even with connections left open)."""
    yield from fresh_database(postgres_server)


@pytest.fixture
def durable_pg_store_url(durable_postgres_server: PrivatePostgres) -> Iterator[str]:
    """A fresh, empty database on the durable server (fsync and synchronous_commit on)."""
    yield from fresh_database(durable_postgres_server)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_store_url"))
    return "memory://"
