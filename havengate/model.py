"""The words every step shares: what a fact could not tell, how bad a finding is, what a
check found, the verdicts and the one report. Neutral: it imports nothing of havengate's
but the error hierarchy, so every layer can speak it (the JSON keeps the same strings).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Unknown:
    """A fact that could not be established, and why: never a default 0, False or "none"."""

    reason: str


class Severity(enum.IntEnum):
    """How bad a finding is, in increasing order; UNKNOWN means "could not tell"."""

    INFO = 1
    WARNING = 2
    UNKNOWN = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class _Word(str, enum.Enum):
    """An enum whose str() and format() are its value: reports print words, not names."""

    def __str__(self) -> str:
        return str(self.value)

    __format__ = str.__format__


class Phase(_Word):
    """When a rule judges: before the move (check) or after it (verify)."""

    PRE_MOVE = "pre-move"
    POST_MOVE = "post-move"


@dataclass(frozen=True, order=True)
class Finding:
    """What a rule saw and how bad it is; policy (decide.py) judges what it means."""

    ctid: str
    rule: str
    severity: Severity
    message: str
    evidence: tuple[str, ...] = ()
    remediation: str | None = None
    # Facts a rule needed but did not have (e.g. "target-kernel"); policy may soften some.
    missing: tuple[str, ...] = field(default=())


class Verdict(_Word):
    GO = "go"
    NO_GO = "no-go"
    PATCHED = "patched"
    UNKNOWN = "unknown"
    VERIFIED = "verified"  # after the move: every expected port and check answered
    FAILED = "failed"  # after the move: something expected is not there
    USAGE_ERROR = "usage-error"  # refused before anything was done (a minimal report)
    SKIPPED = "skipped"  # migrate: not attempted (an earlier container failed)


class ExitCode(enum.IntEnum):
    def __str__(self) -> str:
        return str(int(self))

    GO = 0
    NO_GO = 1
    USAGE = 2
    UNKNOWN = 3


class PatchStatus(_Word):
    PATCHED = "patched"
    ALREADY = "already"  # the file held the values: nothing to do
    PLANNED = "planned"  # --dry-run: what would be done
    REVERTED = "reverted"
    FAILED = "failed"


@dataclass(frozen=True)
class NodeSummary:
    host: str
    kernel: str | None
    kernel_family: str | None
    cpus: int | None
    vzctl: str | None
    error: str | None  # why the node (or part of it) could not be read


@dataclass(frozen=True)
class Port:
    family: str
    address: str
    port: int


@dataclass(frozen=True)
class ChangeSummary:
    key: str
    before: str | None
    after: str


@dataclass(frozen=True)
class PatchSummary:
    """What the act step did (or, with --dry-run, would do) to one container's CTID.conf."""

    host: str
    status: PatchStatus
    method: str | None
    journal_id: str | None
    changes: tuple[ChangeSummary, ...]
    notes: tuple[str, ...]
    diff: str


@dataclass(frozen=True)
class CheckResult:
    """One post-move check: a program listening, a connect from the node, an HTTP answer."""

    kind: str  # listen | connect | http | running
    target: str  # "tcp/61616", "10.0.0.101:61616", a URL
    ok: bool | None  # None: could not be checked
    detail: str


@dataclass(frozen=True)
class StepResult:
    """One phase of a container's move: check, patch, migrate, verify."""

    name: str
    outcome: str  # ok | failed | skipped | unknown | refused
    seconds: float | None
    detail: str


@dataclass(frozen=True)
class ContainerResult:
    ctid: str
    hostname: str | None
    status: str | None
    java: bool | None
    cpus_seen_now: int | None
    cpus_seen_after: int | None
    cpus: str  # as configured: "1", "unset", or what could not be read
    cpumask: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    fix: str | None
    java_ports: tuple[Port, ...]
    patch: PatchSummary | None = None
    checks: tuple[CheckResult, ...] = ()
    duration_seconds: float | None = None  # how long this container's own steps took
    steps: tuple[StepResult, ...] = ()  # migrate: its phases, in order


@dataclass(frozen=True)
class PlanEntry:
    """What the upgrade wave does with one container of a pair, and the line that does it."""

    ctid: str
    action: str  # patch-first | move | patched | blocked | unknown
    why: str
    command: str | None = None  # the exact havengate patch / vzctl set line, for patch-first


@dataclass(frozen=True)
class PairResult:
    """One node of the fleet and where its containers go: its HA peer, or the profile of
    hardware not installed yet (``planned``)."""

    source: NodeSummary
    target: NodeSummary
    planned: bool
    verdict: Verdict
    containers: tuple[ContainerResult, ...]
    errors: tuple[str, ...]
    plan: tuple[PlanEntry, ...]
    totals: dict[str, int]  # verdict -> containers


@dataclass(frozen=True)
class FleetSummary:
    nodes: int
    nodes_unreachable: int
    unreachable: tuple[str, ...]  # "node: why", one per node that could not be read
    pairs: int
    containers: int
    totals: dict[str, int]  # verdict -> containers, the whole fleet
    plan: dict[str, int]  # action -> containers


@dataclass(frozen=True)
class Report:
    """The one document every command ends with; its verdict and exit code decided once."""

    tool: str
    version: str
    command: str
    generated_at: str
    policy: str
    verdict: Verdict
    exit_code: ExitCode
    source: NodeSummary | None
    target: NodeSummary | None
    containers: tuple[ContainerResult, ...]
    errors: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what an operator must know beside the verdicts
    duration_seconds: float | None = None  # the whole command, as the CLI measured it
    interrupted: bool = False  # cut short by the operator (Ctrl-C): the notes say where
    pairs: tuple[PairResult, ...] = ()  # scan: the fleet, pair by pair
    fleet: FleetSummary | None = None  # scan: totals over every pair
