"""HG104: the port listens, but on loopback only: reachable inside the container, not from
its clients.

Rationale: a bind address taken from the old node's configuration (or 127.0.0.1 by
default) passes a check from inside and fails every client.

Evidence: the socket's address in /proc/net/tcp{,6}. Fix: bind to the container's address
or the wildcard.

Example: tcp/61616 listens on ::1 only -> HG104.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, finding

id = "HG104"
title = "listening on loopback only"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    return [finding(ctx, id, severity, f"{c.target}: {c.detail}: reachable inside the "
                    "container, not from outside")
            for c in ctx.failed_checks
            if c.kind == "listen" and c.detail.startswith("listening on")]
