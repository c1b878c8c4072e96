"""What a post-move rule judges: one container on the target, at one sample."""

from __future__ import annotations

from dataclasses import dataclass

from havengate.facts.ctconf import on_node, setting_text
from havengate.facts.model import Container, JavaProcess, NodeFacts
from havengate.model import CheckResult, Finding, Severity, Unknown
from havengate.verify.expect import Expectation


@dataclass(frozen=True)
class PostMove:
    expect: Expectation
    node: NodeFacts
    container: Container | None  # None: not on the target
    processes: tuple[JavaProcess, ...]  # its JVMs now ((): none, or not readable)
    before: Container | None  # the same container at the previous sample
    checks: tuple[CheckResult, ...]  # listen, connect, HTTP, as made at this sample
    deadline_reached: bool
    hang_after: float

    @property
    def ctid(self) -> str:
        return self.expect.ctid

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.ok is False)


def finding(ctx: PostMove, rule: str, severity: Severity, message: str, *,
            evidence: tuple[str, ...] = (), remediation: str | None = None) -> Finding:
    return Finding(ctid=ctx.ctid, rule=rule, severity=severity, message=message,
                   evidence=evidence, remediation=remediation)


def listen_port(check: CheckResult) -> int:
    return int(check.target.removeprefix("tcp/"))


def context_lines(ctx: PostMove) -> tuple[str, ...]:
    """What an operator asks next: how long the JVMs live, what their threads do, the CPUs."""
    container, node = ctx.container, ctx.node
    lines = []
    for process in ctx.processes:
        states: dict[str, int] = {}
        for thread in process.threads:
            key = f"{thread.state} in {thread.wchan}" if thread.wchan != "0" else thread.state
            states[key] = states.get(key, 0) + 1
        age = f"alive {process.age_seconds:.0f} s" if process.age_seconds is not None else "alive"
        listens = (", ".join(f"{s.family} {s.address}:{s.port}" for s in process.listeners)
                   if isinstance(process.listeners, tuple) and process.listeners else "nothing")
        lines.append(f"JVM pid {process.pid} {age}, listens on {listens}"
                     + (f"; threads: {', '.join(f'{n} {k}' for k, n in sorted(states.items()))}"
                        if states else ""))
    if container is None:
        return tuple(lines)
    kernel = node.kernel.release if not isinstance(node.kernel, Unknown) else "unknown kernel"
    conf = on_node(container.conf, node.vz_conf, container.ctid)
    settings = ("CPUS/CPUMASK unknown" if isinstance(conf, Unknown) else
                f"CPUS={setting_text(conf, 'CPUS')}, CPUMASK={setting_text(conf, 'CPUMASK')}")
    seen = container.cpus_seen if isinstance(container.cpus_seen, int) else "?"
    cpus = node.cpus if isinstance(node.cpus, int) else "?"
    lines.append(f"the container sees {seen} CPU(s); {settings}; node: {cpus} CPUs, {kernel}")
    return tuple(lines)
