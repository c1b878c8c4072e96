"""Rules turn source + target facts into findings, per container.

A rule that raises makes its container UNKNOWN (a finding says which rule and why),
never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from havengate.assess.rules import RULES
from havengate.assess.rules.hg004_visible_cpus_change import cpus_seen_now
from havengate.assess.visibility import predict_cpus_seen
from havengate.facts.ctconf import on_node
from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Severity, Unknown

__all__ = ["RULES", "Assessment", "Finding", "Severity", "assess"]


@dataclass(frozen=True)
class Assessment:
    container: Container
    findings: tuple[Finding, ...]
    cpus_seen_now: int | Unknown
    cpus_seen_after: int | Unknown


def assess_container(source: NodeFacts, target: NodeFacts, container: Container) -> Assessment:
    """Findings for ``container`` as it will be on the target: its CTID.conf travels, and
    the target's vz.conf supplies what that file does not set."""
    container = replace(container, conf=on_node(container.conf, target.vz_conf, container.ctid))
    findings: list[Finding] = []
    for rule in RULES:
        try:
            findings.extend(rule.check(source, target, container))
        except Exception as exc:  # a broken rule must not read as "go"
            findings.append(Finding(
                ctid=container.ctid, rule=rule.id, severity=Severity.UNKNOWN,
                message=f"rule {rule.id} failed ({type(exc).__name__}: {exc}); "
                        "this container was not fully assessed",
                missing=("rule",),
            ))
    return Assessment(
        container=container,
        findings=tuple(sorted(findings, key=lambda f: (-f.severity, f.rule, f.message))),
        cpus_seen_now=cpus_seen_now(source, container),
        cpus_seen_after=predict_cpus_seen(target.kernel, target.cpus, container.conf),
    )


def assess(source: NodeFacts, target: NodeFacts, ctids: tuple[str, ...] = ()) -> list[Assessment]:
    """Assess the source's containers (all, or those named) for a move to ``target``."""
    if isinstance(source.containers, Unknown):
        return []
    wanted = set(ctids)
    return [
        assess_container(source, target, container)
        for container in source.containers
        if not wanted or container.ctid in wanted
    ]
