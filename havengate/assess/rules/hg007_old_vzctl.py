"""HG007: vzctl on a node is too old for CPUMASK / ``--cpumask`` (needs 3.0.26).

Rationale: the cpumask fix then cannot be applied with ``vzctl set``; on the target a
CPUMASK line is ignored altogether, so only CPUS>=2 mitigates HG001 there.

Example: source vzctl 3.0.24, a one-CPU Java container -> warning.
"""

from __future__ import annotations

from havengate.assess.finding import Finding, Severity
from havengate.assess.rules.common import CPUMASK_MIN_VZCTL, version_text
from havengate.facts.model import Container, NodeFacts, Unknown

id = "HG007"
title = "vzctl too old for --cpumask"
severity = Severity.WARNING


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    conf = container.conf
    if isinstance(conf, Unknown) or conf.cpus != 1:
        return []  # only a one-CPU container needs the mask
    findings = []
    for role, node in (("source", source), ("target", target)):
        version = node.vzctl_version
        if isinstance(version, tuple) and version < CPUMASK_MIN_VZCTL:
            consequence = (
                "write CPUMASK into the CTID.conf directly (havengate patch does) or use --cpus 2"
                if role == "source"
                else "a CPUMASK line is ignored there: use --cpus 2"
            )
            findings.append(Finding(
                ctid=container.ctid, rule=id, severity=severity,
                message=f"vzctl {version_text(version)} on the {role} ({node.host}) has no "
                        f"--cpumask (needs 3.0.26): {consequence}",
            ))
    if isinstance(target.vzctl_version, Unknown):
        findings.append(Finding(
            ctid=container.ctid, rule=id, severity=Severity.INFO,
            message=f"vzctl version on the target unknown: {target.vzctl_version.reason}",
        ))
    return findings
