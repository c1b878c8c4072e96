"""Run commands on a node: ``local`` or SSH. The only package that imports fabric/invoke."""

from __future__ import annotations

from havengate.transport.base import Result, Transport
from havengate.transport.ssh import SshOptions, load_ssh_config, validate_host

LOCAL = "local"

__all__ = ["LOCAL", "Result", "SshOptions", "Transport", "open_transport", "validate_host"]


def open_transport(host: str, options: SshOptions) -> Transport:
    """A transport for ``host``; nothing is contacted until the first ``run()``."""
    if host == LOCAL:
        from havengate.transport.local import LocalTransport

        return LocalTransport()
    from havengate.transport.ssh import SshTransport

    return SshTransport(validate_host(host), options, load_ssh_config(options.ssh_config))
