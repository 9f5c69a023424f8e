"""The trust policy: what a verifier believes, fixed by the verifier, never by a bundle.

A trust file (``eduledger-trust/v1``, exported by ``eduledger network export-trust``)
names the network, its genesis hash, the log key, the witness keys of the
institutions and the quorum (C2SP tlog-policy in JSON), and the roster of
institutions with their signing keys and validity intervals as of the export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger.encoding import b64d, b64e
from ledger.errors import MalformedError, PolicyError
from ledger.note import SIG_COSIGNATURE_V1, SIG_ED25519, Verifier
from ledger.timefmt import format_time, parse_time
from verifier import safejson

FORMAT = "eduledger-trust/v1"


@dataclass(frozen=True)
class KeyValidity:
    key: bytes
    valid_from: int
    valid_until: int | None

    def valid_at(self, t: int) -> bool:
        return self.valid_from <= t and (self.valid_until is None or t < self.valid_until)


@dataclass(frozen=True)
class RosterEntry:
    id: str
    name: str
    type: str
    keys: tuple[KeyValidity, ...]


@dataclass(frozen=True)
class TrustPolicy:
    network: str
    genesis_hash: bytes
    log: Verifier
    witnesses: tuple[Verifier, ...]
    quorum: int
    roster: tuple[RosterEntry, ...]
    as_of: int = 0

    def __post_init__(self) -> None:
        if self.log.sig_type != SIG_ED25519 or self.log.name != self.network:
            raise PolicyError("the log key must be an Ed25519 key named after the network")
        if any(w.sig_type != SIG_COSIGNATURE_V1 for w in self.witnesses):
            raise PolicyError("witness keys must be cosignature/v1 keys")
        if len({w.key_id for w in self.witnesses}) != len(self.witnesses):
            raise PolicyError("a witness key is listed twice")
        if not 1 <= self.quorum <= len(self.witnesses):
            raise PolicyError(f"quorum {self.quorum} must be between 1 and the {len(self.witnesses)} witnesses")

    def institution(self, institution_id: str) -> RosterEntry | None:
        return next((r for r in self.roster if r.id == institution_id), None)

    # --- files ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "network": self.network,
            "genesis_hash": self.genesis_hash.hex(),
            "as_of": format_time(self.as_of),
            "log": self.log.vkey,
            "witnesses": [w.vkey for w in self.witnesses],
            "quorum": self.quorum,
            "institutions": [
                {
                    "id": r.id,
                    "name": r.name,
                    "type": r.type,
                    "keys": [
                        {"key": b64e(k.key), "valid_from": format_time(k.valid_from), "valid_until": format_time(k.valid_until) if k.valid_until is not None else None}
                        for k in r.keys
                    ],
                }
                for r in self.roster
            ],
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TrustPolicy":
        j = safejson.loads(data)
        if not isinstance(j, dict) or j.get("format") != FORMAT:
            raise MalformedError(f"not a trust file (format must be {FORMAT})")
        try:
            roster = tuple(
                RosterEntry(
                    i["id"],
                    i["name"],
                    i["type"],
                    tuple(
                        KeyValidity(
                            b64d(k["key"], "key", size=32),
                            parse_time(k["valid_from"], "valid_from"),
                            None if k["valid_until"] is None else parse_time(k["valid_until"], "valid_until"),
                        )
                        for k in i["keys"]
                    ),
                )
                for i in j["institutions"]
            )
            quorum = j["quorum"]
            if not isinstance(quorum, int) or isinstance(quorum, bool):
                raise MalformedError("quorum must be an integer")
            return cls(
                network=j["network"],
                genesis_hash=bytes.fromhex(j["genesis_hash"]),
                log=Verifier.from_vkey(j["log"]),
                witnesses=tuple(Verifier.from_vkey(w) for w in j["witnesses"]),
                quorum=quorum,
                roster=roster,
                as_of=parse_time(j["as_of"], "as_of"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedError(f"trust file is missing or mistypes a field: {e}") from None

    @classmethod
    def from_registry(cls, genesis: Any, registry: Any, *, as_of: int | None = None) -> "TrustPolicy":
        """The policy a node exports: its genesis keys and quorum, and its registry's roster."""
        import time

        witnesses = {f.id: Verifier.from_vkey(f.witness_vkey) for f in genesis.founders}
        for inst in registry.institutions.values():
            witnesses.setdefault(inst.id, Verifier.from_vkey(inst.witness_vkey))
        founders = {f.id for f in genesis.founders}
        return cls(
            network=genesis.network,
            genesis_hash=genesis.hash(),
            log=Verifier.from_vkey(genesis.log_vkey),
            witnesses=tuple(w for i, w in sorted(witnesses.items()) if i in founders),
            quorum=genesis.quorum or 1,
            roster=tuple(
                RosterEntry(inst.id, inst.name, inst.type, tuple(KeyValidity(k.key, k.valid_from, k.valid_until) for k in inst.keys))
                for inst in sorted(registry.institutions.values(), key=lambda i: i.id)
            ),
            as_of=int(time.time()) if as_of is None else as_of,
        )


def load_trust(path: str) -> TrustPolicy:
    with open(path, "rb") as f:
        return TrustPolicy.from_bytes(f.read())
