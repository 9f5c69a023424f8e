"""A running node: the log it keeps (``log``: state, append path, checkpoints), the sequencer that batches
submissions into blocks (``sequencer``), its data directory and keys (``datadir``), the audit that re-derives
everything from storage (``audit``), and the :class:`Node` that puts them together with the network
(``node``, with its role loops in ``roles`` and integrity checks in ``integrity``).

:class:`Node` and :class:`NodeOptions` are the facade the e-portfolio (``portfolio_api``) and the CLI use;
``datadir`` is the on-disk layout they may create (network init, onboarding). Nothing outside this package
and the CLI touches the log, the sequencer or the storage directly. Start with ``node``.
"""

from ledger.node.node import Node, NodeOptions

__all__ = ["Node", "NodeOptions"]
