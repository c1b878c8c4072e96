"""HG009: the CTID already exists on the target.

Rationale: vzmigrate refuses (exit 9, "already exists") after the operator's cutover
window has started; better to know before.

Evidence: the target's vzlist.

Fix: destroy or renumber the target's container first, or move to another CTID.

Example: CT 101 listed by vzlist on the target -> error.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG009"
title = "CTID already exists on the target"
severity = Severity.ERROR
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    if isinstance(target.containers, Unknown):
        return [Finding(
            ctid=container.ctid, rule=id, severity=Severity.UNKNOWN,
            message=f"cannot tell whether CT {container.ctid} exists on the target: "
                    f"{target.containers.reason}",
            missing=("target-facts",),
        )]
    existing = target.container(container.ctid)
    if existing is None:
        return []
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"CT {container.ctid} already exists on the target ({existing.status}): "
                "vzmigrate would refuse the move",
    )]
