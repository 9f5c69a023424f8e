"""The genesis file: what starts a network.

It names the network (also the checkpoint origin and the log key's name), the
log's verifier key, the sequencing institution, the cosigning quorum and the
founding institutions with their signing and witness keys. Its SHA-256 over the
canonical JSON is the ``prev`` of block 0, and block 0 holds one
``institution.register`` entry per founder, in file order, with no auth.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedError
from ledger.model.entries import Entry, Statement
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time, parse_time

FORMAT = "eduledger-genesis/v1"


@dataclass(frozen=True)
class Founder:
    id: str
    name: str
    type: str
    signing_key: bytes
    witness_vkey: str


@dataclass(frozen=True)
class Genesis:
    network: str
    created: int
    log_vkey: str
    sequencer: str
    quorum: int
    founders: tuple[Founder, ...]

    def __post_init__(self) -> None:
        if not self.founders:
            raise MalformedError("a network needs at least one founding institution")
        ids = [f.id for f in self.founders]
        if len(set(ids)) != len(ids):
            raise MalformedError("founding institution ids must be unique")
        if self.sequencer not in ids:
            raise MalformedError(f"sequencer {self.sequencer!r} is not a founding institution")
        if not 0 <= self.quorum <= len(self.founders) - 1:
            raise MalformedError(
                f"quorum {self.quorum} must be between 0 and {len(self.founders) - 1}, the founding institutions besides "
                "the sequencer: the sequencer's own witness never counts towards finality"
            )
        for s in self.statements():  # validates every founder through the entry rules
            del s

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "network": self.network,
            "created": format_time(self.created),
            "log_vkey": self.log_vkey,
            "sequencer": self.sequencer,
            "quorum": self.quorum,
            "institutions": [
                {"id": f.id, "name": f.name, "type": f.type, "signing_key": b64e(f.signing_key), "witness_vkey": f.witness_vkey}
                for f in self.founders
            ],
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_json())

    def hash(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    def statements(self) -> list[Statement]:
        return [
            Statement(
                self.network,
                "institution.register",
                f.id,
                {"id": f.id, "name": f.name, "type": f.type, "signing_key": b64e(f.signing_key), "witness_vkey": f.witness_vkey},
            )
            for f in self.founders
        ]

    def entries(self) -> list[Entry]:
        return [Entry(s, None) for s in self.statements()]


def parse_genesis(data: bytes) -> Genesis:
    from ledger.tlog.encoding import b64d

    try:
        j = json.loads(data)
    except ValueError:
        raise MalformedError("genesis file is not JSON") from None
    if not isinstance(j, dict) or j.get("format") != FORMAT:
        raise MalformedError(f"not a genesis file (format must be {FORMAT})")
    try:
        founders = tuple(
            Founder(i["id"], i["name"], i["type"], b64d(i["signing_key"], "signing_key", size=32), i["witness_vkey"])
            for i in j["institutions"]
        )
        quorum = j["quorum"]
        if not isinstance(quorum, int) or isinstance(quorum, bool):
            raise MalformedError("quorum must be an integer")
        return Genesis(j["network"], parse_time(j["created"], "created"), j["log_vkey"], j["sequencer"], quorum, founders)
    except (KeyError, TypeError) as e:
        raise MalformedError(f"genesis file is missing or mistypes a field: {e}") from None
