"""Free TCP ports for test servers, chosen outside the kernel's ephemeral range.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` lies in the ephemeral range, the same range
it draws the local ports of outgoing connections from. A test that kills a node and starts it again on
the same port can then find that port taken by some peer's keep-alive connection (EADDRINUSE, seen in
CI). Ports below the ephemeral range are never used as source ports, so a killed node's port stays
free for its restart."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(count: int = 1) -> int:
    """A port such that it and the next ``count - 1`` ports are free on 127.0.0.1."""
    high = max(_ephemeral_low(), LOWEST + 1_000) - count
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(LOWEST, high)
        if all(_is_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports between {LOWEST} and {high}")
