"""What a submission gets back for each entry: a :class:`Receipt` once it is committed, or a :class:`Rejection`.

They belong to the model, not to the node that makes them: issuance and submission parsing speak of them
too, and the node's log (``ledger.node.log``) only produces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ledger.errors import EduledgerError


class Receipt(NamedTuple):
    """Acknowledgement of one committed entry (a tuple: one is made for every entry)."""

    index: int
    leaf_hash: bytes
    duplicate: bool = False


@dataclass(frozen=True)
class Rejection:
    """An entry of a submission that was refused, with the reason."""

    position: int
    error: EduledgerError
