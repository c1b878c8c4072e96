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

    def __init__(self, message: str, path: tuple = ()) -> None:
        super().__init__(message)
        self.path = path  # the JSON path of a schema error, for a caller that knows lines


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


class Unassessable(HavengateError):
    """A node could not be read well enough to act on (exit 3)."""

    exit_code = 3


class LockBusy(HavengateError):
    """Another havengate holds the container's lock on the node (exit 3)."""

    exit_code = 3


class StateError(HavengateError):
    """The state directory cannot be written."""

    exit_code = 2


class JournalError(HavengateError):
    """The journal cannot be read or written; nothing was changed on any node."""

    exit_code = 2


class PlanRefused(UsageError):
    """The planned values leave the container at risk (exit 2); --force writes them anyway."""


class RemoteWriteError(HavengateError):
    """A write on the node failed; the file holds exactly its old bytes."""

    exit_code = 3


class ConcurrentChange(HavengateError):
    """The file changed between read and write: someone else is editing it."""

    exit_code = 3


class PatchFailed(HavengateError):
    """The values are not in the file after writing: the journal says what happened."""

    exit_code = 1


class RevertRefused(HavengateError):
    exit_code = 1


class ReportNotWritten(HavengateError):
    """The verdict stands, but its report could not be written where asked (exit 2)."""
