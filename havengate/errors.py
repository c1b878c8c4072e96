"""The error hierarchy: the CLI turns any HavengateError into one line and an exit code."""

from __future__ import annotations


class HavengateError(Exception):
    """Base of every error havengate reports to the operator without a traceback."""

    exit_code = 2


class UsageError(HavengateError):
    """Bad arguments, configuration or input documents (exit 2)."""

    exit_code = 2


class DocumentError(UsageError):
    """A JSON document (facts file, config, baseline) is unreadable or fails its schema."""


class TransportError(HavengateError):
    """Could not *ask* a node: unreachable, auth or host-key failure, timeout (exit 3).

    A command that ran and exited non-zero is not a TransportError: that is data.
    """

    exit_code = 3

    def __init__(self, host: str, message: str, *, transient: bool = False,
                 permanent: bool = False) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.transient = transient  # worth a retry at once (a reset, a refused connect)
        self.permanent = permanent  # waiting cannot help (a host key, an auth refusal)


class ProbeError(HavengateError):
    """A node answered, but its output cannot be read as facts (exit 3)."""

    exit_code = 3
