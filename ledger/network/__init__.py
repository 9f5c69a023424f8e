"""Institutions working together: the C2SP witness each institution runs (``witness``), how the sequencer
asks for cosignatures (``cosigners``), how a node mirrors the log from a peer's tiles (``mirror``), split-view
detection (``splitview``) and the PostgreSQL leader lock for standbys (``leader``).

Imports ``ledger.storage``, ``ledger.model`` and ``ledger.tlog``; a node's log is passed in, never imported.
"""
