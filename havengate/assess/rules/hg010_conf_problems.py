"""HG010: CTID.conf has lines vzctl or sh read differently than they look.

Rationale: vzmigrate copies CTID.conf verbatim and sources it as sh; spaces around '=',
unbalanced quotes, inline comments after a quoted value, duplicate keys (vzctl keeps the
first) or command substitutions make the moved container behave unlike the operator thinks.

Evidence: the CTID.conf line and how vzctl (and sh) read it.

Fix: rewrite the line as ``KEY="value"`` (``havengate patch`` writes that form).

Example: ``CPUS = 2`` (spaces) -> warning: vzctl ignores the line, the CT gets all CPUs.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG010"
title = "CTID.conf lines read differently than they look"
severity = Severity.WARNING
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    conf = container.conf
    if isinstance(conf, Unknown):
        return [Finding(
            ctid=container.ctid, rule=id, severity=Severity.UNKNOWN,
            message=f"CTID.conf could not be read: {conf.reason}", missing=("conf",),
        )]
    findings = [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"{container.ctid}.conf line {problem.line}: {problem.message}",
    ) for problem in conf.problems]
    for key in ("CPUS", "CPUMASK"):
        value = getattr(conf, key.lower())
        if isinstance(value, Unknown):
            findings.append(Finding(
                ctid=container.ctid, rule=id, severity=Severity.UNKNOWN,
                message=f"{key} cannot be read: {value.reason}", missing=(key.lower(),),
            ))
    return findings
