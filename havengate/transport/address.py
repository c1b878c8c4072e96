"""Where a node is and how to reach it: addresses and access settings, no SSH library.

``local`` is this machine; ``ssh://[user@]host[:port]``, ``[user@]host[:port]``,
``[user@][v6addr]:port`` or an OpenSSH ``Host`` alias name a node over SSH.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from havengate.errors import UsageError

_HOST = re.compile(r"^(?:[A-Za-z0-9._%+-]+@)?[A-Za-z0-9._:\[\]-]+$")


@dataclass(frozen=True)
class NodeEntry:
    """How one node is reached, from the config file or an inventory (its host vars): a
    user@ or :port the operator typed still wins, and these win over ssh_config."""

    address: str | None = None  # connect here instead of the name (ansible_host)
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None  # a private key tried first (ansible_private_key_file)


@dataclass(frozen=True)
class NodeAccess:
    """How havengate reaches nodes: the SSH client's settings and every limit on a wait."""

    ssh_config: Path | None = None  # None: ~/.ssh/config when it exists
    known_hosts: Path | None = None  # None: ssh_config UserKnownHostsFile, else ~/.ssh/known_hosts
    accept_new_host_keys: bool = False  # a key never seen is trusted and recorded (opt-in)
    connect_timeout: float = 10.0  # SSH connect, banner and authentication
    probe_timeout: float = 300.0  # a node's whole probe
    command_timeout: int = 30  # each step on a node that may hang (vzctl exec2 into a CT)
    nodes: Mapping[str, NodeEntry] = field(default_factory=dict)  # by the operator's name

    def reach(self, host: str) -> Destination:
        """Where ``host`` is connected to: what its name says, completed by its entry."""
        named = split_destination(host)
        entry = self.entry(host)
        return Destination(named.user or entry.user, entry.address or named.host,
                           named.port or entry.port)

    def entry(self, host: str) -> NodeEntry:
        """The config's or the inventory's entry for ``host``, by its whole name or its host."""
        return (self.nodes.get(host) or self.nodes.get(split_destination(host).host)
                or NodeEntry())


def validate_host(host: str) -> str:
    """``[ssh://][user@]host[:port]`` or an ssh_config alias; never an option or shell
    syntax."""
    split_destination(host.removeprefix("ssh://").rstrip("/") if host.startswith("ssh://")
                      else host)
    return host


@dataclass(frozen=True)
class Destination:
    user: str | None
    host: str  # a name, an alias, or an IP address (IPv6 without brackets)
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}:{self.port}" if self.port else f"{user}{host}"


def split_destination(text: str) -> Destination:
    """``[user@]host[:port]``, ``[user@][v6addr]:port`` or a bare IPv6 address."""
    invalid = f"invalid host {text!r}: expected local, [user@]host[:port] or an alias"
    if not text or text.startswith("-") or not _HOST.fullmatch(text):
        raise UsageError(invalid)
    user, _, name = text.rpartition("@")
    port_text = None
    if name.startswith("["):
        inside, bracket, rest = name[1:].partition("]")
        if not bracket or not inside or (rest and not rest.startswith(":")):
            raise UsageError(invalid)
        name, port_text = inside, rest[1:] if rest else None
    elif name.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        name, _, port_text = name.partition(":")
    if not name or "[" in name or "]" in name:
        raise UsageError(invalid)
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise UsageError(f"invalid host {text!r}: port {port_text!r} is not 1-65535")
        port = int(port_text)
    return Destination(user=user or None, host=name, port=port)
