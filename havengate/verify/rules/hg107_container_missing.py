"""HG107: the container is not on the target, or does not run there.

Rationale: vzmigrate said it moved the container; if the target has no such CTID the move
failed or went elsewhere -- waiting cannot help, so it is ``failed`` at once. A container
that is there but stopped may still be starting: it is ``failed`` only at the deadline.

Evidence: the target's vzlist. Fix: ``vzctl start CTID`` on the target, or find where
vzmigrate put it.

Example: after ``vzmigrate slave 101``, slave's vzlist has no 101 -> failed at once.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, finding

id = "HG107"
title = "the container is missing or stopped on the target"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    container = ctx.container
    if container is None:
        return [finding(ctx, id, severity, f"CT {ctx.ctid} is not on {ctx.node.host}")]
    if not container.running and ctx.deadline_reached:
        return [finding(ctx, id, severity, f"CT {ctx.ctid} is {container.status} on "
                        f"{ctx.node.host}", remediation=f"vzctl start {ctx.ctid}")]
    return []
