"""HG108: a port of the baseline did not open before the deadline.

Rationale: the program that held it before the move (a JVM that lives but opened nothing,
without the one-CPU conditions of HG101; or nginx, a mail server) is still not listening
when verify's one deadline is reached.

Evidence: the JVMs' age and thread states, the container's CPUs. Fix: the service's log;
a longer --timeout if it is only slow.

Example: nginx held tcp/80 before the move; nothing listens on 80 at the deadline -> HG108.
"""

from __future__ import annotations

from havengate.model import Finding, Phase, Severity
from havengate.verify.rules.context import PostMove, context_lines, finding, listen_port

id = "HG108"
title = "a port did not open before the deadline"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    findings = []
    jvm_listens = any(isinstance(p.listeners, tuple) and p.listeners for p in ctx.processes)
    for c in ctx.failed_checks:
        if c.kind != "listen" or c.detail.startswith("listening on"):
            continue
        port = listen_port(c)
        if not ctx.expect.java_port(port):
            before = ctx.expect.program(port) or "a program"
            findings.append(finding(
                ctx, id, severity, f"{c.target} not listening: {before} held it before the "
                "move and nothing opened it before the deadline",
                remediation=f"vzctl exec {ctx.ctid} ps axf; check {before}'s service and log"))
        elif ctx.processes and not jvm_listens:
            age = max((p.age_seconds or 0.0) for p in ctx.processes)
            findings.append(finding(
                ctx, id, severity, f"{c.target} not listening: the JVM (alive {age:.0f} s) "
                "opened no port before the deadline", evidence=context_lines(ctx)))
    return findings
