"""The patch journal: JSON lines in the state directory, appended and fsynced before and
after every write to a node, so a patch interrupted at any point can be finished or undone.

Each line is one event of one patch (``started`` → ``completed``, or ``failed``,
``abandoned``; later ``reverted``). An entry's state is its last event. The exact previous
bytes of CTID.conf are kept in the ``started`` event (base64), so ``revert`` restores them
byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from havengate import __version__
from havengate.documents import validate
from havengate.errors import DocumentError, JournalError

SCHEMA_ID = "havengate.journal/1"
JOURNAL_NAME = "journal.jsonl"
EVENTS = ("started", "completed", "failed", "abandoned", "reverted")


@dataclass
class Entry:
    """One patch, folded from its events."""

    id: str
    node: str
    ctid: str
    path: str
    rule: str
    strategy: str
    method: str
    changes: list[dict[str, Any]]
    previous: bytes
    previous_sha256: str
    intended_sha256: str
    mode: str
    uid: int
    gid: int
    started_at: str
    state: str = "started"
    result_sha256: str | None = None
    updated_at: str | None = None
    notes: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / JOURNAL_NAME

    # ----- reading
    def entries(self) -> list[Entry]:
        """Every patch in the order it started; a corrupt journal is refused, never guessed."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc.strerror or exc}") from exc
        lines = raw.split(b"\n")
        lines.pop()  # b"" after the last newline, or an append a crash cut short: not an event
        entries: dict[str, Entry] = {}
        for number, line in enumerate(lines, start=1):
            self._fold(entries, self._event(line, number), number)
        return list(entries.values())

    def _event(self, line: bytes, number: int) -> dict[str, Any]:
        where = f"{self.path} line {number}"
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise JournalError(f"{where} is not JSON: the journal is corrupt; move it aside "
                               "after checking it (nothing was changed)") from exc
        if isinstance(event, dict) and event.get("schema", SCHEMA_ID) != SCHEMA_ID:
            raise JournalError(f"{where} is {event.get('schema')!r}, written by a newer "
                               f"havengate; this one ({__version__}) reads {SCHEMA_ID} only")
        try:
            validate(event, "journal", where)
        except DocumentError as exc:
            raise JournalError(f"{exc}: the journal is corrupt (nothing was changed)") from exc
        return event

    def _fold(self, entries: dict[str, Entry], event: dict[str, Any], number: int) -> None:
        if event["event"] == "started":
            entries[event["id"]] = Entry(
                id=event["id"], node=event["node"], ctid=event["ctid"], path=event["path"],
                rule=event["rule"], strategy=event["strategy"], method=event["method"],
                changes=event["changes"], previous=self._previous(event, number),
                previous_sha256=event["previous"]["sha256"], mode=event["previous"]["mode"],
                uid=event["previous"]["uid"], gid=event["previous"]["gid"],
                intended_sha256=event["intended_sha256"], started_at=event["time"],
            )
            return
        entry = entries.get(event["id"])
        if entry is None:
            raise JournalError(f"journal event {event['event']} for unknown patch {event['id']}")
        entry.state = event["event"]
        entry.updated_at = event["time"]
        entry.result_sha256 = event.get("result_sha256", entry.result_sha256)
        if event.get("note"):
            entry.notes.append(event["note"])

    def _previous(self, event: dict[str, Any], number: int) -> bytes:
        """The file's old bytes, only if they are the bytes the journal's digest names:
        revert writes them as root into a file vzmigrate sources."""
        where = f"{self.path} line {number} (patch {event['id']})"
        try:
            data = base64.b64decode(event["previous"]["base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise JournalError(f"{where}: the saved CTID.conf bytes are not valid base64 ({exc}); "
                               "the journal is corrupt (nothing was changed)") from None
        if hashlib.sha256(data).hexdigest() != event["previous"]["sha256"]:
            raise JournalError(f"{where}: the saved CTID.conf bytes do not match their sha256; "
                               "the journal was altered (nothing was changed)")
        return data

    def open_entries(self, node: str, ctid: str) -> list[Entry]:
        return [e for e in self.entries() if (e.node, e.ctid) == (node, ctid)]

    # ----- writing
    def start(self, *, node: str, ctid: str, path: str, rule: str, strategy: str, method: str,
              changes: list[dict[str, Any]], previous: bytes,
              intended_sha256: str, mode: str, uid: int, gid: int) -> str:
        patch_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{ctid}-{secrets.token_hex(3)}"
        self._append({
            "event": "started", "id": patch_id, "node": node, "ctid": ctid, "path": path,
            "rule": rule, "strategy": strategy, "method": method, "changes": changes,
            "previous": {"sha256": hashlib.sha256(previous).hexdigest(), "mode": mode, "uid": uid, "gid": gid,
                         "base64": base64.b64encode(previous).decode()},
            "intended_sha256": intended_sha256,
        })
        return patch_id

    def record(self, patch_id: str, event: str, *, result_sha256: str | None = None,
               note: str | None = None) -> None:
        document: dict[str, Any] = {"event": event, "id": patch_id}
        if result_sha256:
            document["result_sha256"] = result_sha256
        if note:
            document["note"] = note
        self._append(document)

    def _append(self, event: dict[str, Any]) -> None:
        document = {"schema": SCHEMA_ID, "version": __version__, "time": _now(), **event}
        validate(document, "journal", "journal event")
        line = (json.dumps(document, separators=(",", ":")) + "\n").encode()
        self.entries()  # refuse to append to a corrupt or newer journal
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _drop_torn_line(fd)
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise JournalError(f"cannot append to the journal {self.path}: "
                               f"{exc.strerror or exc}") from exc


def _drop_torn_line(fd: int) -> None:
    """A crash mid-append leaves a line without its newline: that event never happened."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:  # back, a chunk at a time, to the last complete line
        start = max(0, end - 65536)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)
