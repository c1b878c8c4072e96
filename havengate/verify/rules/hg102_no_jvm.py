"""HG102: no JVM runs where one listened before the move.

Rationale: the baseline says a JVM held these ports; if no JVM runs now, it exited at start
(a missing JDK path, a full disk, a config that points at the old node) or was never
started by the container's init.

Evidence: the container's processes. Fix: read the service's log in the container.

Example: ActiveMQ held 61616 before; after the move no java process runs -> HG102.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, finding, listen_port

id = "HG102"
title = "no JVM runs where one listened before the move"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    if ctx.processes:
        return []
    if not any(c.kind == "listen" and ctx.expect.java_port(listen_port(c))
               for c in ctx.failed_checks):
        return []
    return [finding(ctx, id, severity,
                    f"no JVM runs in CT {ctx.ctid}: it exited or never started (see its logs)",
                    remediation=f"vzctl exec {ctx.ctid} ps axf; check the service's log")]
