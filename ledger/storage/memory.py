"""In-memory :class:`~ledger.storage.base.LedgerStore` for tests: append-only by construction, with fault injection.

Same semantics as the SQL backend, checked by the same tests. Ledger data is
held in :class:`AppendOnlyList` / :class:`AppendOnlyMap`, which have no
operation that replaces or removes an element, so even a bug here cannot
rewrite history. Values are stored as immutable ``bytes`` copies.

"Durable" means: committed in this object for as long as it lives (there is no
crash to survive, which is exactly what fault injection simulates).

Fault injection, in the style of sunlight's tests: arm a fault for the next
call of a write method and choose what the failure leaves behind::

    store = MemoryStore()
    store.inject_fault("append_block", FAIL_NOT_PERSISTED)  # raises StorageError, stores nothing
    store.inject_fault("add_checkpoint", FAIL_BUT_PERSISTED)  # stores, then raises StorageError
    MemoryStore(faults={"set_final": FAIL_NOT_PERSISTED})     # armed from the start

``FAIL_NOT_PERSISTED`` is a database that failed before commit;
``FAIL_BUT_PERSISTED`` is a commit whose acknowledgement was lost (the caller
sees an error although the write happened), the case a write path must
recover from by reading back. Each armed fault fires once, at the point of the
write: argument and precondition checks come first, so a call that raises
``ConflictError`` or ``ValueError`` leaves the fault armed. Faults for one
method fire in the order they were armed. A call that would be an idempotent
no-op still consumes the fault (the database would have been asked).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

from ledger.errors import ConflictError, NotFoundError, StorageError
from ledger.storage.base import (
    CompareAndSwapError,
    StoredBlock,
    check_block_entries,
    check_bytes,
    check_range,
    check_size,
    check_str,
    check_witness_move,
    describe_size,
)

FAIL_NOT_PERSISTED = "fail_not_persisted"
FAIL_BUT_PERSISTED = "fail_but_persisted"
FAULT_MODES = (FAIL_NOT_PERSISTED, FAIL_BUT_PERSISTED)
#: The write methods a fault can be armed for.
WRITE_OPS = ("append_block", "add_checkpoint", "add_cosignature", "set_final", "cas_witness_state", "set_meta")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AppendOnlyList(Generic[V]):
    """A sequence that can only grow: no item assignment, deletion, pop or clear."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[V] = []

    def append(self, item: V) -> None:
        self._items.append(item)

    def extend(self, items: Sequence[V]) -> None:
        self._items.extend(items)

    def __getitem__(self, index: int) -> V:
        return self._items[index]

    def slice(self, start: int, end: int) -> list[V]:
        return self._items[start:end]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[V]:
        return iter(self._items)


class AppendOnlyMap(Generic[K, V]):
    """A mapping whose keys, once added, keep their value forever."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[K, V] = {}

    def add(self, key: K, value: V) -> None:
        if key in self._items:
            raise ConflictError(f"append-only: {key!r} is already stored")
        self._items[key] = value

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[K]:
        return list(self._items)


class MemoryStore:
    """LedgerStore held in memory; thread-safe; see the module docstring for faults."""

    def __init__(self, *, faults: Mapping[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._closed = False
        # Ledger data: append-only.
        self._leaves: AppendOnlyList[bytes] = AppendOnlyList()
        self._datas: AppendOnlyList[bytes] = AppendOnlyList()
        self._index: AppendOnlyMap[bytes, int] = AppendOnlyMap()
        self._blocks: AppendOnlyList[StoredBlock] = AppendOnlyList()
        self._block_starts: AppendOnlyList[int] = AppendOnlyList()
        self._checkpoints: AppendOnlyMap[int, bytes] = AppendOnlyMap()
        self._cosignatures: AppendOnlyMap[tuple[int, str], bytes] = AppendOnlyMap()
        self._finals: AppendOnlyList[tuple[int, bytes]] = AppendOnlyList()
        self._latest_checkpoint_size: int | None = None  # derived from _checkpoints, kept for O(1) reads
        # Mutable state.
        self._witness: dict[str, tuple[int, bytes]] = {}
        self._meta: dict[str, str] = {}
        self._faults: defaultdict[str, deque[str]] = defaultdict(deque)
        for op, mode in (faults or {}).items():
            self.inject_fault(op, mode)

    def __repr__(self) -> str:
        return f"MemoryStore(size={len(self._datas)}, blocks={len(self._blocks)})"

    # --- fault injection ------------------------------------------------------------------

    def inject_fault(self, op: str, mode: str) -> None:
        """Make the next call of write method ``op`` fail with ``StorageError`` in ``mode``."""
        if op not in WRITE_OPS:
            raise ValueError(f"unknown write operation {op!r}; one of {', '.join(WRITE_OPS)}")
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(FAULT_MODES)}")
        with self._lock:
            self._faults[op].append(mode)

    def pending_faults(self) -> dict[str, list[str]]:
        """Faults armed and not fired yet, per write method."""
        with self._lock:
            return {op: list(modes) for op, modes in self._faults.items() if modes}

    def _commit(self, op: str, write: Callable[[], None]) -> None:
        """Apply ``write`` (a no-argument callable), honouring an armed fault for ``op``.

        Called with the lock held, after every check passed, so ``write``
        cannot fail halfway: the store changes completely or not at all.
        """
        modes = self._faults.get(op)
        mode = modes.popleft() if modes else None
        if mode == FAIL_NOT_PERSISTED:
            raise StorageError(f"injected fault: {op} failed, nothing was persisted")
        write()
        if mode == FAIL_BUT_PERSISTED:
            raise StorageError(f"injected fault: {op} failed after it was persisted")

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    # --- entries and blocks ---------------------------------------------------------------

    def size(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._datas)

    def append_block(self, block: StoredBlock, entries: Sequence[tuple[bytes, bytes]]) -> None:
        self.append_blocks([(block, entries)])

    def append_blocks(self, blocks: Sequence[tuple[StoredBlock, Sequence[tuple[bytes, bytes]]]]) -> None:
        checked = [(block, check_block_entries(block, entries)) for block, entries in blocks]
        with self._lock:
            self._check_open()
            size, count = len(self._datas), len(self._blocks)
            staged: dict[bytes, int] = {}
            for block, rows in checked:
                if block.first_index != size:
                    raise ConflictError(f"block {block.height} starts at index {block.first_index}, the log has {size} entries")
                if block.height != count:
                    raise ConflictError(f"block height {block.height} is not next, the chain has {count} blocks")
                for k, (leaf_hash, _) in enumerate(rows):
                    stored = self._index.get(leaf_hash)
                    if stored is None:
                        stored = staged.get(leaf_hash)
                    if stored is not None:
                        raise ConflictError(f"block {block.height}: leaf hash {leaf_hash.hex()} is already stored at index {stored}")
                    staged[leaf_hash] = size + k
                size, count = size + block.count, count + 1
            copies = [
                (
                    StoredBlock(b.height, b.first_index, b.count, bytes(b.header), bytes(b.hash)),
                    [(bytes(lh), bytes(d)) for lh, d in rows],
                )
                for b, rows in checked
            ]

            def write() -> None:
                for stored_block, rows in copies:
                    for k, (lh, d) in enumerate(rows):
                        self._index.add(lh, stored_block.first_index + k)
                        self._leaves.append(lh)
                        self._datas.append(d)
                    self._blocks.append(stored_block)
                    self._block_starts.append(stored_block.first_index)

            # One operation for fault injection, whatever the number of blocks.
            self._commit("append_block", write)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        check_range(start, end)
        with self._lock:
            self._check_open()
            return self._leaves.slice(start, end)

    def entries(self, start: int, end: int) -> list[bytes]:
        check_range(start, end)
        with self._lock:
            self._check_open()
            return self._datas.slice(start, end)

    def entry(self, index: int) -> bytes:
        with self._lock:
            self._check_open()
            if not 0 <= index < len(self._datas):
                raise NotFoundError(f"no entry {index}")
            return self._datas[index]

    def index_of(self, leaf_hash: bytes) -> int | None:
        with self._lock:
            self._check_open()
            return self._index.get(leaf_hash)

    def block_count(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._blocks)

    def block(self, height: int) -> StoredBlock:
        with self._lock:
            self._check_open()
            if not 0 <= height < len(self._blocks):
                raise NotFoundError(f"no block {height}")
            return self._blocks[height]

    def block_for_index(self, index: int) -> StoredBlock:
        with self._lock:
            self._check_open()
            pos = bisect.bisect_right(self._block_starts, index) - 1  # type: ignore[call-overload]
            if pos < 0 or index >= self._blocks[pos].end_index:
                raise NotFoundError(f"no block contains entry {index}")
            return self._blocks[pos]

    def blocks(self, start: int, end: int) -> list[StoredBlock]:
        check_range(start, end)
        with self._lock:
            self._check_open()
            return self._blocks.slice(start, end)

    # --- checkpoints and cosignatures -----------------------------------------------------

    def add_checkpoint(self, size: int, note: bytes) -> None:
        check_size(size)
        check_bytes(note, "note")
        with self._lock:
            self._check_open()
            existing = self._checkpoints.get(size)
            if existing is not None and existing != note:
                raise ConflictError(f"a different checkpoint for size {size} is already stored")
            copy = bytes(note)

            def write() -> None:
                if existing is None:  # identical bytes again: a retry, nothing to add
                    self._checkpoints.add(size, copy)
                    self._latest_checkpoint_size = max(size, self._latest_checkpoint_size or 0)

            self._commit("add_checkpoint", write)

    def checkpoint(self, size: int) -> bytes | None:
        with self._lock:
            self._check_open()
            return self._checkpoints.get(size)

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._lock:
            self._check_open()
            size = self._latest_checkpoint_size
            if size is None:
                return None
            return size, self._checkpoints.get(size)  # type: ignore[return-value]

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        check_size(size)
        check_str(witness, "witness")
        check_bytes(line, "line")
        with self._lock:
            self._check_open()
            existing = self._cosignatures.get((size, witness))
            if existing is not None and existing != line:
                raise ConflictError(f"witness {witness!r} already has a different cosignature for size {size}")
            copy = bytes(line)

            def write() -> None:
                if existing is None:
                    self._cosignatures.add((size, witness), copy)

            self._commit("add_cosignature", write)

    def cosignatures(self, size: int) -> list[tuple[str, bytes]]:
        with self._lock:
            self._check_open()
            found = [(w, self._cosignatures.get((s, w))) for s, w in self._cosignatures.keys() if s == size]
            return sorted(found)  # type: ignore[arg-type]

    def checkpoint_sizes(self, start: int = 0) -> list[int]:
        check_size(start)
        with self._lock:
            self._check_open()
            return sorted(s for s in self._checkpoints.keys() if s >= start)

    def latest_cosigned_size(self) -> int | None:
        with self._lock:
            self._check_open()
            return max((s for s, _ in self._cosignatures.keys()), default=None)

    def set_final(self, size: int, note: bytes) -> None:
        check_size(size)
        check_bytes(note, "note")
        with self._lock:
            self._check_open()
            latest = self._finals[-1] if len(self._finals) else None
            if latest is not None:
                if size < latest[0]:
                    raise ConflictError(f"final checkpoint {size} is older than the stored final {latest[0]}")
                if size == latest[0] and note != latest[1]:
                    raise ConflictError(f"a different final checkpoint for size {size} is already stored")
            repeat = latest is not None and size == latest[0]
            copy = bytes(note)

            def write() -> None:
                if not repeat:
                    self._finals.append((size, copy))

            self._commit("set_final", write)

    def latest_final(self) -> tuple[int, bytes] | None:
        with self._lock:
            self._check_open()
            return self._finals[-1] if len(self._finals) else None

    # --- mutable state --------------------------------------------------------------------

    def cas_witness_state(self, origin: str, old_size: int | None, new_size: int, note: bytes) -> None:
        check_str(origin, "origin")
        check_witness_move(old_size, new_size)
        check_bytes(note, "note")
        with self._lock:
            self._check_open()
            current = self._witness.get(origin)
            current_size = None if current is None else current[0]
            if current_size != old_size:
                raise CompareAndSwapError(
                    f"witness state for {origin!r} is at {describe_size(current_size)}, expected {describe_size(old_size)}",
                    current_size=current_size,
                )
            copy = bytes(note)

            def write() -> None:
                self._witness[origin] = (new_size, copy)

            self._commit("cas_witness_state", write)

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        with self._lock:
            self._check_open()
            return self._witness.get(origin)

    def witness_states(self) -> list[tuple[str, int, bytes]]:
        with self._lock:
            self._check_open()
            return [(origin, size, note) for origin, (size, note) in sorted(self._witness.items())]

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            self._check_open()
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        check_str(key, "key")
        check_str(value, "value")
        with self._lock:
            self._check_open()

            def write() -> None:
                self._meta[key] = value

            self._commit("set_meta", write)

    def close(self) -> None:
        with self._lock:
            self._closed = True
