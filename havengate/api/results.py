"""Every command's one report, and the one function that builds a container's line in it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from havengate import __version__
from havengate.assess.rules.common import java_evidence, version_text
from havengate.decide import EXIT_CODES, overall
from havengate.facts.ctconf import on_node, setting_text
from havengate.facts.model import Container, CtConf, NodeFacts
from havengate.model import (
    CheckResult,
    ContainerResult,
    Finding,
    NodeSummary,
    PatchSummary,
    Port,
    Report,
    Severity,
    StepResult,
    Unknown,
    Verdict,
)


def build_report(command: str, policy: str, results: list[ContainerResult], *,
                 source: NodeSummary | None, target: NodeSummary | None,
                 errors: list[str] | tuple[str, ...] = (), complete: bool = True,
                 notes: list[str] | tuple[str, ...] = ()) -> Report:
    """Every command's one document: the overall verdict and exit code computed here, once."""
    verdict = overall([r.verdict for r in results], complete=complete)
    return Report(
        tool="havengate",
        version=__version__,
        command=command,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        policy=policy,
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        source=source,
        target=target,
        containers=tuple(results),
        errors=tuple(errors),
        notes=tuple(notes),
    )


def container_result(ctid: str, verdict: Verdict, *, container: Container | None = None,
                     node: NodeFacts | None = None, findings: Iterable[Finding] = (),
                     cpus_seen_now: int | Unknown | None = None,
                     cpus_seen_after: int | Unknown | None = None,
                     ports: tuple[Port, ...] | None = None,
                     patch: PatchSummary | None = None, checks: tuple[CheckResult, ...] = (),
                     duration: float | None = None,
                     steps: tuple[StepResult, ...] = ()) -> ContainerResult:
    """A container's line in any report (check, patch, revert, verify), its placeholders the
    same everywhere: what the container's facts say, "?" for what they could not say.

    ``node``: the node whose vz.conf completes the container's CPU settings (the target).
    """
    findings = tuple(findings)
    conf: CtConf | Unknown = Unknown("no facts of this container")
    if container is not None:
        conf = on_node(container.conf, node.vz_conf, ctid) if node is not None else container.conf
    return ContainerResult(
        ctid=ctid,
        hostname=container.hostname if container else None,
        status=container.status if container else None,
        java=java_evidence(container)[0] if container else None,
        cpus_seen_now=_value(cpus_seen_now),
        cpus_seen_after=_value(cpus_seen_after),
        cpus=setting_text(conf, "CPUS"),
        cpumask=setting_text(conf, "CPUMASK"),
        verdict=verdict,
        findings=findings,
        fix=next((f.remediation for f in findings
                  if f.remediation and f.severity >= Severity.WARNING), None),
        java_ports=ports if ports is not None else java_ports(container),
        patch=patch,
        checks=checks,
        duration_seconds=duration,
        steps=steps,
    )


def java_ports(container: Container | None) -> tuple[Port, ...]:
    ports = container.java_ports() if container is not None else ()
    if isinstance(ports, Unknown):
        return ()
    return tuple(Port(family=family, address=address, port=port) for family, address, port in ports)


def _value(value: int | Unknown | None) -> int | None:
    return None if isinstance(value, Unknown) else value


def named_node(host: str, error: str | None = None) -> NodeSummary:
    """A node known only by name (unreachable, or not probed by this command)."""
    return NodeSummary(host=host, kernel=None, kernel_family=None, cpus=None, vzctl=None,
                       error=error)


def node_summary(node: NodeFacts, error: str | None = None) -> NodeSummary:
    kernel = node.kernel
    vzctl = node.vzctl_version
    return NodeSummary(
        host=node.host,
        kernel=None if isinstance(kernel, Unknown) else kernel.release,
        kernel_family=None if isinstance(kernel, Unknown) else kernel.family.value,
        cpus=_value(node.cpus),
        vzctl=(version_text(vzctl) if isinstance(vzctl, tuple)
               else "not installed" if vzctl is None else None),
        error=error or "; ".join(node.errors) or None,
    )
