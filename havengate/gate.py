"""The pre-move gate as one pipeline: facts (live or from files) -> assess -> decide -> report.

Nodes are probed concurrently, one round trip each. A node that cannot be asked is a
``NodeFailure``: its containers are UNKNOWN (exit 3), never *go*.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from havengate import __version__
from havengate.assess import Assessment, assess, assess_container
from havengate.assess.finding import Finding, Severity
from havengate.assess.rules.common import java_evidence, version_text
from havengate.decide import EXIT_CODES, Decision, Policy, PolicyConfig, Verdict, decide, overall
from havengate.errors import HavengateError, UsageError
from havengate.facts.ctconf import setting_text
from havengate.facts.model import Container, NodeFacts, Unknown
from havengate.report.model import ContainerResult, NodeSummary, PatchSummary, Port, Report

UNREACHABLE_RULE = "HG000"


@dataclass(frozen=True)
class NodeFailure:
    """A node whose facts could not be had, and why (unreachable, refused, unreadable)."""

    host: str
    reason: str


NodeResult = NodeFacts | NodeFailure


Job = tuple[str, Callable[[], NodeFacts]]  # (host as the operator named it, collect it)


def gather(jobs: dict[str, Job]) -> dict[str, NodeResult]:
    """Run each node's collection concurrently; a HavengateError becomes a NodeFailure."""

    def attempt(item: tuple[str, Job]) -> NodeResult:
        _, (name, job) = item
        try:
            return job()
        except UsageError:
            raise
        except HavengateError as exc:
            return NodeFailure(host=name, reason=str(exc))
        except Exception as exc:  # a bug while reading one node must not hide the other
            return NodeFailure(host=name, reason=f"internal error: {type(exc).__name__}: {exc}")

    # Daemon threads, not a pool: Ctrl-C must not wait for a probe that hangs on a silent
    # node (a pool's shutdown and its atexit hook join every worker). The interrupted
    # probes die with the process; their SSH sessions close, and the probe cleans up.
    results: dict[str, NodeResult | BaseException] = {}
    done = threading.Event()

    def work(key: str, item: tuple[str, Job]) -> None:
        try:
            results[key] = attempt(item)
        except BaseException as exc:  # handed to the caller's thread
            results[key] = exc
        if len(results) == len(jobs):
            done.set()

    for key, job in jobs.items():
        threading.Thread(target=work, args=(key, (key, job)), name=f"probe {key}",
                         daemon=True).start()
    while jobs and not done.wait(0.2):
        pass
    for value in results.values():
        if isinstance(value, BaseException):
            raise value
    return {key: results[key] for key in jobs}  # type: ignore[misc]


# Fixes a container on the source; returns what it did and the container as it is now
# (None when nothing was written, e.g. --dry-run). Side effects live in act/, not here.
Patcher = Callable[[Container], tuple[PatchSummary, Container | None]]
PATCHABLE_RULES = frozenset({"HG001"})


def run_check(
    source: NodeResult,
    target: NodeResult,
    ctids: tuple[str, ...],
    config: PolicyConfig,
    command: str = "check",
    patcher: Patcher | None = None,
) -> tuple[Report, list[Assessment]]:
    """The gate's report (verdict and exit code included) and the assessments behind it.

    With ``--policy patch`` a container blocked only by patchable rules is handed to
    ``patcher``, then assessed again on its new configuration: ``patched`` if that passes.
    """
    errors: list[str] = []
    notes: list[str] = []
    assessments: list[Assessment] = []
    results: list[ContainerResult] = []
    for role, node in (("source", source), ("target", target)):
        if isinstance(node, NodeFailure):
            errors.append(f"{role} {node.reason}")
        else:
            errors.extend(f"{role} {node.host}: {error}" for error in node_gaps(node))

    if isinstance(source, NodeFacts) and not isinstance(source.containers, Unknown):
        _refuse_absent_ctids(source, ctids)
        if isinstance(target, NodeFacts):
            assessments = assess(source, target, ctids)
        else:
            assessments = [_unassessable(c, target) for c in source.containers
                           if not ctids or c.ctid in ctids]
        for index, assessment in enumerate(assessments):
            decision = decide(assessment.findings, config)
            patch = None
            if patcher and config.policy == Policy.PATCH and _patchable(decision):
                assessment, decision, patch = _patch_and_reassess(
                    assessment, decision, source, target, config, patcher)
                assessments[index] = assessment
            results.append(_container_result(assessment, decision, patch))
        if not source.containers:
            notes.append(f"nothing was assessed: {source.host} lists no containers")
    else:
        results = [_unknown_ctid(ctid, "source facts unavailable") for ctid in ctids]

    # A fact a node could not give may hide a blocker: then nothing can be called "go".
    report = build_report(command, config.policy.value, results, source=node_summary(source),
                          target=node_summary(target), errors=errors, complete=not errors,
                          notes=notes)
    return report, assessments


def node_gaps(node: NodeFacts) -> list[str]:
    """What the node could not tell, from its facts themselves: a facts file whose
    ``errors`` list is empty while its container list is unknown is not complete."""
    gaps = list(node.errors)
    for value, what in ((node.kernel, "kernel"), (node.cpus, "cpus"),
                        (node.vzctl_version, "vzctl"), (node.containers, "containers")):
        if isinstance(value, Unknown) and not any(g.startswith(f"{what}:") for g in gaps):
            gaps.append(f"{what}: {value.reason}")
    return gaps


def build_report(command: str, policy: str, results: list[ContainerResult], *,
                 source: NodeSummary | None, target: NodeSummary | None,
                 errors: list[str] | tuple[str, ...] = (), complete: bool = True,
                 notes: list[str] | tuple[str, ...] = ()) -> Report:
    """Every command's one document: the overall verdict and exit code computed here, once."""
    verdict = overall([Verdict(r.verdict) for r in results], complete=complete)
    return Report(
        tool="havengate",
        version=__version__,
        command=command,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        policy=policy,
        verdict=verdict.value,
        exit_code=int(EXIT_CODES[verdict]),
        source=source,
        target=target,
        containers=tuple(results),
        errors=tuple(errors),
        notes=tuple(notes),
    )


def _patchable(decision: Decision) -> bool:
    blocking = {f.rule for f in decision.findings if f.severity == Severity.ERROR}
    return decision.verdict == Verdict.NO_GO and bool(blocking) and blocking <= PATCHABLE_RULES


def _patch_and_reassess(
    assessment: Assessment, decision: Decision, source: NodeFacts, target: NodeFacts,
    config: PolicyConfig, patcher: Patcher,
) -> tuple[Assessment, Decision, PatchSummary]:
    summary, patched = patcher(assessment.container)
    if patched is None or not isinstance(target, NodeFacts):
        return assessment, decision, summary
    again = assess_container(source, target, patched)
    redecided = decide(again.findings, config)
    if redecided.verdict == Verdict.GO:
        redecided = replace(redecided, verdict=Verdict.PATCHED)
    return again, redecided, summary


def _refuse_absent_ctids(source: NodeFacts, ctids: tuple[str, ...]) -> None:
    present = {c.ctid for c in source.containers} if isinstance(source.containers, tuple) else set()
    absent = [ctid for ctid in ctids if ctid not in present]
    if absent:
        listed = ", ".join(sorted(present, key=int)) or "none"
        raise UsageError(f"CT {', '.join(absent)} not found on {source.host} "
                         f"(containers there: {listed})")


def _unassessable(container: Container, target: NodeFailure) -> Assessment:
    finding = Finding(
        ctid=container.ctid, rule=UNREACHABLE_RULE, severity=Severity.UNKNOWN,
        message=f"target could not be assessed: {target.reason}", missing=("target-facts",),
    )
    return Assessment(container=container, findings=(finding,),
                      cpus_seen_now=container.cpus_seen,
                      cpus_seen_after=Unknown("target facts unavailable"))


def _unknown_ctid(ctid: str, reason: str) -> ContainerResult:
    finding = Finding(ctid=ctid, rule=UNREACHABLE_RULE, severity=Severity.UNKNOWN,
                      message=reason, missing=("source-facts",))
    return ContainerResult(
        ctid=ctid, hostname=None, status=None, java=None, cpus_seen_now=None,
        cpus_seen_after=None, cpus="?", cpumask="?", verdict="unknown",
        findings=(finding,), fix=None, java_ports=(),
    )


def _container_result(assessment: Assessment, decision: Decision,
                      patch: PatchSummary | None = None) -> ContainerResult:
    container = assessment.container
    cpus_text = setting_text(container.conf, "CPUS")
    mask_text = setting_text(container.conf, "CPUMASK")
    is_java, _ = java_evidence(container)
    fix = next((f.remediation for f in decision.findings
                if f.remediation and f.severity >= Severity.WARNING), None)
    return ContainerResult(
        ctid=container.ctid,
        hostname=container.hostname,
        status=container.status,
        java=is_java,
        cpus_seen_now=_value(assessment.cpus_seen_now),
        cpus_seen_after=_value(assessment.cpus_seen_after),
        cpus=cpus_text,
        cpumask=mask_text,
        verdict=decision.verdict.value,
        findings=decision.findings,
        fix=fix,
        java_ports=java_ports(container),
        patch=patch,
    )


def java_ports(container: Container) -> tuple[Port, ...]:
    ports = container.java_ports()
    if isinstance(ports, Unknown):
        return ()
    return tuple(Port(family=family, address=address, port=port) for family, address, port in ports)


def _value(value: int | Unknown) -> int | None:
    return None if isinstance(value, Unknown) else value


def named_node(host: str, error: str | None = None) -> NodeSummary:
    """A node known only by name (unreachable, or not probed by this command)."""
    return NodeSummary(host=host, kernel=None, kernel_family=None, cpus=None, vzctl=None,
                       error=error)


def node_summary(node: NodeResult) -> NodeSummary:
    if isinstance(node, NodeFailure):
        return named_node(node.host, node.reason)
    kernel = node.kernel
    vzctl = node.vzctl_version
    return NodeSummary(
        host=node.host,
        kernel=None if isinstance(kernel, Unknown) else kernel.release,
        kernel_family=None if isinstance(kernel, Unknown) else kernel.family.value,
        cpus=_value(node.cpus),
        vzctl=(version_text(vzctl) if isinstance(vzctl, tuple)
               else "not installed" if vzctl is None else None),
        error="; ".join(node.errors) or None,
    )
