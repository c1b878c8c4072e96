"""Judge one container after the move from one sample of facts (and the one before it).

Pure: facts in, a state out. ``pending`` means "not yet": the loop samples again until
the deadline. ``failed`` comes early only for the futex-hang signature, which does not
resolve by waiting; every other cause is reported when the deadline is reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from havengate.assess.finding import Finding, Severity
from havengate.facts.ctconf import on_node, setting_text
from havengate.facts.model import (
    Container,
    CpuMask,
    CpuVisibility,
    JavaProcess,
    NodeFacts,
    OpenPort,
    ThreadSample,
    Unknown,
)
from havengate.report.model import CheckResult
from havengate.verify.expect import LOOPBACK, Expectation

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
    ctid = expect.ctid
    container = node.container(ctid)
    if isinstance(node.containers, Unknown):
        return State("unknown", (), (_finding(ctid, "HG100", Severity.UNKNOWN,
                                              f"containers on the target unknown: "
                                              f"{node.containers.reason}"),))
    if container is None:
        return State("failed", (), (_finding(ctid, "HG107", Severity.ERROR,
                                             f"CT {ctid} is not on {node.host}"),))
    if not container.running:
        state = State("pending", (), (), f"CT {ctid} is {container.status}")
        if deadline_reached:
            return State("failed", (), (_finding(
                ctid, "HG107", Severity.ERROR,
                f"CT {ctid} is {container.status} on {node.host}",
                remediation=f"vzctl start {ctid}"),))
        return state
    processes = container.java_processes
    if isinstance(processes, Unknown):
        return State("unknown", (), (_finding(ctid, "HG100", Severity.UNKNOWN,
                                              f"CT {ctid}: JVMs unknown: {processes.reason}"),))

    checks = _listen_checks(expect, container) + _connect_checks(expect, node) + http
    if not checks:  # it runs, and nothing listened before the move: that is all there is
        return State("verified", (CheckResult(
            "running", f"CT {ctid}", True,
            "running; its baseline lists no listening port and --config no check: "
            "nothing else to check"),))
    missing = [c for c in checks if not c.ok]
    if not missing:
        return State("verified", checks)
    if any(c.ok is None for c in missing) and all(c.ok is not False for c in missing):
        return State("unknown", checks, tuple(
            _finding(ctid, "HG100", Severity.UNKNOWN, f"{c.target}: {c.detail}")
            for c in missing))

    hang = _futex_hang(ctid, container, node, processes, before, hang_after)
    if hang is not None:  # "suspect" until a second window shows the same: run.py decides
        return State("failed" if deadline_reached else "suspect", checks, (hang,),
                     "futex hang suspected")
    if not deadline_reached:
        return State("pending", checks, (), ", ".join(f"{c.target} {c.detail}" for c in missing))
    return State("failed", checks, tuple(_diagnose(ctid, expect, container, processes, missing,
                                                   _context(container, node, processes))))


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


def _futex_hang(ctid: str, container: Container, node: NodeFacts,
                processes: tuple[JavaProcess, ...], before: Container | None,
                hang_after: float) -> Finding | None:
    """The 2.6.32 one-CPU hang: the HG001 conditions hold on the target and a JVM has lived
    past ``hang_after`` without a port. Thread states add evidence, never a condition: a
    hung JVM keeps its GC, scheduler and metrics threads busy. Only positive evidence of
    progress (its main thread working) holds the call back: a slow starter is not hung."""
    if not processes or any(isinstance(p.listeners, Unknown) or p.listeners for p in processes):
        return None  # no JVM, or one that listens: not this hang
    conditions = _one_cpu_unpinned(container, node)
    if conditions is None or all(p.assumes_mp for p in processes):
        return None
    oldest = max(processes, key=lambda p: p.age_seconds or 0.0)
    if oldest.age_seconds is None or oldest.age_seconds < hang_after:
        return None
    previous = _same_process(before, oldest)
    if previous is None:
        return None  # one more sample: a window shows whether it is still working
    window = max(oldest.age_seconds - (previous.age_seconds or 0.0), 0.1)
    threads = ThreadWindow(oldest, previous, window)
    if threads.main_working:
        return None  # its main thread is busy: starting slowly, not hung (the deadline judges)
    evidence = [
        f"JVM pid {oldest.pid} alive for {oldest.age_seconds:.0f} s and listening on no port "
        f"(a JVM is called hung after {hang_after:g} s)",
        *conditions,
        *threads.evidence(),
    ]
    return _finding(
        ctid, "HG101", Severity.ERROR,
        "futex-hang (suspected): the JVM is alive but never opened its ports, and it sees one "
        "CPU on a multi-core 2.6.32 node without a pin"
        + (f" ({threads.confidence})" if threads.confidence else ""),
        evidence=tuple(evidence),
        remediation=f"vzctl set {ctid} --cpumask 0 --save; kill -9 the JVM "
                    f"(pid {oldest.pid} in the container); vzctl restart {ctid}",
    )


TICKS_PER_SECOND = 100  # USER_HZ: what /proc/PID/stat counts in on Linux
MAIN_WORKING_SHARE = 0.5  # the main thread on a CPU half the window or more: it is working


class ThreadWindow:
    """What a JVM's threads did between two samples: the seed's signature is the launcher
    (or main) thread blocked in an untimed futex wait that never wakes, and a thread that
    cycles through ~1 s timed futex waits."""

    def __init__(self, now: JavaProcess, before: JavaProcess, window: float) -> None:
        self.window = window
        earlier = {t.tid: t for t in before.threads}
        self.pairs = [(t, earlier[t.tid]) for t in now.threads if t.tid in earlier]
        ordered = sorted((t for t, _ in self.pairs), key=lambda t: t.tid)
        # The launcher thread has the process's id; the Java main thread is the next one.
        self.main = next((t for t in ordered if t.tid != now.pid), None)
        self.launcher = next((t for t in ordered if t.tid == now.pid), None)
        self.used = sum(t.cpu_ticks - b.cpu_ticks for t, b in self.pairs)

    def _delta(self, thread: ThreadSample) -> tuple[int, int]:
        before = next(b for t, b in self.pairs if t.tid == thread.tid)
        return (thread.cpu_ticks - before.cpu_ticks,
                thread.voluntary_switches - before.voluntary_switches)

    @property
    def main_working(self) -> bool:
        if self.main is None:
            return False
        ticks, _ = self._delta(self.main)
        return ticks >= MAIN_WORKING_SHARE * self.window * TICKS_PER_SECOND

    def blocked(self) -> list[ThreadSample]:
        """Parents waiting forever: in futex, not one wake-up in the window."""
        return [t for t in (self.launcher, self.main) if t is not None and t.in_futex
                and self._delta(t)[1] == 0]

    def cycling(self) -> list[ThreadSample]:
        """Threads that wake in futex and wait again, about once a second or more."""
        return [t for t, _ in self.pairs if t.in_futex and self._delta(t)[1] > 0]

    @property
    def confidence(self) -> str:
        if not self.pairs:
            return "thread states unreadable"
        if self.blocked() and self.cycling():
            return "thread states match the hang"
        return "thread states do not show the hang's pattern"

    def evidence(self) -> list[str]:
        if not self.pairs:
            return ["thread states could not be read (the verdict rests on the conditions)"]
        lines = [f"thread {t.tid} ({t.name}) waits in futex and did not wake in "
                 f"{self.window:.1f} s: blocked like the hang's parent thread"
                 for t in self.blocked()]
        lines += [f"thread {t.tid} ({t.name}) cycles in timed waits: {self._delta(t)[1]} "
                  f"wake-ups in {self.window:.1f} s" for t in self.cycling()[:3]]
        waiting = sum(1 for t, _ in self.pairs if t.in_futex)
        lines.append(f"{waiting} of {len(self.pairs)} threads wait in futex; the whole JVM used "
                     f"{self.used / (self.window * TICKS_PER_SECOND):.0%} of a CPU in "
                     f"{self.window:.1f} s, its main thread "
                     f"{self._share(self.main)}")
        return lines

    def _share(self, thread: ThreadSample | None) -> str:
        if thread is None:
            return "unknown"
        ticks, _ = self._delta(thread)
        return f"{ticks / (self.window * TICKS_PER_SECOND):.0%} ({thread.state})"


def _same_process(before: Container | None, process: JavaProcess) -> JavaProcess | None:
    if before is None or not isinstance(before.java_processes, tuple):
        return None
    return next((p for p in before.java_processes if p.pid == process.pid), None)


def _one_cpu_unpinned(container: Container, node: NodeFacts) -> list[str] | None:
    """The HG001 conditions, as observed on the target now; None if any does not hold."""
    kernel, conf = node.kernel, on_node(container.conf, node.vz_conf, container.ctid)
    if isinstance(kernel, Unknown) or kernel.visibility != CpuVisibility.CPUS_LIMITED:
        return None
    if not isinstance(node.cpus, int) or node.cpus < 2 or container.cpus_seen != 1:
        return None
    if isinstance(conf, Unknown):
        return None
    mask = conf.cpumask
    if isinstance(mask, Unknown) or (isinstance(mask, CpuMask) and not mask.is_all
                                     and len(mask.cpus or ()) == 1):
        return None
    return [
        f"the container sees 1 CPU on a {node.cpus}-CPU node, kernel {kernel.release}",
        f"CPUS={setting_text(conf, 'CPUS')}, CPUMASK={setting_text(conf, 'CPUMASK')}: "
        "its threads may run on several cores at once",
    ]


def _context(container: Container, node: NodeFacts,
             processes: tuple[JavaProcess, ...]) -> tuple[str, ...]:
    """What an operator asks next: how long the JVMs live, what their threads do, the CPUs."""
    lines = []
    for process in processes:
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
    kernel = node.kernel.release if not isinstance(node.kernel, Unknown) else "unknown kernel"
    conf = on_node(container.conf, node.vz_conf, container.ctid)
    settings = ("CPUS/CPUMASK unknown" if isinstance(conf, Unknown) else
                f"CPUS={setting_text(conf, 'CPUS')}, CPUMASK={setting_text(conf, 'CPUMASK')}")
    seen = container.cpus_seen if isinstance(container.cpus_seen, int) else "?"
    cpus = node.cpus if isinstance(node.cpus, int) else "?"
    lines.append(f"the container sees {seen} CPU(s); {settings}; node: {cpus} CPUs, {kernel}")
    return tuple(lines)


def _diagnose(ctid: str, expect: Expectation, container: Container,
              processes: tuple[JavaProcess, ...], missing: list[CheckResult],
              context: tuple[str, ...]) -> list[Finding]:
    """At the deadline: say plainly why each failed check failed."""
    java_missing = [c for c in missing if c.kind == "listen" and c.ok is False
                    and expect.java_port(_port(c))]
    if java_missing and not processes:
        return [_finding(ctid, "HG102", Severity.ERROR,
                         f"no JVM runs in CT {ctid}: it exited or never started (see its logs)",
                         remediation=f"vzctl exec {ctid} ps axf; check the service's log")]
    findings = []
    listening = sorted({s.port for p in processes if isinstance(p.listeners, tuple)
                        for s in p.listeners})
    for check in (c for c in missing if c.ok is False):
        if check.kind == "listen" and not expect.java_port(_port(check)) \
                and not check.detail.startswith("listening on"):
            before = expect.program(_port(check)) or "a program"
            findings.append(_finding(ctid, "HG108", Severity.ERROR,
                                     f"{check.target} not listening: {before} held it before "
                                     "the move and nothing opened it before the deadline",
                                     remediation=f"vzctl exec {ctid} ps axf; check {before}'s "
                                                 "service and log"))
        elif check.kind == "listen" and check.detail.startswith("listening on"):
            findings.append(_finding(ctid, "HG104", Severity.ERROR,
                                     f"{check.target}: {check.detail}: reachable inside the "
                                     "container, not from outside"))
        elif check.kind == "listen" and listening:
            findings.append(_finding(ctid, "HG103", Severity.ERROR,
                                     f"{check.target} not listening; the JVM listens on "
                                     f"{', '.join(map(str, listening))} instead",
                                     evidence=context))
        elif check.kind == "listen":
            age = max((p.age_seconds or 0.0) for p in processes)
            findings.append(_finding(ctid, "HG108", Severity.ERROR,
                                     f"{check.target} not listening: the JVM (alive {age:.0f} s) "
                                     "opened no port before the deadline", evidence=context))
        elif check.kind == "connect":
            findings.append(_finding(ctid, "HG105", Severity.ERROR,
                                     f"{check.target} listens inside the container but the node "
                                     f"cannot connect: {check.detail}"))
        else:
            findings.append(_finding(ctid, "HG106", Severity.ERROR,
                                     f"{check.target}: {check.detail}"))
    return findings


def _port(check: CheckResult) -> int:
    return int(check.target.removeprefix("tcp/"))


def _finding(ctid: str, rule: str, severity: Severity, message: str, *,
             evidence: tuple[str, ...] = (), remediation: str | None = None) -> Finding:
    return Finding(ctid=ctid, rule=rule, severity=severity, message=message, evidence=evidence,
                   remediation=remediation)
