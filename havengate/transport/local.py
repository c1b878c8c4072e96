"""The node we run on (the vzmigrate hook case: the source is local)."""

from __future__ import annotations

from invoke import Context
from invoke.exceptions import CommandTimedOut, Failure, ThreadException

from havengate.errors import TransportError
from havengate.transport.base import Result


class LocalTransport:
    name = "local"

    def __init__(self) -> None:
        self._context = Context()

    def run(self, command: str, *, timeout: float) -> Result:
        try:
            result = self._context.run(
                command, hide=True, warn=True, timeout=timeout, in_stream=False, pty=False
            )
        except CommandTimedOut as exc:
            raise TransportError(self.name, f"command timed out after {exc.timeout:g} s") from exc
        except (Failure, ThreadException, OSError) as exc:
            raise TransportError(self.name, f"could not run a local command: {exc}") from exc
        return Result(stdout=result.stdout, stderr=result.stderr, exited=result.exited)

    def close(self) -> None:
        """Nothing to release."""
