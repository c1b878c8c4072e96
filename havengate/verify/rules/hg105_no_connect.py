"""HG105: the port listens inside the container, but the node cannot connect to it.

Rationale: the container's address is not routed on the target (venet, IP_ADDRESS not
added), or a firewall on the target drops it: its clients will fail the same way.

Evidence: the connect the probe made from the target node. Fix: ``vzctl set CTID
--ipadd`` / the target's firewall.

Example: tcp/61616 listens on ::; 10.0.0.101:61616 from the node: No route to host.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, finding

id = "HG105"
title = "the node cannot connect to the container's port"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    return [finding(ctx, id, severity, f"{c.target} listens inside the container but the node "
                    f"cannot connect: {c.detail}")
            for c in ctx.failed_checks if c.kind == "connect"]
