"""HG002: CPUMASK names CPUs the target does not have.

Rationale: the kernel ANDs the mask with the CPUs it has; a mask naming only missing CPUs
cannot pin the container as configured (what vzctl does then is unverified), and a mask
partly outside the target pins it differently than the operator meant.

Evidence: CPUMASK (CTID.conf, else the target's vz.conf) and the target's CPU count.

Fix: a mask of CPUs the target has, e.g. ``havengate patch CTID --cpumask 0``.

Example: ``CPUMASK="4-7"`` moving to a 4-CPU node -> error.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG002"
title = "CPUMASK names CPUs the target does not have"
severity = Severity.ERROR
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    conf = container.conf
    if isinstance(conf, Unknown) or not conf.cpumask or isinstance(conf.cpumask, Unknown):
        return []
    mask = conf.cpumask
    if mask.cpus is None:
        return []
    if isinstance(target.cpus, Unknown):
        return [Finding(
            ctid=container.ctid, rule=id, severity=Severity.UNKNOWN,
            message=f"CPUMASK={mask.text} cannot be checked: target CPUs unknown",
            missing=("target-facts",),
        )]
    absent = [cpu for cpu in mask.cpus if cpu >= target.cpus]
    if not absent:
        return []
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"CPUMASK={mask.text} names CPU(s) {','.join(map(str, absent))} but the target "
                f"has CPUs 0-{target.cpus - 1}: the container cannot be pinned as configured",
        evidence=(f"target has {target.cpus} CPUs online",),
        remediation=f"havengate patch {container.ctid} --host {source.host} "
                    f"--target {target.host} --cpumask 0",
    )]
