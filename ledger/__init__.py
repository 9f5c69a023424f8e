"""eduledger's ledger, in layers; each may import only the ones below it (import-linter contracts in
pyproject.toml, checked by tests/layout/test_layers.py)::

    ledger.cli        every `eduledger` command (node, network, keys, credentials; `verify` is verifier.cli)
    ledger.node       a running node: its log, sequencer, data directory, audit, and the Node facade
    ledger.network    institutions working together: witness, cosigners, mirror, split-view checks, leader
    ledger.storage    durable storage: the LedgerStore protocol and its SQLite/PostgreSQL/memory backends
    ledger.model      the ledger's own data: entries, blocks, registry, governance, genesis, bundles
    ledger.tlog       the transparency-log toolkit: RFC 9162 Merkle trees and proofs, C2SP notes,
                      checkpoints, tiles and tlog-proof, canonical JSON; pure, imports nothing above
    ledger.errors     the one error tree, used by every layer

``verifier`` (outside this package) uses only ``ledger.tlog`` and ``ledger.model``; ``portfolio_api``
reaches the ledger through ``ledger.node`` (docs/architecture.md).
"""
