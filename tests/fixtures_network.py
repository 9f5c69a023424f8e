"""Networks for tests, built with the production code (reusable by the node and e-portfolio tests).

* :class:`LedgerFixture` — pure and fast: Ed25519 keys in memory, a genesis
  (ledger.genesis), a Registry replaying every entry, institution-signed batches
  (ledger.entries.sign_batch), a ledger.tree.Tree over the leaf hashes, a
  checkpoint signed by the log key and cosigned by institution witnesses
  (ledger.note, ledger.checkpoint), bundles from ledger.bundles.build_bundle.
  Time is explicit (``now``), so tests are exact. ``append(..., check=False)``
  writes an entry the ledger rules would refuse, to build adversarial logs.
* :class:`MiniNetwork` — a real node (init_network, Node, Log.append, local
  witnesses) on an in-memory store: the node's own write and bundle path.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ledger import merkle
from ledger.bundles import build_bundle
from ledger.canonical import canonical_digest
from ledger.checkpoint import Checkpoint, add_signatures
from ledger.datadir import InstitutionSpec, init_network, load_keys, witness_name
from ledger.encoding import b64e
from ledger.entries import Statement, parse_entry, sign_batch
from ledger.errors import EduledgerError
from ledger.genesis import Founder, Genesis
from ledger.log import Receipt
from ledger.node import Node
from ledger.note import Note, Verifier, cosign, sign_note
from ledger.registry import Registry
from ledger.storage import open_store
from ledger.timefmt import format_time, parse_time
from ledger.tree import Tree
from tests.keyutil import RawSigner
from tests.nodeproc import FAST_KDF, PASSPHRASE
from verifier.credentials import build_credential
from verifier.trust import TrustPolicy

NETWORK = "test.eduledger.example/net"
INSTITUTIONS = (
    InstitutionSpec("olymp-1", "Центр олимпиад", "olympiad-organiser"),
    InstitutionSpec("ipk-1", "Институт повышения квалификации", "training-institute"),
    InstitutionSpec("uni-1", "Университет", "university"),
)
T0 = parse_time("2026-03-01T09:00:00Z")

FIELDS: dict[str, dict[str, Any]] = {
    "olympiad-diploma": {"event": "Региональная олимпиада по физике", "subject": "физика", "stage": "regional", "place": "1", "organiser": "Центр олимпиад"},
    "teacher-pd": {"programme": "Цифровая дидактика", "hours": 72, "start": "2026-02-01", "end": "2026-02-20", "provider": "ИПК"},
    "participation": {"event": "Конференция юных историков", "subject": "история"},
    "school-leaving": {"school": "Школа № 57", "year": 2026, "level": "secondary", "honours": True},
    "generic": {},
}
TITLES = {
    "olympiad-diploma": "Диплом победителя регионального этапа",
    "teacher-pd": "Удостоверение о повышении квалификации",
    "participation": "Сертификат участника",
    "school-leaving": "Аттестат о среднем общем образовании",
    "generic": "Грамота",
}


class LedgerFixture:
    """A network's ledger in memory, assembled from the ledger's pure parts."""

    def __init__(
        self,
        *,
        network: str = NETWORK,
        institutions: Sequence[InstitutionSpec] = INSTITUTIONS,
        quorum: int = 2,
        created: int = T0,
        seed: int = 1,
    ) -> None:
        self.network = network
        self.rng = random.Random(seed)
        self.log_signer = RawSigner(self._seed())
        self.signing = {i.id: RawSigner(self._seed()) for i in institutions}
        self.witness = {i.id: RawSigner(self._seed()) for i in institutions}
        self.genesis = Genesis(
            network=network,
            created=created,
            log_vkey=Verifier.ed25519(network, self.log_signer.public_key).vkey,
            sequencer=institutions[0].id,
            quorum=quorum,
            founders=tuple(
                Founder(i.id, i.name, i.type, self.signing[i.id].public_key, self.witness_verifier(i.id).vkey) for i in institutions
            ),
        )
        self.names = {i.id: i.name for i in institutions}
        self.registry = Registry(network, self.genesis.sequencer)
        self.datas: list[bytes] = []
        self.tree = Tree()
        for n, e in enumerate(self.genesis.entries()):
            self.registry.apply_genesis(e, n, created)
            self._add(e.to_bytes())
        self.now = created + 3600

    def _seed(self) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(32))

    def random_bytes(self, n: int) -> bytes:
        """Deterministic randomness for credential ids."""
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def witness_verifier(self, institution: str) -> Verifier:
        return Verifier.cosignature(witness_name(self.network, institution), self.witness[institution].public_key)

    def _add(self, data: bytes) -> int:
        self.datas.append(data)
        self.tree.extend([merkle.leaf_hash(data)])
        return len(self.datas) - 1

    # --- writing the log ---------------------------------------------------------------

    def append(self, institution: str, statements: Sequence[Statement], *, signer: Any = None, check: bool = True) -> list[int]:
        """Sign ``statements`` as one batch and append them, applying the ledger rules at ``now``.

        ``check=False`` appends entries the rules refuse (an adversarial log) without
        changing the registry."""
        entries = sign_batch(list(statements), signer or self.signing[institution])
        out = []
        for e in entries:
            index = len(self.datas)
            if check:
                self.registry.apply(e, index, self.now)
            out.append(self._add(e.to_bytes()))
        return out

    def statement(self, kind: str, institution: str, **body: Any) -> Statement:
        return Statement(self.network, kind, institution, body)

    def credential(self, kind: str = "olympiad-diploma", institution: str = "olymp-1", **over: Any) -> dict:
        args: dict[str, Any] = dict(
            kind=kind,
            issuer_id=institution,
            issuer_name=self.names[institution],
            holder_name="Иванова Мария Петровна",
            title=TITLES[kind],
            issued_at=self.now,
            fields=FIELDS[kind],
            random=self.random_bytes,
        )
        args.update(over)
        return build_credential(**args)

    def anchor_statement(self, cred: dict, institution: str | None = None) -> Statement:
        institution = institution or cred["issuer"]["id"].rsplit(":", 1)[1]
        kind = cred.get("eduledgerExtension", {}).get("kind", "generic")
        return self.statement("credential.anchor", institution, digest=canonical_digest(cred).hex(), type=kind, issued_at=cred["validFrom"])

    def issue(self, cred: dict, institution: str | None = None, *, signer: Any = None, check: bool = True) -> int:
        institution = institution or cred["issuer"]["id"].rsplit(":", 1)[1]
        (index,) = self.append(institution, [self.anchor_statement(cred, institution)], signer=signer, check=check)
        return index

    def issue_many(self, creds: Sequence[dict], institution: str = "olymp-1", batch: int = 256) -> list[int]:
        out: list[int] = []
        for start in range(0, len(creds), batch):
            out += self.append(institution, [self.anchor_statement(c, institution) for c in creds[start : start + batch]])
        return out

    def revoke(self, cred: dict, reason: str = "issued-in-error", institution: str = "olymp-1", *, check: bool = True) -> int:
        (index,) = self.append(institution, [self.statement("credential.revoke", institution, digest=canonical_digest(cred).hex(), reason=reason)], check=check)
        return index

    def supersede(self, old: dict, new: dict, institution: str = "olymp-1") -> int:
        st = self.statement("credential.supersede", institution, digest=canonical_digest(old).hex(), by=canonical_digest(new).hex())
        (index,) = self.append(institution, [st])
        return index

    def add_key(self, institution: str, valid_from: int, *, signer: Any = None) -> RawSigner:
        new = RawSigner(self._seed())
        self.append(institution, [self.statement("key.add", institution, key=b64e(new.public_key), valid_from=format_time(valid_from))], signer=signer)
        return new

    def rotate_key(self, institution: str, at: int) -> RawSigner:
        old, new = self.signing[institution], RawSigner(self._seed())
        st = self.statement("key.rotate", institution, old=b64e(old.public_key), new=b64e(new.public_key), valid_from=format_time(at))
        self.append(institution, [st], signer=old)
        self.signing[institution] = new
        return new

    def revoke_key(self, institution: str, key: bytes, valid_until: int, *, signer: Any = None, reason: str = "compromised") -> int:
        st = self.statement("key.revoke", institution, key=b64e(key), valid_until=format_time(valid_until), reason=reason)
        (index,) = self.append(institution, [st], signer=signer)
        return index

    # --- checkpoints, bundles, trust ----------------------------------------------------

    def checkpoint(self, *, size: int | None = None, cosigners: Iterable[str] | None = None, log_signer: Any = None, at: int | None = None) -> bytes:
        """A checkpoint note of ``size`` signed by the log key and cosigned by ``cosigners`` (default: all)."""
        size = self.tree.size if size is None else size
        text = Checkpoint(self.network, size, self.tree.root(size)).body()
        note = Note(text, (sign_note(text, self.network, log_signer or self.log_signer),)).to_bytes()
        at = self.now if at is None else at
        names = list(self.witness) if cosigners is None else list(cosigners)
        return add_signatures(note, [cosign(text, witness_name(self.network, i), self.witness[i], at) for i in names])

    def entry_at(self, index: int) -> bytes:
        return self.datas[index]

    def bundle_doc(self, cred: dict, index: int, *, note: bytes | None = None) -> dict:
        note = note or self.checkpoint()
        return build_bundle(cred, anchor_index=index, entry_at=self.entry_at, tree=self.tree, checkpoint_note=note, registry=self.registry)

    def bundle(self, cred: dict, index: int, *, note: bytes | None = None) -> bytes:
        return json.dumps(self.bundle_doc(cred, index, note=note), ensure_ascii=False, indent=1).encode("utf-8")

    def trust(self, **over: Any) -> TrustPolicy:
        return TrustPolicy.from_genesis(self.genesis, self.registry, as_of=self.now, roster_size=self.tree.size, **over)

    def entry(self, index: int):
        return parse_entry(self.datas[index])


class MiniNetwork:
    """A real node (keys in files, local witnesses, Log.append, stored checkpoints) on an in-memory store."""

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
            if not isinstance(r, Receipt):
                raise r.error if isinstance(r.error, EduledgerError) else AssertionError(r)
            out.append(r.index)
        self.log.sign_checkpoint()
        self.log.collect_cosignatures()
        return out

    def credential(self, kind: str = "olympiad-diploma", institution: str = "olymp-1", **over) -> dict:
        args = dict(
            kind=kind,
            issuer_id=institution,
            issuer_name=next(i.name for i in INSTITUTIONS if i.id == institution),
            holder_name="Иванова Мария Петровна",
            title=TITLES[kind],
            issued_at=int(self.clock()) - 10,
            fields=FIELDS[kind],
        )
        args.update(over)
        return build_credential(**args)

    def issue(self, cred: dict, institution: str = "olymp-1", issued_at: int | None = None, signer=None) -> int:
        digest = canonical_digest(cred).hex()
        at = issued_at if issued_at is not None else parse_time(cred["validFrom"])
        kind = cred.get("eduledgerExtension", {}).get("kind", "generic")
        (index,) = self.append(
            institution,
            [Statement(NETWORK, "credential.anchor", institution, {"digest": digest, "type": kind, "issued_at": format_time(at)})],
            signer,
        )
        return index

    def revoke(self, cred: dict, institution: str = "olymp-1", reason: str = "issued-in-error") -> None:
        self.append(institution, [Statement(NETWORK, "credential.revoke", institution, {"digest": canonical_digest(cred).hex(), "reason": reason})])

    def supersede(self, old: dict, new: dict, institution: str = "olymp-1") -> None:
        self.append(institution, [Statement(NETWORK, "credential.supersede", institution, {"digest": canonical_digest(old).hex(), "by": canonical_digest(new).hex()})])

    def bundle(self, cred: dict, index: int) -> bytes:
        """The e-portfolio's call: build_bundle(credential=, index=, tree=, store=, registry=, checkpoint=)."""
        final = self.node.store.latest_final()
        assert final is not None, "no final checkpoint"
        doc = build_bundle(credential=cred, index=index, tree=self.log.tree, store=self.node.store, registry=self.log.registry, checkpoint=final[1])
        return json.dumps(doc, ensure_ascii=False, indent=1).encode()

    def trust(self) -> TrustPolicy:
        return TrustPolicy.from_genesis(self.genesis, self.log.registry, roster_size=self.log.size)
