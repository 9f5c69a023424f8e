"""A witness's catch-up at start: learn from the peers what it cosigned before, then cosign.

A witness directory restored from an older copy remembers an older checkpoint than
the one its key last cosigned. Were it to cosign at once, it could cosign a checkpoint
that the newer ones do not extend. So before it answers add-checkpoint a witness asks
every peer (peers.json) for the checkpoints it holds with their cosignatures:

* ``GET /checkpoint``, the latest final checkpoint (C2SP tlog-tiles);
* ``GET /api/v1/ledger/checkpoint/latest``, the newest signed one with every
  cosignature collected so far (on the sequencer: the newest its witnesses cosigned).

and moves its state to the newest one carrying a valid cosignature by its own key
(:meth:`ledger.network.witness.Witness.catch_up`). Until then it answers 503 with
Retry-After (``Witness.not_ready``).

The wait is bounded: the round ends when every peer has answered (a 200, or a 404
"nothing final yet") or after ``wait`` seconds, asking again every ``poll`` seconds
the peers that did not answer. If none answered, the witness starts anyway with a
warning: an outage of every peer must not stop the network, at the price that a
witness restored from an old copy during such an outage is not protected by this
round (docs/network.md, "Witness directory"). HTTP only; the checks are the witness's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ledger.errors import EduledgerError
from ledger.network.witness import SameSizeFork, Witness

log = logging.getLogger("eduledger.witness")

PATHS = ("/checkpoint", "/api/v1/ledger/checkpoint/latest")
#: Largest checkpoint note read from a peer (a checkpoint with every cosignature is a few KiB).
MAX_NOTE = 64 * 1024


@dataclass(frozen=True)
class CatchUp:
    """What a round did: the peers that answered and did not, and the sizes the witnesses moved to."""

    answered: tuple[str, ...]
    silent: tuple[str, ...]
    moved: dict[str, int]


async def _ask(client: httpx.AsyncClient, url: str) -> list[bytes] | None:
    """The checkpoint notes a peer serves, or None if it did not answer."""
    notes: list[bytes] = []
    answered = False
    for path in PATHS:
        try:
            r = await client.get(url.rstrip("/") + path)
        except httpx.HTTPError:
            continue
        if r.status_code == 404:
            answered = True  # nothing there yet: an answer
        elif r.status_code == 200 and len(r.content) <= MAX_NOTE:
            answered = True
            notes.append(r.content)
    return notes if answered else None


def apply(witnesses: Sequence[Witness], origin: str, notes: Sequence[bytes]) -> dict[str, int]:
    """Offer ``notes`` to every witness; the sizes those that moved moved to.

    A same-size fork found here is logged and left to the node's split-view checks
    (the witness does not move)."""
    moved = {}
    for w in witnesses:
        try:
            size = w.catch_up(origin, notes)
        except SameSizeFork as e:
            log.error("witness %s: %s", w.name, e)
            continue
        if size is not None:
            moved[w.name] = size
    return moved


async def catch_up(
    witnesses: Sequence[Witness],
    origin: str,
    peer_urls: Sequence[str],
    *,
    wait: float,
    poll: float = 0.5,
    timeout: float = 3.0,
) -> CatchUp:
    """Run the start-up round for ``witnesses`` (already ``not_ready``) and make them ready.

    Every witness is made ready when this returns, whatever happened (module docstring)."""
    pending = list(dict.fromkeys(peer_urls))
    answered: list[str] = []
    moved: dict[str, int] = {}
    deadline = time.monotonic() + wait
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            while pending:
                results = await asyncio.gather(*(_ask(client, url) for url in pending))
                still = []
                for url, notes in zip(pending, results, strict=True):
                    if notes is None:
                        still.append(url)
                        continue
                    answered.append(url)
                    moved.update(await asyncio.to_thread(apply, witnesses, origin, notes))
                pending = still
                if not pending or time.monotonic() + poll > deadline:
                    break
                await asyncio.sleep(poll)
        names = ", ".join(w.name for w in witnesses)
        if pending and not answered:
            log.warning(
                "witness catch-up: no peer answered within %.0f s (%s); cosigning starts without it: a witness "
                "restored from an older copy is not protected by this round", wait, ", ".join(pending),
            )
        elif pending:
            log.warning("witness catch-up: %s did not answer within %.0f s; going by the %d that did", ", ".join(pending), wait, len(answered))
        for name, size in moved.items():
            log.warning("witness catch-up: %s moved to size %d, the newest checkpoint its own key cosigned (its state was older)", name, size)
        log.info("witness catch-up done for %s", names)
    except EduledgerError as e:  # the witness's store failed: its own answers will say so
        log.error("witness catch-up failed: %s", e)
    finally:
        for w in witnesses:
            w.not_ready = None
    return CatchUp(tuple(answered), tuple(pending), moved)


__all__ = ["CatchUp", "apply", "catch_up"]
