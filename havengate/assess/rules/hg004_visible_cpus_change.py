"""HG004: the number of CPUs the container sees changes across the move.

Rationale: the JVM sizes GC threads, JIT compiler threads and many thread pools from the
processor count at start; 8 -> 1 shrinks them all (and 1 is the futex-hang case).

Evidence: the CPUs the container sees now (measured inside, else predicted) and those
it will see on the target (its kernel, CPUs, CPUS).

Fix: none needed; size thread pools and heaps for the new count, or set CPUS.

Example: CPUS=1 on 2.6.24 (sees 8) -> 2.6.32 (sees 1) -> info "8 -> 1".
"""

from __future__ import annotations

from havengate.assess.visibility import predict_cpus_seen
from havengate.facts.ctconf import on_node
from havengate.facts.model import Container, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG004"
title = "CPUs seen inside the container change"
severity = Severity.INFO
phase = Phase.PRE_MOVE


def cpus_seen_now(source: NodeFacts, container: Container) -> int | Unknown:
    """Measured inside a running container, else predicted from the source's regime."""
    if isinstance(container.cpus_seen, int):
        return container.cpus_seen
    return predict_cpus_seen(source.kernel, source.cpus,
                             on_node(container.conf, source.vz_conf, container.ctid))


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    before = cpus_seen_now(source, container)
    after = predict_cpus_seen(target.kernel, target.cpus, container.conf)
    if isinstance(before, Unknown) or isinstance(after, Unknown) or before == after:
        return []
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"CPUs seen inside change {before} -> {after}: thread pools and GC threads "
                "sized from the count change with it",
    )]
