"""HG007: the target's vzctl is too old for CPUMASK (needs 3.0.26), so the mask is ignored.

Rationale: vzctl before 3.0.26 does not know CPUMASK; a mask written in CTID.conf travels
with the container but is never applied on such a target, so the container is not pinned
there (HG001 then counts it as unpinned; only CPUS>=2 mitigates).

Evidence: the target's vzctl version, the container's CPUMASK.

Fix: vzctl >= 3.0.26 on the target, or ``--cpus 2`` instead of a mask.

Example: ``CPUMASK="0"`` moving to a node with vzctl 3.0.24 -> warning.
"""

from __future__ import annotations

from havengate.assess.rules.common import CPUMASK_MIN_VZCTL, java_evidence, version_text
from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG007"
title = "target vzctl too old for CPUMASK"
severity = Severity.WARNING
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    conf = container.conf
    version = target.vzctl_version
    mask = None if isinstance(conf, Unknown) else conf.cpumask
    if mask is None or isinstance(mask, Unknown) or mask.is_all or not isinstance(version, tuple):
        return []  # no mask to lose (HG006 speaks for an unknown vzctl)
    if version >= CPUMASK_MIN_VZCTL:
        return []
    is_java, _ = java_evidence(container)
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"vzctl {version_text(version)} on the target ({target.host}) predates CPUMASK "
                "(3.0.26): the container's mask will be ignored there",
        remediation=f"vzctl set {container.ctid} --cpus 2 --save" if is_java is not False else None,
    )]
