"""The pre-move gate as one pipeline: facts (live or from files) -> assess -> decide -> report.

Nodes are probed concurrently, one round trip each. A node that cannot be asked is a
``NodeFailure``: its containers are UNKNOWN (exit 3), never *go*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from havengate.api.nodes import NodeFailure, NodeResult
from havengate.api.results import build_report, container_result, named_node, node_summary
from havengate.assess import Assessment, assess, assess_container
from havengate.decide import Decision, Policy, PolicyConfig, decide
from havengate.errors import Unassessable, UsageError
from havengate.facts.model import Container, NodeFacts
from havengate.model import (
    ContainerResult,
    Finding,
    NodeSummary,
    PatchSummary,
    Report,
    Severity,
    Unknown,
    Verdict,
)

UNREACHABLE_RULE = "HG000"


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
        refuse_absent(source, ctids)
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
            results.append(container_result(
                assessment.container.ctid, decision.verdict, container=assessment.container,
                findings=decision.findings, cpus_seen_now=assessment.cpus_seen_now,
                cpus_seen_after=assessment.cpus_seen_after, patch=patch))
        if not source.containers:
            notes.append(f"nothing was assessed: {source.host} lists no containers")
    else:
        results = [container_result(ctid, Verdict.UNKNOWN, findings=(Finding(
            ctid=ctid, rule=UNREACHABLE_RULE, severity=Severity.UNKNOWN,
            message="source facts unavailable", missing=("source-facts",)),))
            for ctid in ctids]

    # A fact a node could not give may hide a blocker: then nothing can be called "go".
    report = build_report(command, config.policy.value, results, source=_summary(source),
                          target=_summary(target), errors=errors, complete=not errors,
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


def refuse_absent(node: NodeFacts, ctids: tuple[str, ...]) -> None:
    """Every CTID named must be on the node (check's source, patch's host)."""
    if isinstance(node.containers, Unknown):
        raise Unassessable(f"{node.host}: containers unknown: {node.containers.reason}")
    present = {c.ctid for c in node.containers}
    absent = [ctid for ctid in ctids if ctid not in present]
    if absent:
        listed = ", ".join(sorted(present, key=int)) or "none"
        raise UsageError(f"CT {', '.join(absent)} not found on {node.host} "
                         f"(containers there: {listed})")


def _unassessable(container: Container, target: NodeFailure) -> Assessment:
    finding = Finding(
        ctid=container.ctid, rule=UNREACHABLE_RULE, severity=Severity.UNKNOWN,
        message=f"target could not be assessed: {target.reason}", missing=("target-facts",),
    )
    return Assessment(container=container, findings=(finding,),
                      cpus_seen_now=container.cpus_seen,
                      cpus_seen_after=Unknown("target facts unavailable"))


def _summary(node: NodeResult) -> NodeSummary:
    if isinstance(node, NodeFailure):
        return named_node(node.host, node.reason)
    return node_summary(node)
