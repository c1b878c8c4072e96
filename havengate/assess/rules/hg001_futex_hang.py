"""HG001: a threaded JVM that will see one CPU on a multi-core 2.6.32 node may hang.

Rationale: on 2.6.32 OpenVZ, ``CPUS=1`` makes the container *see* one CPU, but CPUS is a
rate limit: without a single-CPU ``CPUMASK`` its threads still run on several cores.
HotSpot counting one processor drops the ``lock`` prefix of its atomics (suspected
mechanism, OpenVZ bug 2206 class); a thread then loops in timed futex waits, the parent
waits forever, no port opens, only SIGKILL stops the JVM. On 2.6.24 the same container
saw every host CPU, so it never hung there.

Evidence: the container's JVMs (argv, -XX:+AssumeMP) or Java files of a stopped one,
the target's kernel and CPU count, CPUS and CPUMASK in CTID.conf (else the target's
vz.conf), the target's vzctl version.

Fix: ``vzctl set CTID --cpumask 0 --save`` (pin it), or ``vzctl set CTID --cpus 2
--save`` where a vzctl predates --cpumask; ``havengate patch`` writes it, journaled.

Example: CT 101 runs ActiveMQ with ``CPUS="1"`` and no CPUMASK; target
``2.6.32-042stab134.8`` with 8 CPUs -> error, fix ``vzctl set 101 --cpumask 0 --save``.
"""

from __future__ import annotations

from havengate.assess.rules.common import (
    CPUMASK_MIN_VZCTL,
    describe_cpus,
    java_evidence,
    version_text,
)
from havengate.facts.ctconf import setting_text
from havengate.facts.model import Container, CpuVisibility, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG001"
title = "one-CPU Java container on a multi-core 2.6.32 node (suspected futex hang)"
severity = Severity.ERROR
phase = Phase.PRE_MOVE
STRICT_QUOTES_VZCTL = (3, 1)  # parse_line() drops text after a closing quote from 3.1 on


def remediation(ctid: str, source: NodeFacts, target: NodeFacts) -> str:
    """Pin to one CPU where vzctl can write and apply a mask, else give two CPUs.

    The fix is made on the source before the move (CTID.conf travels verbatim), so the
    source's vzctl must have --cpumask and the target's must apply CPUMASK.
    """
    for node in (source, target):
        version = node.vzctl_version
        if isinstance(version, tuple) and version < CPUMASK_MIN_VZCTL:
            return f"vzctl set {ctid} --cpus 2 --save"
    return f"vzctl set {ctid} --cpumask 0 --save"


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    ctid = container.ctid
    evidence: list[str] = []
    missing: list[str] = []
    cleared: list[str] = []  # conditions that do not hold: why it is safe
    mitigations: list[str] = []

    # 1. A Java workload (running JVMs, or Java files of a stopped container).
    is_java, java_lines = java_evidence(container)
    evidence.extend(java_lines)
    if is_java is None:
        missing.append("java")
    elif not is_java:
        return []

    # 2. The target kernel makes CPUS limit visibility.
    kernel = target.kernel
    if isinstance(kernel, Unknown):
        evidence.append(f"target kernel unknown: {kernel.reason}")
        missing.append("target-facts")
    elif kernel.visibility == CpuVisibility.UNKNOWN:
        evidence.append(f"target kernel {kernel.release} is not one havengate recognises; "
                        "it is not assumed safe")
        missing.append("target-kernel")
    elif kernel.visibility != CpuVisibility.CPUS_LIMITED:
        return []
    else:
        evidence.append(f"target kernel {kernel.release}: CPUS= limits the CPUs a container sees")

    # 3. The target has more than one CPU.
    if isinstance(target.cpus, Unknown):
        missing.append("target-cpus")
        evidence.append(f"target CPU count unknown: {target.cpus.reason}")
    elif target.cpus < 2:
        return []
    else:
        evidence.append(f"target has {target.cpus} CPUs online")

    # 4. The container will see exactly one CPU (CPUS=1; unset or 0 means all).
    conf = container.conf
    if isinstance(conf, Unknown) or isinstance(conf.cpus, Unknown):
        missing.append("cpus")
        evidence.append(f"CPUS unknown: {(conf if isinstance(conf, Unknown) else conf.cpus).reason}")
    elif conf.cpus != 1:
        return []
    else:
        where = (f"the target's /etc/vz/vz.conf ({ctid}.conf does not set it)"
                 if "CPUS" in conf.inherited else f"{ctid}.conf")
        evidence.append(f"CPUS=1 from {where}: the JVM will count 1 processor after the move")

    # 5. Its threads may still run on several physical CPUs (no single-CPU mask).
    mask = None if isinstance(conf, Unknown) else conf.cpumask
    if isinstance(conf, Unknown) or isinstance(mask, Unknown):
        missing.append("cpumask")
        if isinstance(mask, Unknown):
            evidence.append(f"CPUMASK unreadable: {mask.reason}")
    elif mask is None or mask.is_all:
        evidence.append(f"CPUMASK {setting_text(conf, 'CPUMASK')}: threads may run on "
                        f"{describe_cpus(target.cpus)}")
    elif len(mask.cpus or ()) > 1:
        evidence.append(f"CPUMASK={mask.text} names {len(mask.cpus or ())} CPUs: not a pin")
    elif "CPUMASK" in conf.trailing_text and not (
            isinstance(target.vzctl_version, tuple) and target.vzctl_version >= STRICT_QUOTES_VZCTL):
        evidence.append(f"CPUMASK line has text after its closing quote: vzctl before 3.1 on the "
                        f"target reads it as {mask.text}\" ..., not as a mask")
    elif isinstance(target.vzctl_version, tuple) and target.vzctl_version < CPUMASK_MIN_VZCTL:
        evidence.append(
            f"CPUMASK={mask.text} would pin, but vzctl {version_text(target.vzctl_version)} on "
            "the target predates CPUMASK (3.0.26) and ignores it")
    elif not isinstance(target.vzctl_version, tuple) or isinstance(kernel, Unknown) \
            or kernel.visibility != CpuVisibility.CPUS_LIMITED:
        # A pin counts only where the target is known to apply it.
        unrecognised = not isinstance(kernel, Unknown) and isinstance(target.vzctl_version, tuple)
        missing.append("target-kernel" if unrecognised else "target-facts")
        evidence.append(f"CPUMASK={mask.text} would pin, if the target's kernel and vzctl "
                        "apply it (2.6.32 and vzctl >= 3.0.26); they are not known to")
    else:
        cleared.append(f"CPUMASK={mask.text} pins the container to one CPU")

    # 6. A JVM started with -XX:+AssumeMP keeps its atomics locked.
    processes = container.java_processes
    running_jvms = processes if container.running and isinstance(processes, tuple) else ()
    if running_jvms and all(process.assumes_mp for process in running_jvms):
        mitigations.append("every JVM runs with -XX:+AssumeMP (mitigated on the JVM side)")

    if cleared or mitigations:
        return [Finding(
            ctid=ctid, rule=id, severity=Severity.INFO,
            message="futex-hang risk mitigated: " + "; ".join(cleared + mitigations),
            evidence=tuple(evidence),
        )]
    if missing:
        return [Finding(
            ctid=ctid, rule=id, severity=Severity.UNKNOWN,
            message="cannot rule out the one-CPU Java futex hang: "
                    + ", ".join(missing) + " unknown",
            evidence=tuple(evidence),
            remediation=remediation(ctid, source, target),
            missing=tuple(missing),
        )]
    fix = remediation(ctid, source, target)
    if "--cpus" in fix:
        evidence.append("vzctl on a node predates --cpumask (3.0.26): the fix raises CPUS instead "
                        "(or write CPUMASK=\"0\" into CTID.conf directly)")
    return [Finding(
        ctid=ctid, rule=id, severity=severity,
        message="Java will see 1 CPU on a multi-core 2.6.32 node without CPU pinning: "
                "suspected futex hang (JVM alive, ports never open, only kill -9 stops it)",
        evidence=tuple(evidence),
        remediation=fix,
    )]
