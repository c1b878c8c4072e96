"""HG008: a stopped container is judged from its files, not from running processes.

Rationale: no JVM runs to look at; Java is inferred from the private area (a JVM under
usr/lib/jvm, usr/bin/java, init scripts that start java), and JVM flags are unknown.

Evidence: the Java binaries and init scripts found in its private area.

Fix: none needed; start it before the check to judge its processes instead.

Example: CT 103 stopped with usr/lib/jvm in its private area -> info.
"""

from __future__ import annotations

from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG008"
title = "stopped container: verdict rests on files"
severity = Severity.INFO
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    if container.running or isinstance(container.java_files, Unknown):
        return []
    where = container.private or "its private area"
    found = "Java found" if container.java_files else "no Java found"
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"container is {container.status}: {found} in {where}; the verdict rests on "
                "files, not processes (JVM flags unknown)",
        evidence=container.java_files,
    )]
