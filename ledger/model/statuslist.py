"""Bitstring status lists (W3C Bitstring Status List v1.0): which of an institution's credentials are revoked,
in a form any outside verifier reads.

Each institution has numbered lists of ``LIST_BITS`` bits. A credential issued with a status entry holds one
*slot* — (list, index), its index drawn at random among the list's free ones — named in its anchor statement
(``status_list``, ``status_index``), so the ledger knows which bit is whose and refuses a slot used twice.
A list's bit is 1 once its credential is revoked or superseded on the ledger. The institution publishes a
list with a ``status.publish`` entry: the encoded bits and its Data Integrity proof over the status list
credential (``verifier/statuslist.py``); the registry accepts it only if the bits equal the ledger's, so a
published list never says less or more than the ledger. Every node rebuilds the credential from the entry.

A list takes at most ``SLOTS_PER_LIST`` credentials before issuers move to the next: a list that is all
revoked still fits one entry (``MAX_ENCODED``), and thousands of credentials share a list (herd privacy:
fetching it says nothing of which credential is checked).

Encoding (§2.1): the bitstring is GZIP-compressed and written as multibase base64url without padding
(a leading ``u``); index 0 is the most significant bit of the first byte.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import gzip
import random as _random
import zlib
from collections.abc import Collection, Iterable, Mapping

from ledger.errors import MalformedError

__all__ = [
    "LIST_BITS",
    "MAX_ENCODED",
    "MAX_LISTS",
    "SLOTS_PER_LIST",
    "allocate",
    "decode_bits",
    "encode_bits",
]

#: Bits per list: 16 KiB, the minimum the specification asks for (131,072 entries).
LIST_BITS = 131_072
#: Credentials per list before issuers start the next list.
SLOTS_PER_LIST = 4_096
#: Lists per institution (list numbers 0 .. MAX_LISTS - 1).
MAX_LISTS = 1 << 20
#: Longest ``encodedList`` a ``status.publish`` entry may carry (a list of SLOTS_PER_LIST revoked slots is far below).
MAX_ENCODED = 12_000


def encode_bits(bits: Iterable[int]) -> str:
    """The ``encodedList`` of a list whose set bits are ``bits``."""
    raw = bytearray(LIST_BITS // 8)
    for i in bits:
        if not 0 <= i < LIST_BITS:
            raise MalformedError(f"status index {i} is outside 0..{LIST_BITS - 1}")
        raw[i >> 3] |= 0x80 >> (i & 7)
    packed = gzip.compress(bytes(raw), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_bits(encoded: object) -> frozenset[int]:
    """The set bits of an ``encodedList``; MalformedError for anything that is not one list of LIST_BITS bits.

    Bounded before it is read: at most MAX_ENCODED characters, and the inflation stops past LIST_BITS / 8 bytes."""
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > MAX_ENCODED:
        raise MalformedError(f"encodedList must be a multibase base64url string ('u…') of at most {MAX_ENCODED} characters")
    body = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        raw = inflater.decompress(packed, LIST_BITS // 8 + 1)
    except (ValueError, zlib.error) as e:
        raise MalformedError(f"encodedList is not GZIP-compressed base64url: {e}") from None
    if len(raw) != LIST_BITS // 8 or not inflater.eof or inflater.unused_data:
        raise MalformedError(f"encodedList must hold exactly {LIST_BITS} bits")
    out = []
    for byte_no, byte in enumerate(raw):
        if byte:
            out.extend(byte_no * 8 + bit for bit in range(8) if byte & (0x80 >> bit))
    return frozenset(out)


def allocate(used: Mapping[int, Collection[int]], count: int, *, rng: _random.Random | None = None) -> list[tuple[int, int]]:
    """``count`` free slots (list, index): indices at random among the free ones of the lowest list with room,
    then of the next lists. ``used`` maps a list number to its taken indices (on the ledger and reserved)."""
    rng = rng or _random.SystemRandom()
    slots: list[tuple[int, int]] = []
    number = 0
    while len(slots) < count:
        taken = used.get(number, ())
        room = SLOTS_PER_LIST - len(taken)
        if room > 0:
            picked: set[int] = set()
            want = min(room, count - len(slots))
            while len(picked) < want:
                i = rng.randrange(LIST_BITS)
                if i not in taken and i not in picked:
                    picked.add(i)
            slots.extend((number, i) for i in picked)
        number += 1
        if number >= MAX_LISTS:
            raise MalformedError("the institution has no free status list slots left")
    return slots
