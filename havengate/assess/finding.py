"""Findings are data: a rule says what it saw and how bad; policy (decide.py) judges."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    """How bad a finding is, in increasing order; UNKNOWN means "could not tell"."""

    INFO = 1
    WARNING = 2
    UNKNOWN = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Finding:
    ctid: str
    rule: str
    severity: Severity
    message: str
    evidence: tuple[str, ...] = ()
    remediation: str | None = None
    # Facts a rule needed but did not have (e.g. "target-kernel"); policy may soften some.
    missing: tuple[str, ...] = field(default=())
