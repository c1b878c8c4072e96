"""HG101: futex-hang (suspected): the JVM lives but never opens its ports, in a container
that sees one CPU on a multi-core 2.6.32 node without a one-CPU pin.

Rationale: the hazard HG001 warns of, seen after the move. On 2.6.32 a container with
``CPUS=1`` sees one CPU while its threads still run on several cores; HotSpot counting one
processor drops the ``lock`` prefix of its atomics (the suspected mechanism): a thread
loops in ~1 s timed futex waits, the parent waits forever, no port opens, SIGTERM is
ignored. Called when those conditions hold on the target (not every JVM with
``-XX:+AssumeMP``) and a JVM has lived past --hang-after without a port, in two sampling
windows in a row. Thread states are evidence with a confidence, never a condition: a hung
JVM keeps its GC, scheduler and metrics threads busy. Only its main thread working (half
a CPU or more) holds the call back: a slow starter is not hung.

Evidence: the JVM's age, the CPUs the container sees and its CPUS/CPUMASK, the threads
blocked in futex without a wake-up and those cycling through timed waits, CPU use.
Fix: ``vzctl set CTID --cpumask 0 --save``, kill -9 the JVM, ``vzctl restart CTID``
(what ``verify --remediate`` does).

Example: CT 101 (ActiveMQ, CPUS=1, no CPUMASK) on a 4-CPU 2.6.32 node: JVM alive 35 s,
no port, thread 22 cycling in timed waits -> HG101, fix ``vzctl set 101 --cpumask 0 --save``.
"""

from __future__ import annotations

from havengate.facts.ctconf import on_node, setting_text
from havengate.facts.model import Container, CpuMask, CpuVisibility, JavaProcess, NodeFacts, ThreadSample
from havengate.model import Finding, Phase, Severity, Unknown
from havengate.verify.rules.context import PostMove, finding

id = "HG101"
title = "futex-hang (suspected): one-CPU JVM on a multi-core 2.6.32 node, no port"
severity = Severity.ERROR
phase = Phase.POST_MOVE


def check(ctx: PostMove) -> list[Finding]:
    if ctx.container is None:
        return []
    hang = _futex_hang(ctx, ctx.container, ctx.node, ctx.processes, ctx.before, ctx.hang_after)
    return [hang] if hang is not None else []


def _futex_hang(ctx: PostMove, container: Container, node: NodeFacts,
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
    # Any JVM of the container whose main thread works is still starting (a jsvc controller
    # is older than the JVM it runs, so every JVM is looked at, not only the oldest).
    for process in processes:
        earlier = _same_process(before, process)
        if earlier is not None and ThreadWindow(process, earlier, max(
                (process.age_seconds or 0.0) - (earlier.age_seconds or 0.0), 0.1)).main_working:
            return None  # a main thread busy: starting slowly, not hung (the deadline judges)
    evidence = [
        f"JVM pid {oldest.pid} alive for {oldest.age_seconds:.0f} s and listening on no port "
        f"(a JVM is called hung after {hang_after:g} s)",
        *conditions,
        *threads.evidence(),
    ]
    ctid = ctx.ctid
    return finding(
        ctx, id, severity,
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
        # The java launcher's thread has the process's id and joins the Java main thread,
        # the next one it creates; where the process has no other thread (jsvc, a JNI
        # launcher), main runs on the launcher's own thread.
        self.launcher = next((t for t in ordered if t.tid == now.pid), None)
        self.main = next((t for t in ordered if t.tid != now.pid), self.launcher)
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
        """The main thread waiting forever: in futex, not one wake-up in the window. (The
        launcher always waits so, joining main in every JVM: it is no evidence.)"""
        return [t for t in (self.main,) if t is not None and t is not self.launcher
                and t.in_futex and self._delta(t)[1] == 0]

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
