"""A real network in one process for tests: genesis, keys, a node's log, issuance, bundles.

Everything goes through the production code (init_network, Log.append with
institution-signed batches, checkpoint signing, local witnesses, build_bundle),
only the store is in memory and the key derivation is cheap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ledger.bundles import build_bundle
from ledger.canonical import canonical_digest
from ledger.datadir import InstitutionSpec, init_network, load_keys
from ledger.entries import Statement, sign_batch
from ledger.log import Receipt
from ledger.node import Node
from ledger.storage import open_store
from ledger.timefmt import format_time
from tests.nodeproc import FAST_KDF, PASSPHRASE
from verifier.credentials import build_credential
from verifier.trust import TrustPolicy

NETWORK = "test.eduledger.example/net"
INSTITUTIONS = (
    InstitutionSpec("olymp-1", "Центр олимпиад", "olympiad-organiser"),
    InstitutionSpec("ipk-1", "Институт повышения квалификации", "training-institute"),
    InstitutionSpec("uni-1", "Университет", "university"),
)


class MiniNetwork:
    def __init__(self, tmp_path: Path, *, quorum: int = 2, created: int | None = None) -> None:
        self.created = created if created is not None else int(time.time()) - 3600
        self.data = tmp_path / "net"
        self.genesis = init_network(
            self.data,
            network=NETWORK,
            institutions=INSTITUTIONS,
            sequencer=INSTITUTIONS[0].id,
            quorum=quorum,
            passphrase=PASSPHRASE.encode(),
            created=self.created,
            kdf_params=FAST_KDF,
        )
        self.keys = load_keys(self.data, PASSPHRASE.encode())
        self.clock_value: float | None = None
        self.node = Node(open_store("memory://"), self.genesis, self.keys, clock=self.clock)
        self.node.log.open()

    def clock(self) -> float:
        return self.clock_value if self.clock_value is not None else time.time()

    @property
    def log(self):
        return self.node.log

    def append(self, institution: str, statements: list[Statement], signer=None) -> list[int]:
        results, _ = self.log.append(sign_batch(statements, signer or self.keys.signing[institution]))
        out = []
        for r in results:
            assert isinstance(r, Receipt), r
            out.append(r.index)
        self.log.sign_checkpoint()
        self.log.collect_cosignatures()
        return out

    def credential(self, kind: str = "olympiad-diploma", institution: str = "olymp-1", **over) -> dict:
        fields = {
            "olympiad-diploma": {"event": "Региональная олимпиада по физике", "subject": "физика", "stage": "regional", "place": "1", "organiser": "Центр олимпиад"},
            "teacher-pd": {"programme": "Цифровая дидактика", "hours": 72, "start": "2026-02-01", "end": "2026-03-15", "provider": "ИПК"},
            "participation": {"event": "Конференция", "subject": "история"},
            "school-leaving": {"school": "Школа № 57", "year": 2026},
            "generic": {},
        }[kind]
        args = dict(
            kind=kind,
            issuer_id=institution,
            issuer_name=next(i.name for i in INSTITUTIONS if i.id == institution),
            holder_name="Иванова Мария Петровна",
            title="Диплом победителя" if kind == "olympiad-diploma" else "Удостоверение",
            issued_at=int(self.clock()) - 10,
            fields=fields,
        )
        args.update(over)
        return build_credential(**args)

    def issue(self, cred: dict, institution: str = "olymp-1", issued_at: int | None = None, signer=None) -> int:
        digest = canonical_digest(cred).hex()
        at = issued_at if issued_at is not None else int(self.clock()) - 5
        (index,) = self.append(
            institution,
            [Statement(NETWORK, "credential.anchor", institution, {"digest": digest, "type": cred.get("eduledgerExtension", {}).get("kind", "generic"), "issued_at": format_time(at)})],
            signer,
        )
        return index

    def revoke(self, cred: dict, institution: str = "olymp-1", reason: str = "issued-in-error") -> None:
        self.append(institution, [Statement(NETWORK, "credential.revoke", institution, {"digest": canonical_digest(cred).hex(), "reason": reason})])

    def supersede(self, old: dict, new: dict, institution: str = "olymp-1") -> None:
        self.append(institution, [Statement(NETWORK, "credential.supersede", institution, {"digest": canonical_digest(old).hex(), "by": canonical_digest(new).hex()})])

    def bundle(self, cred: dict, index: int) -> bytes:
        final = self.node.store.latest_final()
        assert final is not None, "no final checkpoint"
        doc = build_bundle(credential=cred, index=index, tree=self.log.tree, store=self.node.store, registry=self.log.registry, checkpoint=final[1])
        return json.dumps(doc, ensure_ascii=False, indent=1).encode()

    def trust(self) -> TrustPolicy:
        return TrustPolicy.from_registry(self.genesis, self.log.registry)
