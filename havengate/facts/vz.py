"""vzctl and vzlist output (reference/openvz.md §2-3), vzctl 3.0.x and 4.x alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from havengate.model import Unknown

VZLIST_STATUSES = frozenset({"running", "stopped", "mounted", "suspended"})
_VZCTL_VERSION = re.compile(r"^vzctl version (\d+(?:\.\d+)*)", re.MULTILINE)
_COMMAND_NOT_FOUND = 127


class VzlistError(ValueError):
    """vzlist printed something of a shape havengate does not know."""


@dataclass(frozen=True)
class VzlistRow:
    """One line of ``vzlist -a -H -o veid,status,hostname`` (fields of every vzctl 3.x/4.x)."""

    ctid: str
    status: str
    hostname: str | None


def parse_vzlist(stdout: str, stderr: str, status: int) -> tuple[VzlistRow, ...]:
    """Rows of the probe's vzlist call; hostname is last so vzlist never truncates it."""
    if status != 0:
        # vzlist before 2012 exits 1 when a node has no container at all.
        if status == 1 and not stdout.strip() and _says_no_containers(stderr):
            return ()
        last = stderr.strip().splitlines()[-1:] or ["no message"]
        raise VzlistError(f"exit {status}: {last[0]}")
    rows = []
    for number, line in enumerate(stdout.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit() or fields[1] not in VZLIST_STATUSES:
            raise VzlistError(f"line {number} is not 'CTID STATUS HOSTNAME': {line!r:.80}")
        ctid, state, hostname = fields
        if any(row.ctid == ctid for row in rows):  # vzlist lists a container once
            raise VzlistError(f"line {number}: CT {ctid} is listed twice")
        rows.append(VzlistRow(ctid=ctid, status=state, hostname=None if hostname == "-" else hostname))
    return tuple(rows)


def _says_no_containers(stderr: str) -> bool:
    """vzlist before 2012 on an empty node: exit 1 and this message (or nothing at all)."""
    return stderr.strip() in ("", "Container(s) not found", "VE not found")


def parse_vzctl_version(text: str, status: int) -> tuple[int, ...] | Unknown | None:
    """``vzctl version 4.9.4`` -> (4, 9, 4); None when vzctl is not installed."""
    if status == _COMMAND_NOT_FOUND:
        return None
    match = _VZCTL_VERSION.search(text)
    if not match:
        return Unknown(f"vzctl --version printed {text.strip()[:60]!r} (exit {status})")
    return tuple(int(part) for part in match.group(1).split("."))
