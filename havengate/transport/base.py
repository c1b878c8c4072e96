"""What every transport offers: ``run()`` a command, get a ``Result``; a broken link raises."""

from __future__ import annotations

from collections.abc import Callable
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


class LineWriter:
    """A file-like sink that hands each complete line to ``line`` (streamed output)."""

    def __init__(self, line: Callable[[str], None]) -> None:
        self._line = line
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for one in lines:
            self._line(one.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""


class Transport(Protocol):
    """A node we can ask things; ``name`` is how the operator named it."""

    name: str

    def run(self, command: str, *, timeout: float) -> Result:
        """Run ``command`` with the node's shell; raise TransportError if we could not ask."""
        ...

    def stream(self, command: str, *, timeout: float, line: Callable[[str], None]) -> Result:
        """``run()``, handing each line of output to ``line`` as it comes (a long step
        such as vzmigrate, whose progress the operator watches)."""
        ...

    def lock(self, path: str, wait: float) -> AbstractContextManager[None]:
        """Hold an exclusive lock file on the node; raise LockBusy after ``wait`` seconds."""
        ...

    def close(self) -> None: ...
