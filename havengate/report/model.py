"""The one report every formatter renders; built once, with its exit code already decided."""

from __future__ import annotations

from dataclasses import dataclass

from havengate.assess.finding import Finding


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
    status: str  # patched | already | planned | reverted | failed
    method: str | None
    journal_id: str | None
    changes: tuple[ChangeSummary, ...]
    notes: tuple[str, ...]
    diff: str


@dataclass(frozen=True)
class CheckResult:
    """One post-move check: a JVM listening, a connect from the node, an HTTP answer."""

    kind: str  # listen | connect | http
    target: str  # "tcp/61616", "10.0.0.101:61616", a URL
    ok: bool | None  # None: could not be checked
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
    verdict: str
    findings: tuple[Finding, ...]
    fix: str | None
    java_ports: tuple[Port, ...]
    patch: PatchSummary | None = None
    checks: tuple[CheckResult, ...] = ()
    duration_seconds: float | None = None  # how long this container's own steps took


@dataclass(frozen=True)
class Report:
    tool: str
    version: str
    command: str
    generated_at: str
    policy: str
    verdict: str
    exit_code: int
    source: NodeSummary | None
    target: NodeSummary | None
    containers: tuple[ContainerResult, ...]
    errors: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what an operator must know beside the verdicts
    duration_seconds: float | None = None  # the whole command, as the CLI measured it
