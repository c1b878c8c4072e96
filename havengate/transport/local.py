"""The node we run on (the vzmigrate hook case: the source is local)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Context
from invoke.exceptions import CommandTimedOut, Failure, ThreadException

from havengate.errors import LockBusy, TransportError
from havengate.transport.base import LineWriter, Result


class LocalTransport:
    name = "local"

    def __init__(self) -> None:
        self._context = Context()

    def run(self, command: str, *, timeout: float) -> Result:
        return self._run(command, timeout=timeout, line=None)

    def stream(self, command: str, *, timeout: float, line: Callable[[str], None]) -> Result:
        """In a session of its own (the terminal's Ctrl-C reaches havengate, not the
        command), not through invoke's runner, which catches Ctrl-C and waits for the
        command to end: here a KeyboardInterrupt returns at once and the command goes on."""
        said: list[str] = []
        try:
            process = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        except OSError as exc:
            raise TransportError(self.name, f"could not run a local command: {exc}") from exc
        writer = LineWriter(line)

        def follow() -> None:
            for raw in process.stdout:
                text = raw.decode("utf-8", "replace")
                said.append(text)
                writer.write(text)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            exited = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # the shell only: what it started detached (vzmigrate) goes on
            raise TransportError(self.name, f"command timed out after {timeout:g} s") from None
        follower.join(5)
        writer.flush()
        return Result(stdout="".join(said), stderr="", exited=exited)

    def _run(self, command: str, *, timeout: float,
             line: Callable[[str], None] | None) -> Result:
        started = time.monotonic()
        streams = {} if line is None else {
            "hide": False, "out_stream": LineWriter(line), "err_stream": LineWriter(line)}
        try:
            result = self._context.run(
                command, **{"hide": True, **streams}, warn=True, timeout=timeout,
                in_stream=False, pty=False)
        except CommandTimedOut as exc:
            raise TransportError(self.name, f"command timed out after {exc.timeout:g} s") from exc
        except (Failure, ThreadException, OSError) as exc:
            raise TransportError(self.name, f"could not run a local command: {exc}") from exc
        if time.monotonic() - started >= timeout:  # killed at the limit, output cut short
            raise TransportError(self.name, f"command timed out after {timeout:g} s")
        return Result(stdout=result.stdout, stderr=result.stderr, exited=result.exited)

    @contextmanager
    def lock(self, path: str, wait: float) -> Iterator[None]:
        """flock(2) on the lock file, polled until ``wait`` runs out (released on any exit)."""
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TransportError(self.name, f"cannot open lock {path}: {exc.strerror}") from exc
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockBusy(f"{self.name}: {path} is held by another havengate; "
                                       f"gave up after {wait:g} s") from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing to release."""
