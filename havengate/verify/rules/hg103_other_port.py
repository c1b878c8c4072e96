"""HG103: the JVM runs and listens, but not on the port it held before the move.

Rationale: a configuration that differs on the target (another connector, a port taken
from the environment) makes clients find nothing where they look.

Evidence: the ports the JVM listens on now. Fix: the service's port configuration.

Example: tcp/61616 expected; the JVM listens on 61617 -> HG103.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, context_lines, finding, listen_port

id = "HG103"
title = "the JVM listens on other ports than before the move"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    listening = sorted({s.port for p in ctx.processes if isinstance(p.listeners, tuple)
                        for s in p.listeners})
    if not listening:
        return []
    return [finding(ctx, id, severity,
                    f"{c.target} not listening; the JVM listens on "
                    f"{', '.join(map(str, listening))} instead", evidence=context_lines(ctx))
            for c in ctx.failed_checks
            if c.kind == "listen" and not c.detail.startswith("listening on")
            and ctx.expect.java_port(listen_port(c))]
