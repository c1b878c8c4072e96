"""A wave's progress, journaled so ``havengate migrate`` can be run again: what moved and
verified is not moved twice (STATE_DIR/migrations.jsonl, one JSON event per line)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from havengate.errors import StateError

FILE = "migrations.jsonl"


class WaveJournal:
    """Events of moves from ``source`` to ``target`` (as the operator names them)."""

    def __init__(self, state_dir: Path, source: str, target: str) -> None:
        self.path = state_dir / FILE
        self.source, self.target = source, target

    # vzmigrate started, whatever came of it, but not a refusal (vzmigrate's own failure
    # leaves the container on the source: it is moved again)
    LEFT = frozenset({"moving", "moved", "verified", "unverified", "lost", "interrupted"})

    def moved(self) -> dict[str, str]:
        """CTID -> when, for containers an earlier run handed to vzmigrate on this route."""
        return {ctid: event.get("time", "?") for ctid, event in self._last().items()
                if event.get("event") in self.LEFT}

    def check_writable(self) -> None:
        """A move that happened must be journaled: refuse before the first one if it cannot."""
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
        except OSError as exc:
            raise StateError(f"cannot write the wave journal {self.path}: "
                             f"{exc.strerror or exc}; nothing was moved") from exc

    def _last(self) -> dict[str, dict]:
        last: dict[str, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"cannot read {self.path}: {exc}") from exc
        for number, line in enumerate(lines, start=1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    continue  # a write a crash cut short: that event never happened
                raise StateError(f"{self.path} line {number} is not JSON: the wave journal is "
                                 "corrupt; move it aside (nothing was done)") from None
            if isinstance(event, dict) and (event.get("source"), event.get("target")) == (
                    self.source, self.target):
                last[str(event.get("ctid"))] = event
        return last

    def record(self, ctid: str, event: str, detail: str) -> None:
        line = json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "source": self.source, "target": self.target, "ctid": ctid,
                           "event": event, "detail": detail}) + "\n"
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StateError(f"cannot append to {self.path}: {exc.strerror or exc}") from exc
