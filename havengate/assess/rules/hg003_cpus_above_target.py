"""HG003: CPUS is larger than the target's CPU count.

Rationale: 2.6.32 clamps CPUS to the CPUs online, so the container gets fewer than its
configuration says; capacity planning made on the old node no longer holds.

Evidence: CPUS and the target's CPU count.

Fix: ``vzctl set CTID --cpus N --save`` with N at most the target's CPUs.

Example: ``CPUS="8"`` moving to a 4-CPU node -> warning.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG003"
title = "CPUS exceeds the target's CPUs"
severity = Severity.WARNING
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    conf = container.conf
    if isinstance(conf, Unknown) or not isinstance(conf.cpus, int) or isinstance(target.cpus, Unknown):
        return []
    if conf.cpus <= target.cpus:
        return []
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"CPUS={conf.cpus} but the target has {target.cpus} CPUs: "
                f"the container will get {target.cpus}",
        remediation=f"vzctl set {container.ctid} --cpus {target.cpus} --save",
    )]
