"""HG005: the target runs an older kernel line than the source.

Rationale: a move is normally an upgrade; moving back to an older OpenVZ line changes CPU
visibility the other way and loses features (CPUMASK needs 2.6.32).

Evidence: both nodes' kernel releases.

Fix: move to a node with the same or a newer kernel line.

Example: 2.6.32-042stab134.8 -> 2.6.24-12-pve -> warning.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG005"
title = "target kernel older than source"
severity = Severity.WARNING
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    if isinstance(source.kernel, Unknown) or isinstance(target.kernel, Unknown):
        return []
    if not source.kernel.version or not target.kernel.version:
        return []
    if target.kernel.version >= source.kernel.version:
        return []
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"target kernel {target.kernel.release} is older than the source's "
                f"{source.kernel.release}",
    )]
