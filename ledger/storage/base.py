"""The storage contract of a ledger node: one narrow Protocol and its value types.

Every backend (``sql.py`` for SQLite and PostgreSQL, ``memory.py`` for tests)
implements :class:`LedgerStore` with the same semantics; the tests in
``tests/storage/test_storage.py`` run the same assertions against each.

Two kinds of tables live behind it:

* **ledger tables**, append-only: ``entries``, ``blocks``, ``checkpoints``,
  ``cosignatures``, ``final_checkpoints``. No code path updates or deletes a
  row; the SQL schema also installs triggers that reject UPDATE, DELETE (and
  TRUNCATE on PostgreSQL, in every session) and, on SQLite, any INSERT onto a
  stored key (INSERT OR REPLACE would otherwise delete the old row), and the
  memory backend has no way to do either.
* **mutable tables**: ``witness_state`` (moved only by compare-and-swap) and
  ``meta`` (small operational key/value pairs, not part of the ledger).

Errors: a violated precondition or a repeated unique value raises
:class:`~ledger.errors.ConflictError` and writes nothing; a failing database
raises :class:`~ledger.errors.StorageError` and writes nothing (the memory
backend can also simulate "failed but persisted", see ``memory.py``); an absent
object raises :class:`~ledger.errors.NotFoundError`. Wrong argument types or
shapes (a 31-byte hash, ``start > end``) are programmer mistakes and raise
``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ledger.errors import ConflictError

HASH_SIZE = 32

#: Tables whose rows are never updated or deleted.
LEDGER_TABLES = ("entries", "blocks", "checkpoints", "cosignatures", "final_checkpoints")
#: Tables that are deliberately mutable.
MUTABLE_TABLES = ("witness_state", "meta")
#: ``meta`` keys of the node's alerts: set by ledger/node/integrity.py, cleared by ``ledger recover`` once resolved.
STORAGE_ALERT_KEY = "storage_alert"
FORK_ALERT_KEY = "fork_alert"
SEQUENCER_ALERT_KEY = "sequencer_alert"


@dataclass(frozen=True)
class StoredBlock:
    """One block as storage sees it: a contiguous run of entries and its header.

    ``header`` is the canonical JSON of the block header, opaque to storage;
    ``hash`` is its 32-byte hash. The block covers global entry indices
    ``first_index .. first_index + count - 1``.
    """

    height: int
    first_index: int
    count: int
    header: bytes
    hash: bytes

    def __post_init__(self) -> None:
        for name in ("height", "first_index", "count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"StoredBlock.{name} must be an int, got {type(value).__name__}")
        if self.height < 0 or self.first_index < 0:
            raise ValueError(f"StoredBlock height and first_index must be >= 0, got {self.height}, {self.first_index}")
        if self.count < 1:
            raise ValueError(f"StoredBlock.count must be >= 1, got {self.count}")
        if not isinstance(self.header, bytes) or not isinstance(self.hash, bytes):
            raise TypeError("StoredBlock.header and StoredBlock.hash must be bytes")
        if len(self.hash) != HASH_SIZE:
            raise ValueError(f"StoredBlock.hash must be {HASH_SIZE} bytes, got {len(self.hash)}")

    @property
    def end_index(self) -> int:
        """One past the last entry index of the block (the tree size after it)."""
        return self.first_index + self.count


class CompareAndSwapError(ConflictError):
    """A compare-and-swap lost: the stored value is not the expected one.

    ``current_size`` is the size actually stored (``None`` if there is no row),
    so the caller can tell the client where the state really is.
    """

    def __init__(self, message: str, *, current_size: int | None) -> None:
        super().__init__(message)
        self.current_size = current_size


@runtime_checkable
class LedgerStore(Protocol):
    """Durable storage of one ledger node.

    Durability contract: when a write method (``append_block``,
    ``add_checkpoint``, ``add_cosignature``, ``set_final``,
    ``cas_witness_state``, ``set_meta``) returns, the write is committed and
    durable: a crash or power loss afterwards does not lose it, and every later
    read, from this or any other connection, sees it. When it raises, nothing
    of that call was written (``ConflictError``, ``StorageError``); the one
    exception is a ``StorageError`` whose commit reached the database but whose
    acknowledgement did not, which callers must treat as "maybe written" and
    resolve by reading back (entries are unique by leaf hash, checkpoints by
    size, so a retry is idempotent or fails with ``ConflictError``).

    Ranges are half-open ``[start, end)`` with ``0 <= start <= end``; a range
    reaching past the stored data returns only what is stored (the caller
    compares lengths, the audit does exactly that).
    """

    # --- entries and blocks (append-only) ------------------------------------------

    def size(self) -> int:
        """Number of entries stored: one past the highest entry index."""
        ...

    def append_block(self, block: StoredBlock, entries: Sequence[tuple[bytes, bytes]]) -> None:
        """Store ``block`` and its ``(leaf_hash, data)`` entries in ONE transaction.

        Entry ``k`` gets index ``block.first_index + k``. Preconditions, checked
        inside the transaction: ``block.first_index == size()``,
        ``block.height == block_count()``, ``len(entries) == block.count``, no
        leaf hash repeated within ``entries`` or already stored. A violation
        raises ``ConflictError`` and writes nothing. When this returns, the
        block and all its entries are committed and durable.
        """
        ...

    def append_blocks(self, blocks: Sequence[tuple[StoredBlock, Sequence[tuple[bytes, bytes]]]]) -> None:
        """Store consecutive blocks in ONE transaction (group commit): all of them, or none.

        Each ``(block, entries)`` pair obeys ``append_block``'s preconditions as if the
        blocks before it were already stored. When this returns, every block is committed
        and durable; on any error none is stored. One commit (one fsync) for several
        blocks is what lets a busy sequencer keep up: see ledger/node/sequencer.py.
        """
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of entries ``start .. end-1`` (fewer if ``end > size()``)."""
        ...

    def entries(self, start: int, end: int) -> list[bytes]:
        """Data of entries ``start .. end-1`` (fewer if ``end > size()``)."""
        ...

    def entry(self, index: int) -> bytes:
        """Data of entry ``index``; ``NotFoundError`` if there is none."""
        ...

    def index_of(self, leaf_hash: bytes) -> int | None:
        """Index of the entry with this leaf hash, or ``None``."""
        ...

    def block_count(self) -> int:
        """Number of blocks stored: one past the highest height."""
        ...

    def block(self, height: int) -> StoredBlock:
        """The block at ``height``; ``NotFoundError`` if there is none."""
        ...

    def block_for_index(self, index: int) -> StoredBlock:
        """The block that contains entry ``index``; ``NotFoundError`` if none does."""
        ...

    def blocks(self, start: int, end: int) -> list[StoredBlock]:
        """Blocks of heights ``start .. end-1`` in order (fewer if ``end > block_count()``)."""
        ...

    # --- checkpoints and cosignatures (append-only) --------------------------------

    def add_checkpoint(self, size: int, note: bytes) -> None:
        """Store the log-signed checkpoint note for tree ``size``.

        Re-adding identical bytes for a stored size is a no-op (a retry after a
        lost acknowledgement); different bytes for a stored size raise
        ``ConflictError``. Durable when it returns.
        """
        ...

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note for ``size``, or ``None``."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """``(size, note)`` of the largest stored checkpoint, or ``None``."""
        ...

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        """Store ``witness``'s cosignature line for the checkpoint of ``size``.

        Identical ``(size, witness, line)`` again is a no-op; another line for
        the same ``(size, witness)`` raises ``ConflictError``. Durable when it
        returns.
        """
        ...

    def cosignatures(self, size: int) -> list[tuple[str, bytes]]:
        """``(witness, line)`` pairs stored for ``size``, sorted by witness name."""
        ...

    def checkpoint_sizes(self, start: int = 0) -> list[int]:
        """Sizes ``>= start`` of the stored checkpoints, ascending (the audit checks each one)."""
        ...

    def latest_cosigned_size(self) -> int | None:
        """The largest size any stored cosignature is for, or ``None``."""
        ...

    def set_final(self, size: int, note: bytes) -> None:
        """Record the quorum-cosigned note for ``size`` as the latest final checkpoint.

        Append-only, and finality only moves forward: a size below the latest
        final one, or other bytes for the same size, raise ``ConflictError``;
        identical bytes for the latest size are a no-op. Durable when it returns.
        """
        ...

    def latest_final(self) -> tuple[int, bytes] | None:
        """``(size, note)`` of the latest final checkpoint, or ``None``."""
        ...

    # --- mutable state -------------------------------------------------------------

    def cas_witness_state(self, origin: str, old_size: int | None, new_size: int, note: bytes) -> None:
        """Move this witness's last cosigned checkpoint for ``origin`` by compare-and-swap.

        ``old_size`` is the size the caller read (``None``: no state yet). If
        the stored state differs, raises :class:`CompareAndSwapError` (a
        ``ConflictError``) carrying the current size, and writes nothing.
        ``new_size < old_size`` is a programmer error (``ValueError``): a
        witness never moves backwards. Durable when it returns, so a
        cosignature made after it can never be contradicted after a crash.
        """
        ...

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        """``(size, note)`` this witness last cosigned for ``origin``, or ``None``."""
        ...

    def witness_states(self) -> list[tuple[str, int, bytes]]:
        """Every stored witness state as ``(origin, size, note)``, sorted by ``origin``.

        ``origin`` is the key ``cas_witness_state`` was given (a witness names its
        state after itself and the log, see ledger/network/witness.py); start-up
        and the audit compare each with the log (ledger/node/rollback.py)."""
        ...

    def get_meta(self, key: str) -> str | None:
        """Value of an operational key, or ``None``."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Insert or overwrite an operational key (not ledger data). Durable when it returns."""
        ...

    def close(self) -> None:
        """Release connections. Using the store afterwards raises ``ValueError``."""
        ...


# --- argument checks shared by the backends ---------------------------------------------


def check_range(start: int, end: int) -> None:
    """Reject a malformed half-open range (a programmer mistake)."""
    if not isinstance(start, int) or not isinstance(end, int):
        raise TypeError("range bounds must be ints")
    if not 0 <= start <= end:
        raise ValueError(f"need 0 <= start <= end, got start={start}, end={end}")


def check_block_entries(block: StoredBlock, entries: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Check the shape of an ``append_block`` call that needs no database.

    Returns the entries as a list of ``(leaf_hash, data)`` bytes pairs. Wrong
    types or hash lengths are programmer mistakes (``TypeError``/``ValueError``);
    a count mismatch or a leaf hash repeated within the block is a
    ``ConflictError``, as the contract says.
    """
    if not isinstance(block, StoredBlock):
        raise TypeError(f"block must be a StoredBlock, got {type(block).__name__}")
    rows = list(entries)
    if len(rows) != block.count:
        raise ConflictError(f"block {block.height} declares {block.count} entries but {len(rows)} were given")
    for leaf_hash, data in rows:
        if not isinstance(leaf_hash, bytes) or not isinstance(data, bytes):
            raise TypeError("entries must be (leaf_hash: bytes, data: bytes) pairs")
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
    if len({leaf_hash for leaf_hash, _ in rows}) != len(rows):
        raise ConflictError(f"block {block.height} repeats a leaf hash")
    return rows


def check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError("size must be an int")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")


def check_bytes(value: object, name: str) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")


def check_str(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, got {type(value).__name__}")


def check_witness_move(old_size: int | None, new_size: int) -> None:
    check_size(new_size)
    if old_size is not None:
        check_size(old_size)
        if new_size < old_size:
            raise ValueError(f"witness state cannot move backwards ({old_size} -> {new_size})")


def describe_size(size: int | None) -> str:
    return "no state" if size is None else f"size {size}"
