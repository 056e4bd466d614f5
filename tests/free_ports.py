"""Loopback ports for the servers tests start as subprocesses, outside the ephemeral range.

A port found by binding port 0 comes from the kernel's ephemeral range, which it also hands
out as the local port of outgoing connections. Between that probe and a server's own bind
seconds later (a second replica starts after the sandbox, the first replica and their
PostgreSQL, Redis and HTTP connections), one of those connections can take the port, and the
server fails with "address already in use". Ports below the range are never handed out so.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    """The lowest port the kernel may pick for an outgoing connection (Linux: 32768)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_base(count: int) -> int:
    """`count` consecutive loopback ports that bind now, all below the ephemeral range."""
    high = _ephemeral_low() - count
    low = min(20000, max(1024, high // 2))
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high)
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports below the ephemeral range")
