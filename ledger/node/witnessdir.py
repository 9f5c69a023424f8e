"""The witness directory: every witness key and witness state of a node, apart from its data directory.

::

    <witness-dir>/keys/<inst>.witness.key   an institution's cosigning (witness) key (encrypted, 0600)
    <witness-dir>/witness.db                the last checkpoint each witness key cosigned, per log
                                            (SQLite, ledger/storage/witness_state.py), unless --witness-db
    <witness-dir>/witness.lock              held (flock) by the one process using this directory

Default: ``<data>.witness/``, a sibling of the data directory (``default_witness_dir``).
Why apart: a copy of the data directory (its log key, its database) must not carry a
working witness, or the copy could cosign a fork with the original's witness key; and a
restore of an older backup of the log's database must not roll the witness back. A
deployment puts the witness directory on another volume and backs it up on its own
(docs/network.md, "Witness directory").

One process per witness directory: :func:`open_witness_dir` takes an exclusive
``flock`` on ``witness.lock`` and holds it for the life of the process (the kernel
drops it when the process dies, ``kill -9`` included), so a second process on the
same directory is refused (:class:`WitnessDirInUse`) instead of keeping a second copy
of the state in memory. Within one process the directory is opened once and shared
(``eduledger run`` opens it before the server starts, the node then uses it).
With ``witness_db`` (a PostgreSQL URL other than the log's) the state lives in that
database and no lock is taken: its compare-and-swap serialises every process of the
institution (leader and standby share one witness state).

Migration from the old layout (witness keys in ``<data>/keys``, witness state in the
log's database), done by :func:`open_witness_dir` at every start: each
``<data>/keys/<inst>.witness.key`` is moved into ``<witness-dir>/keys`` (an identical
file already there: the stray copy is deleted; a different one: refused); then, if
the witness store holds no state yet, the log database's witness state rows of the
keys held here are copied into it (compare-and-swap from nothing). The rows stay in
the log database and are never read again once a witness store exists.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from ledger.errors import ConflictError, KeyFileError
from ledger.node import datadir
from ledger.storage import CompareAndSwapError, LedgerStore
from ledger.storage.witness_state import SqlWitnessStateStore, sqlite_url

STATE_FILE = "witness.db"
LOCK_FILE = "witness.lock"


class WitnessDirInUse(ConflictError):
    """Another process holds this witness directory (its ``witness.lock``)."""


@dataclass
class WitnessDir:
    """An open witness directory: its path and its state store (lock held unless ``witness_db``);
    ``migrated`` says what opening it moved or copied from the old layout, for the caller to report."""

    path: Path
    store: SqlWitnessStateStore
    migrated: list[str] = field(default_factory=list)
    _lock_fd: int | None = None
    _users: int = 1

    def close(self) -> None:
        """Release one user; the last one closes the store and drops the lock."""
        self._users -= 1
        if self._users > 0:
            return
        _OPEN.pop(self.path, None)
        self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None


#: Witness directories open in this process, by resolved path.
_OPEN: dict[Path, WitnessDir] = {}


def _lock(path: Path) -> int:
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        finally:
            os.close(fd)
        raise WitnessDirInUse(
            f"the witness directory {path} is in use by another process (pid {holder}); "
            "one witness directory serves one process: stop the other node, or give this one its own --witness-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def open_witness_dir(
    path: Path,
    *,
    data_dir: Path,
    log_store: LedgerStore | None,
    network: str,
    witness_db: str | None = None,
    log_database_url: str | None = None,
) -> WitnessDir:
    """Open (creating, locking and migrating into) the witness directory ``path``.

    ``log_store``: the log's database, read once to copy the old layout's witness state
    (None: nothing to copy). Raises WitnessDirInUse when another process holds it,
    ConflictError for a ``witness_db`` that is the log's own database, KeyFileError
    when a migrated key file clashes with a different one already in ``path``."""
    path = path.resolve()
    held = _OPEN.get(path)
    if held is not None:
        held._users += 1
        return held
    if witness_db is not None and log_database_url is not None and _same_database(witness_db, log_database_url):
        raise ConflictError(
            "--witness-db names the log's own database: a restore of the log's database would roll the witness back; "
            "give the witness state a database of its own"
        )
    path.mkdir(parents=True, exist_ok=True)
    (path / "keys").mkdir(mode=0o700, exist_ok=True)
    fd = _lock(path) if witness_db is None else None
    try:
        done = _move_keys(data_dir, path)
        store = SqlWitnessStateStore(witness_db or sqlite_url(path / STATE_FILE))
        try:
            if log_store is not None:
                done += _copy_state(store, log_store, held_witness_names(path, network), network)
        except Exception:
            store.close()
            raise
    except Exception:
        if fd is not None:
            os.close(fd)
        raise
    wd = WitnessDir(path, store, done, fd)
    _OPEN[path] = wd
    return wd


def open_state_readonly(path: Path, *, witness_db: str | None = None) -> SqlWitnessStateStore | None:
    """The witness state of ``path`` for a reader (the audit, ``recover``): no lock, no migration;
    None when the directory has no state yet (a data directory of the old layout not started since)."""
    if witness_db is not None:
        return SqlWitnessStateStore(witness_db)
    state = path.resolve() / STATE_FILE
    return SqlWitnessStateStore(sqlite_url(state)) if state.exists() else None


def held_witness_names(path: Path, network: str) -> list[str]:
    """The witness names of the key files in ``path`` (no passphrase needed)."""
    return [datadir.witness_name(network, inst) for inst in datadir.witness_key_institutions(path)]


def _move_keys(data_dir: Path, path: Path) -> list[str]:
    """Move the old layout's ``<data>/keys/*.witness.key`` into the witness directory."""
    done = []
    for old in sorted((data_dir / "keys").glob("*.witness.key")):
        new = path / "keys" / old.name
        if new.exists():
            if new.read_bytes() != old.read_bytes():
                raise KeyFileError(
                    f"{old} and {new} are different witness keys of one institution; keep the one in the witness directory "
                    f"and remove {old}"
                )
            old.unlink()
            done.append(f"removed {old}, a copy of the witness key already in the witness directory")
            continue
        # Copy, fsync, then unlink: a crash in between leaves the key in both places (identical: removed next start).
        data = old.read_bytes()
        tmp = new.with_name(new.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, new)
        old.unlink()
        done.append(f"moved the witness key {old} here (the old layout kept it in the data directory)")
    return done


def _copy_state(store: SqlWitnessStateStore, log_store: LedgerStore, names: list[str], network: str) -> list[str]:
    """Copy the log database's witness state of the keys held here into a witness store that has none."""
    if store.witness_states():
        return []  # not new: its state is the witness's, never overwritten from the log's database
    done = []
    wanted = {f"{name} {network}" for name in names}
    for key, size, note in log_store.witness_states():
        if key not in wanted:
            continue
        try:
            store.cas_witness_state(key, None, size, note)
        except CompareAndSwapError:
            continue  # another process of this institution copied it first (a shared --witness-db)
        done.append(f"copied the witness state {key!r} (size {size}) from the log's database; it is read from here from now on")
    return done


def _same_database(a: str, b: str) -> bool:
    from ledger.storage.sql import normalize_url

    try:
        ua, ub = normalize_url(a), normalize_url(b)
    except Exception:
        return a == b
    return (ua.drivername, ua.host, ua.port, ua.database) == (ub.drivername, ub.host, ub.port, ub.database)


__all__ = ["LOCK_FILE", "STATE_FILE", "WitnessDir", "WitnessDirInUse", "held_witness_names", "open_state_readonly", "open_witness_dir"]
