"""Networks for tests, built with the production code (reusable by the node and e-portfolio tests).

* :class:`LedgerFixture` — :class:`ledger.cli.sample_network.SampleNetwork`: pure
  and fast, keys in memory, explicit time, adversarial appends (``check=False``).
* :class:`MiniNetwork` — a real node (init_network, Node, Log.append, local
  witnesses) on an in-memory store: the node's own write and bundle path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ledger.cli.sample_network import FIELDS, INSTITUTIONS, NETWORK, T0, TITLES, SampleNetwork
from ledger.errors import EduledgerError
from ledger.model.bundles import build_bundle
from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt
from ledger.node import Node
from ledger.node.datadir import init_network, load_keys
from ledger.storage import open_store
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.timefmt import format_time, parse_time
from tests.nodeproc import FAST_KDF, PASSPHRASE
from verifier.credentials import build_credential
from verifier.trust import TrustPolicy

__all__ = ["FIELDS", "INSTITUTIONS", "NETWORK", "T0", "TITLES", "LedgerFixture", "MiniNetwork"]

#: The pure in-memory network moved to ledger/cli/sample_network.py (``make examples`` builds with it);
#: the tests keep calling it LedgerFixture.
LedgerFixture = SampleNetwork


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
