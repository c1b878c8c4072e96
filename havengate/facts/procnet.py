"""``/proc/net/tcp`` and ``/proc/net/tcp6`` to listening sockets.

A JVM socket bound to ``*`` or 127.0.0.1 is usually AF_INET6 and shows only in tcp6, so
both files are always read; a port is open if it listens in either.
"""

from __future__ import annotations

import ipaddress
import struct

from havengate.facts.model import Listener

TCP_LISTEN = "0A"


class ProcNetError(ValueError):
    """The text is not /proc/net/tcp as the kernel writes it."""


def parse_proc_net_tcp(text: str, family: str, *, required: bool = False) -> tuple[Listener, ...]:
    """LISTEN sockets of one /proc/net/tcp{,6} file; raises ProcNetError on a foreign shape.

    The kernel always writes the header line: with ``required``, an empty text means the
    file was not read, which must not pass for "nothing listens".
    """
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        if required:
            raise ProcNetError(f"/proc/net/{family} came back empty (not even its header)")
        return ()
    if not lines[0].split() or lines[0].split()[0] != "sl":
        raise ProcNetError(f"/proc/net/{family} does not start with its 'sl' header")
    listeners = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) < 10:
            raise ProcNetError(f"/proc/net/{family} line {number} has {len(fields)} fields")
        if fields[3] != TCP_LISTEN:
            continue
        address, _, port_hex = fields[1].partition(":")
        try:
            listeners.append(
                Listener(
                    family=family,
                    address=_decode_address(address),
                    port=int(port_hex, 16),
                    inode=int(fields[9]),
                )
            )
        except ValueError as exc:
            raise ProcNetError(f"/proc/net/{family} line {number}: {exc}") from exc
    return tuple(listeners)


def _decode_address(hex_address: str) -> str:
    """The kernel prints each 32-bit word in host (little-endian on x86) order."""
    raw = bytes.fromhex(hex_address)
    if len(raw) not in (4, 16):
        raise ValueError(f"address {hex_address!r} is neither IPv4 nor IPv6")
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)
