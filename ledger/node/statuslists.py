"""Status list slots for the credentials this node's institutions issue (``ledger/model/statuslist.py``).

A slot is taken on the ledger only when its anchor is sequenced, and issuing takes a while (a proof per
credential, then the sequencer's block time), so slots handed out here are *reserved* until then: two
issuances running at once in this process never pick the same slot. What an issuance reserved and never
anchored (a refused row, a crash) stays free on the ledger. Issuers in other processes (``eduledger
credential`` against a running node) pick among the free slots the node reports; a slot taken twice at
the same moment is refused by the ledger, which names it, and that row is issued again."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledger.model import statuslist
from ledger.model.registry import Registry

__all__ = ["StatusSlots"]


class StatusSlots:
    def __init__(self, registry: Callable[[], Registry]) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._reserved: dict[str, dict[int, set[int]]] = {}

    def taken(self, institution: str, number: int) -> frozenset[int]:
        """The slots of list ``number`` taken on the ledger or reserved here."""
        on_ledger = self._registry().status_used.get(institution, {}).get(number, set())
        reserved = self._reserved.get(institution, {}).get(number)
        if reserved:
            reserved -= on_ledger  # anchored since: the ledger holds them now
        return frozenset(on_ledger) | frozenset(reserved or ())

    def reserve(self, institution: str, count: int) -> tuple[list[tuple[int, int]], list[int]]:
        """``count`` free slots (list, index), reserved, and the lists among them that have no published status
        list yet (the issuer publishes an empty one with its anchors, so outside verifiers find it)."""
        with self._lock:
            slots = statuslist.allocate(_Taken(self, institution), count)
            mine = self._reserved.setdefault(institution, {})
            for number, index in slots:
                mine.setdefault(number, set()).add(index)
        published = self._registry().status_published
        return slots, sorted({n for n, _ in slots if (institution, n) not in published})


class _Taken:
    """``allocate``'s view of the taken slots: looked up list by list, as it asks."""

    def __init__(self, slots: StatusSlots, institution: str) -> None:
        self._slots, self._institution = slots, institution

    def get(self, number: int, default: object = ()) -> frozenset[int]:
        return self._slots.taken(self._institution, number)
