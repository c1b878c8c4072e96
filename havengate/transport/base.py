"""What every transport offers: ``run()`` a command, get a ``Result``; a broken link raises."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

# Hold an flock until our end of the channel closes: a kill -9 of havengate drops the
# connection, cat sees EOF, and the lock is gone with it. Arguments: LOCKFILE WAIT.
LOCK_SCRIPT = r"""
mkdir -p "${1%/*}" || exit 3
exec flock -w "$2" "$1" sh -c 'echo locked; exec cat >/dev/null'
"""
LOCK_BUSY = 1  # flock -w: the lock was not had in time


@dataclass(frozen=True)
class Result:
    """A command that ran. A non-zero ``exited`` is data, not an error."""

    stdout: str
    stderr: str
    exited: int


class Transport(Protocol):
    """A node we can ask things; ``name`` is how the operator named it."""

    name: str

    def run(self, command: str, *, timeout: float) -> Result:
        """Run ``command`` with the node's shell; raise TransportError if we could not ask."""
        ...

    def lock(self, path: str, wait: float) -> AbstractContextManager[None]:
        """Hold an exclusive lock file on the node; raise LockBusy after ``wait`` seconds."""
        ...

    def close(self) -> None: ...
