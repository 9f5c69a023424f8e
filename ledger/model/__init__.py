"""The ledger's own model: what its entries say and the state they build, pure and storage-free.

Entries and their batch signatures (``entries``, composed in bulk by ``compose``), block headers (``blocks``),
the registry of institutions, keys and credentials that replaying entries builds (``registry``, with
``governance``), the genesis (``genesis``), replay of a block (``replay``), holders' bundles (``bundles``),
issuance statements (``issuance``), submissions (``submission``) and their receipts (``receipts``). Imports
only ``ledger.tlog`` and ``ledger.errors``. Start with ``entries``.
"""
