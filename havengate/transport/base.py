"""What every transport offers: ``run()`` a command, get a ``Result``; a broken link raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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

    def close(self) -> None: ...
