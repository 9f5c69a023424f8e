"""An example network's ledger in memory, built with the production code's pure parts.

:class:`SampleNetwork` holds Ed25519 keys in memory (seeded from ``seed``, so
two runs give the same keys, credential ids and signatures), a genesis
(``ledger.model.genesis``), a :class:`~ledger.model.registry.Registry` replaying every
entry, institution-signed batches (``ledger.model.entries.sign_batch``), a
``ledger.tlog.tree.Tree`` over the leaf hashes, checkpoints signed by the log key
and cosigned by institution witnesses (``ledger.tlog.note``, ``ledger.tlog.checkpoint``)
and bundles from ``ledger.model.bundles.build_bundle``. Time is explicit (``now``).
``append(..., check=False)`` writes an entry the ledger rules would refuse, to
build adversarial logs.

It makes the sample bundles of ``make examples`` (:mod:`ledger.cli.examples`) and
the networks of the verifier's tests and benchmarks. Its keys are not secret:
never use it for a real network.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

from keys.signer import Signer
from ledger.model import statuslist
from ledger.model.bundles import build_bundle
from ledger.model.entries import Statement, parse_entry, sign_batch
from ledger.model.genesis import Founder, Genesis
from ledger.model.registry import Registry
from ledger.node.datadir import InstitutionSpec, witness_name
from ledger.tlog import merkle
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.checkpoint import Checkpoint, add_signatures
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Note, Verifier, cosign, sign_note
from ledger.tlog.timefmt import format_time, parse_time
from ledger.tlog.tree import Tree
from verifier.credentials import build_credential, prove
from verifier.statuslist import publish_statements, slot_numbers
from verifier.trust import TrustPolicy

__all__ = ["FIELDS", "INSTITUTIONS", "NETWORK", "T0", "TITLES", "SampleNetwork"]

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


#: The sample holder's e-mail, hashed into her credentials' identifier (``verifier.holder``).
SAMPLE_HOLDER_EMAIL = "m.ivanova@example.org"
#: The sample network's public URL: where ``eduledger demo`` serves its first node (and the context).
SAMPLE_NETWORK_URL = "http://127.0.0.1:8101"


class SampleNetwork:
    """A network's ledger in memory, assembled from the ledger's pure parts."""

    def __init__(
        self,
        *,
        network: str = NETWORK,
        institutions: Sequence[InstitutionSpec] = INSTITUTIONS,
        quorum: int = 2,
        created: int = T0,
        seed: int = 1,
        status: bool = False,
    ) -> None:
        """``status``: credentials get a slot in their issuer's Bitstring Status Lists, which the network
        publishes as the e-portfolio does (``verifier/statuslist.py``; ``make examples`` uses it)."""
        self.network = network
        self.status = status
        self._reserved: dict[str, dict[int, set[int]]] = {}
        self.rng = random.Random(seed)
        self.log_signer = Signer.from_private_bytes(self._seed())
        self.signing = {i.id: Signer.from_private_bytes(self._seed()) for i in institutions}
        self.witness = {i.id: Signer.from_private_bytes(self._seed()) for i in institutions}
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

    def credential(self, kind: str = "olympiad-diploma", institution: str = "olymp-1", *, proof: bool = True, **over: Any) -> dict:
        """A credential for the sample holder (with her e-mail, ``SAMPLE_HOLDER_EMAIL``); another
        ``holder_name`` without a ``holder_email`` gets a random subject id instead. With the issuer's
        Data Integrity proof unless ``proof=False`` (a credential of before proofs)."""
        args: dict[str, Any] = dict(
            kind=kind,
            issuer_id=institution,
            issuer_name=self.names[institution],
            holder_name="Иванова Мария Петровна",
            holder_email=None if "holder_name" in over else SAMPLE_HOLDER_EMAIL,
            network_url=SAMPLE_NETWORK_URL,
            title=TITLES[kind],
            issued_at=self.now,
            fields=FIELDS[kind],
            random=self.random_bytes,
        )
        args.update(over)
        cred = build_credential(**args)
        if not proof:
            return cred
        slot = self._reserve_slot(institution) if self.status else None
        return prove(cred, self.signing[institution], network_url=SAMPLE_NETWORK_URL, created=self.now, status_slot=slot)

    def _reserve_slot(self, institution: str) -> tuple[int, int]:
        reserved = self._reserved.setdefault(institution, {})
        on_ledger = self.registry.status_used.get(institution, {})
        taken = {n: set(on_ledger.get(n, ())) | reserved.get(n, set()) for n in set(on_ledger) | set(reserved)}
        ((number, index),) = statuslist.allocate(taken, 1, rng=self.rng)
        reserved.setdefault(number, set()).add(index)
        return number, index

    def _publications(self, institution: str, numbers: Iterable[int], also: dict[int, list[int]] | None = None) -> list[Statement]:
        return publish_statements(
            lambda n: self.registry.status_list_bits(institution, n), self.signing[institution], network=self.network,
            network_url=SAMPLE_NETWORK_URL, institution=institution, numbers=numbers, created=self.now, also=also,
        )  # fmt: skip

    def _new_lists(self, creds: Iterable[dict], institution: str) -> list[Statement]:
        """The empty status lists the credentials' slots open, published before their anchors."""
        numbers = {slot[0] for c in creds if (slot := slot_numbers(c)) is not None}
        return self._publications(institution, [n for n in numbers if (institution, n) not in self.registry.status_published])

    def anchor_statement(self, cred: dict, institution: str | None = None) -> Statement:
        institution = institution or cred["issuer"]["id"].rsplit(":", 1)[1]
        kind = cred.get("eduledgerExtension", {}).get("kind", "generic")
        body: dict[str, Any] = {"digest": canonical_digest(cred).hex(), "type": kind, "issued_at": cred["validFrom"]}
        if (slot := slot_numbers(cred)) is not None:
            body["status_list"], body["status_index"] = slot
        return self.statement("credential.anchor", institution, **body)

    def issue(self, cred: dict, institution: str | None = None, *, signer: Any = None, check: bool = True) -> int:
        institution = institution or cred["issuer"]["id"].rsplit(":", 1)[1]
        lists = self._new_lists([cred], institution) if check else []
        *_, index = self.append(institution, [*lists, self.anchor_statement(cred, institution)], signer=signer, check=check)
        return index

    def issue_many(self, creds: Sequence[dict], institution: str = "olymp-1", batch: int = 256) -> list[int]:
        out: list[int] = []
        for start in range(0, len(creds), batch):
            chunk = creds[start : start + batch]
            lists = self._new_lists(chunk, institution)
            out += self.append(institution, [*lists, *(self.anchor_statement(c, institution) for c in chunk)])[len(lists) :]
        return out

    def _status_change(self, institution: str, cred: dict, statement: Statement, check: bool) -> int:
        """Append a revocation or supersession, with the credential's status list as it then stands."""
        slot = self.registry.status_slots.get(canonical_digest(cred).hex()) if check else None
        lists = self._publications(institution, [slot[0]], also={slot[0]: [slot[1]]}) if slot else []
        index, *_ = self.append(institution, [statement, *lists], check=check)
        return index

    def revoke(self, cred: dict, reason: str = "issued-in-error", institution: str = "olymp-1", *, check: bool = True) -> int:
        st = self.statement("credential.revoke", institution, digest=canonical_digest(cred).hex(), reason=reason)
        return self._status_change(institution, cred, st, check)

    def supersede(self, old: dict, new: dict, institution: str = "olymp-1") -> int:
        st = self.statement("credential.supersede", institution, digest=canonical_digest(old).hex(), by=canonical_digest(new).hex())
        return self._status_change(institution, old, st, True)

    def add_key(self, institution: str, valid_from: int, *, signer: Any = None) -> Signer:
        new = Signer.from_private_bytes(self._seed())
        self.append(institution, [self.statement("key.add", institution, key=b64e(new.public_key), valid_from=format_time(valid_from))], signer=signer)
        return new

    def rotate_key(self, institution: str, at: int) -> Signer:
        old, new = self.signing[institution], Signer.from_private_bytes(self._seed())
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
        """The network's trust file as a node exports it; with ``status``, carrying the status lists."""
        if self.status and not over:
            return TrustPolicy.export(self.genesis, self.registry, self.entry_at, size=self.tree.size, as_of=self.now)
        return TrustPolicy.from_genesis(self.genesis, self.registry, as_of=self.now, roster_size=self.tree.size, **over)

    def entry(self, index: int):
        return parse_entry(self.datas[index])
