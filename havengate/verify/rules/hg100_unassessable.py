"""HG100: what verify needed to see could not be read, so the container is not verified.

Rationale: "no port" must never stand for "could not look". The target's container list,
a container's JVMs or sockets, a connect the node could not try, an address nobody knows:
each makes the container ``unknown`` (exit 3), never ``verified`` and never ``failed``.

Evidence: the probe's own words for what failed. Fix: what the message names (give
``"addresses"`` in --config when CTID.conf has no IP_ADDRESS; a node that answers).

Example: CT 101 has no IP_ADDRESS and no --config address -> unknown, "no address known".
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity, Unknown
from havengate.verify.rules.context import PostMove, finding

id = "HG100"
title = "the target could not tell whether the container is back"
severity = Severity.UNKNOWN
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    node, container = ctx.node, ctx.container
    if isinstance(node.containers, Unknown):
        return [finding(ctx, id, severity,
                        f"containers on the target unknown: {node.containers.reason}")]
    if container is not None and isinstance(container.java_processes, Unknown):
        return [finding(ctx, id, severity,
                        f"CT {ctx.ctid}: JVMs unknown: {container.java_processes.reason}")]
    unmade = [c for c in ctx.checks if c.ok is None]
    if unmade and not ctx.failed_checks:
        return [finding(ctx, id, severity, f"{c.target}: {c.detail}") for c in unmade]
    return []

