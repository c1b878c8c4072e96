"""How many CPUs a container sees on a node, by kernel regime (DESIGN.md §1 table)."""

from __future__ import annotations

from havengate.facts.model import CpuVisibility, CtConf, Kernel
from havengate.model import Unknown


def predict_cpus_seen(
    kernel: Kernel | Unknown, node_cpus: int | Unknown, conf: CtConf | Unknown
) -> int | Unknown:
    """CPUs a container with ``conf`` would see on a node: the value the JVM will count."""
    if isinstance(kernel, Unknown):
        return Unknown(f"node kernel unknown: {kernel.reason}")
    if kernel.visibility == CpuVisibility.UNKNOWN:
        return Unknown(f"kernel {kernel.release} is not one havengate recognises")
    if isinstance(node_cpus, Unknown):
        return Unknown(f"node CPU count unknown: {node_cpus.reason}")
    if kernel.visibility == CpuVisibility.ALL_HOST_CPUS:
        return node_cpus
    if isinstance(conf, Unknown):
        return Unknown(f"CTID.conf unreadable: {conf.reason}")
    if isinstance(conf.cpus, Unknown):
        return conf.cpus
    if conf.cpus is None:
        return node_cpus
    return min(conf.cpus, node_cpus) if kernel.visibility == CpuVisibility.CPUS_LIMITED else conf.cpus
