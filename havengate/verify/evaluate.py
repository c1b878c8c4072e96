"""Judge one container after the move from one sample of facts (and the one before it).

Pure: facts in, a state out. ``pending`` means "not yet": the loop samples again until
the deadline. ``failed`` comes early only for the futex-hang signature, which does not
resolve by waiting; every other cause is reported when the deadline is reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from havengate.facts.model import (
    Container,
    NodeFacts,
    OpenPort,
)
from havengate.model import CheckResult, Finding, Unknown
from havengate.verify import rules
from havengate.verify.expect import LOOPBACK, Expectation
from havengate.verify.rules.context import PostMove

HANG_AFTER = 30.0  # seconds a JVM may take to open its ports before a hang is suspected


@dataclass(frozen=True)
class State:
    status: str  # verified | pending | failed | unknown
    checks: tuple[CheckResult, ...]
    findings: tuple[Finding, ...] = ()
    waiting_for: str = ""  # what is not there yet, for the progress line


def evaluate(expect: Expectation, node: NodeFacts, before: Container | None,
             http: tuple[CheckResult, ...], *, deadline_reached: bool,
             hang_after: float = HANG_AFTER) -> State:
    """The state of one container at one sample; every diagnosis comes from a post-move
    rule (verify/rules), this function only decides which question comes first."""
    ctid = expect.ctid
    container = node.container(ctid) if not isinstance(node.containers, Unknown) else None
    processes = (container.java_processes if container is not None
                 and isinstance(container.java_processes, tuple) else ())
    checks: tuple[CheckResult, ...] = ()
    if container is not None and container.running and isinstance(container.java_processes, tuple):
        checks = _listen_checks(expect, container) + _connect_checks(expect, node) + http
    ctx = PostMove(expect=expect, node=node, container=container, processes=processes,
                   before=before, checks=checks, deadline_reached=deadline_reached,
                   hang_after=hang_after)

    if isinstance(node.containers, Unknown):
        return State("unknown", (), tuple(rules.hg100_unassessable.check(ctx)))
    if container is None:
        return State("failed", (), tuple(rules.hg107_container_missing.check(ctx)))
    if not container.running:
        if deadline_reached:
            return State("failed", (), tuple(rules.hg107_container_missing.check(ctx)))
        return State("pending", (), (), f"CT {ctid} is {container.status}")
    if isinstance(container.java_processes, Unknown):
        return State("unknown", (), tuple(rules.hg100_unassessable.check(ctx)))
    if not checks:  # it runs, and nothing listened before the move: that is all there is
        return State("verified", (CheckResult(
            "running", f"CT {ctid}", True,
            "running; its baseline lists no listening port and --config no check: "
            "nothing else to check"),))
    missing = [c for c in checks if not c.ok]
    if not missing:
        return State("verified", checks)
    unassessable = rules.hg100_unassessable.check(ctx)
    if unassessable:
        return State("unknown", checks, tuple(unassessable))

    hang = rules.hg101_futex_hang.check(ctx)
    if hang:  # "suspect" until a second window shows the same: run.py decides
        return State("failed" if deadline_reached else "suspect", checks, tuple(hang),
                     "futex hang suspected")
    if not deadline_reached:
        return State("pending", checks, (), ", ".join(f"{c.target} {c.detail}" for c in missing))
    return State("failed", checks, tuple(_diagnose(ctx)))


def _diagnose(ctx: PostMove) -> list[Finding]:
    """At the deadline: say plainly why each failed check failed."""
    no_jvm = rules.hg102_no_jvm.check(ctx)
    if no_jvm:
        return no_jvm
    return [f for rule in DEADLINE_RULES for f in rule.check(ctx)]


DEADLINE_RULES = (rules.hg104_loopback_only, rules.hg103_other_port, rules.hg108_no_port,
                  rules.hg105_no_connect, rules.hg106_http)


def _listen_checks(expect: Expectation, container: Container) -> tuple[CheckResult, ...]:
    """Each port that listened before the move listens again, whoever holds it now."""
    listening = container.listening
    results = []
    for port in (*expect.ports, *expect.local_ports):
        before = expect.program(port)
        was = f" ({before} before the move)" if before and before != "?" else ""
        if isinstance(listening, Unknown):
            results.append(CheckResult("listen", f"tcp/{port}", None,
                                       f"sockets unreadable: {listening.reason}"))
            continue
        sockets = [s for s in listening if s.port == port]
        holder = _holder(sockets)
        if not sockets:
            results.append(CheckResult("listen", f"tcp/{port}", False, f"not listening yet{was}"))
        elif port in expect.local_ports:
            results.append(CheckResult("listen", f"tcp/{port}", True,
                                       f"{holder} listens (loopback, as before the move)"))
        elif all(s.address.startswith(LOOPBACK) for s in sockets):
            where = ", ".join(sorted({s.address for s in sockets}))
            results.append(CheckResult("listen", f"tcp/{port}", False,
                                       f"listening on {where} only"))
        else:
            where = ", ".join(sorted({f"{s.family} {s.address}" for s in sockets}))
            results.append(CheckResult("listen", f"tcp/{port}", True, f"{holder} listens ({where})"))
    return tuple(results)


def _holder(sockets: list[OpenPort]) -> str:
    if any(s.java for s in sockets):
        return "a JVM"
    names = sorted({s.program for s in sockets if s.program})
    return ", ".join(names) or "a program"


def _connect_checks(expect: Expectation, node: NodeFacts) -> tuple[CheckResult, ...]:
    done = {(c.address, c.port): c for c in node.connects}
    if expect.ports and not expect.addresses:
        return (CheckResult("connect", "the container's address", None,
                            "no address known (no IP_ADDRESS in the baseline): give "
                            "\"addresses\" in --config"),)
    results = []
    for address in expect.addresses:
        for port in expect.ports:
            connect = done.get((address, port))
            results.append(
                CheckResult("connect", f"{address}:{port}", None, "not tried by the probe")
                if connect is None
                else CheckResult("connect", f"{address}:{port}", connect.ok, connect.detail))
    return tuple(results)
