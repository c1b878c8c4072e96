"""Run commands on a node: a small registry of transports chosen by the node's name.

``local`` runs here; ``ssh://user@host:port``, ``[user@]host[:port]`` or an OpenSSH alias
run over SSH (fabric/paramiko, imported only when a node is reached). The only package
that imports fabric, invoke or paramiko.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from havengate.transport.address import NodeAccess, split_destination, validate_host
from havengate.transport.base import Result, Transport

LOCAL = "local"
SSH_SCHEME = "ssh://"

__all__ = ["LOCAL", "NodeAccess", "Result", "Transport", "open_transport", "preflight",
           "validate_host"]


def _local(_: str, __: NodeAccess) -> Transport:
    from havengate.transport.local import LocalTransport

    return LocalTransport()


def _ssh(host: str, access: NodeAccess) -> Transport:
    from havengate.transport.ssh import SshTransport, load_ssh_config

    return SshTransport(validate_host(host), access, load_ssh_config(access.ssh_config))


TRANSPORTS: dict[str, Callable[[str, NodeAccess], Transport]] = {"local": _local, "ssh": _ssh}


def scheme_of(host: str) -> tuple[str, str]:
    """(transport name, the node's address for it), as testinfra's backends are chosen."""
    if host == LOCAL:
        return "local", host
    if host.startswith(SSH_SCHEME):
        address = host.removeprefix(SSH_SCHEME).rstrip("/")
        split_destination(address)
        return "ssh", address
    return "ssh", host


def open_transport(host: str, access: NodeAccess) -> Transport:
    """A transport for ``host``; nothing is contacted until the first ``run()``."""
    name, address = scheme_of(host)
    return TRANSPORTS[name](address, access)


def preflight(access: NodeAccess, hosts: Iterable[str] = ()) -> None:
    """Read what all SSH nodes share once, and the private key each of ``hosts`` names;
    raise UsageError if any cannot be used."""
    from havengate.transport.ssh import preflight as ssh_preflight
    from havengate.transport.ssh import preflight_keys

    ssh_preflight(access)
    preflight_keys(access, (address for kind, address in map(scheme_of, hosts) if kind == "ssh"))
