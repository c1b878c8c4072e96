"""HG106: an HTTP health check of --config answered wrongly or not at all.

Rationale: a port that accepts connections is not a service that works: the configured
URL must answer with the expected status (and body) within its timeout.

Evidence: the status, body or error requests saw. Fix: the service's own diagnosis.

Example: http://10.0.0.101:8161/ answered 500, expected 200-399 -> HG106.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, finding

id = "HG106"
title = "an HTTP health check failed"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    return [finding(ctx, id, severity, f"{c.target}: {c.detail}")
            for c in ctx.failed_checks if c.kind == "http"]
