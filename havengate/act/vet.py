"""Before a patch is written: would the container, with the planned values, still be at risk?

A patch that writes ``CPUMASK="0-3"``, ``CPUMASK="all"`` or ``CPUS="1"`` fixes nothing,
and reporting it as *patched* would be a false go. The planned CTID.conf is judged by the
same rules as ``check`` (HG001, HG002), with Java assumed: a patch is made for a JVM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from havengate.act.plan import PatchSettings, rewrite_conf
from havengate.assess import assess_container
from havengate.errors import PlanRefused
from havengate.facts.ctconf import parse_ctid_conf
from havengate.facts.model import Container, CpuVisibility, CtConf, Kernel, KernelFamily, NodeFacts
from havengate.model import Severity, Unknown

log = logging.getLogger("havengate")
VALUE_RULES = frozenset({"HG001", "HG002"})  # the rules the written values decide
_ASSUMED_JAVA = ("(Java assumed: the patch is made for a JVM)",)


def planned_conf(conf: CtConf, settings: PatchSettings, ctid: str) -> CtConf:
    """CTID.conf as the patch will leave it, parsed as vzctl reads it."""
    text = conf.text if conf.text is not None else "".join(
        f'{key}="{value}"\n' for key, value in conf.values.items())
    after = rewrite_conf(text.encode("utf-8", "surrogateescape"), settings.values())
    return parse_ctid_conf(after.decode("utf-8", "replace"), ctid)


def multicore_2632(cpus: int, host: str = "the target") -> NodeFacts:
    """The node the hazard needs, when the real target was not named: a 2.6.32 kernel that
    limits visibility and applies CPUMASK, with ``cpus`` (at least 2) CPUs."""
    kernel = Kernel(release="2.6.32 (assumed)", family=KernelFamily.OVZ_2632,
                    visibility=CpuVisibility.CPUS_LIMITED, version=(2, 6, 32),
                    openvz_build=None, flavour="a multi-core 2.6.32 OpenVZ node (assumed)")
    return NodeFacts(host=host, collected_at="", kernel=kernel, cpus=max(2, cpus),
                     vzctl_version=(4, 0), containers=(), vz_conf=None)


def residual_risks(source: NodeFacts, target: NodeFacts, container: Container,
                   planned: CtConf | Unknown) -> tuple[str, ...]:
    """Why the container would still be at risk with ``planned`` as its CTID.conf."""
    if isinstance(planned, Unknown):
        return (f"its CTID.conf could not be read ({planned.reason}), so the patch cannot be "
                "judged",)
    judged = replace(container, status="stopped", conf=planned, cpus_seen=Unknown("planned"),
                     java_processes=Unknown("planned"), java_files=_ASSUMED_JAVA)
    findings = assess_container(source, target, judged).findings
    return tuple(f"{f.rule} {f.message}" for f in findings
                 if f.rule in VALUE_RULES and f.severity == Severity.ERROR)


def refuse_unsafe(source: NodeFacts, target: NodeFacts, plans: dict[str, PatchSettings],
                  *, force: bool) -> list[str]:
    """Raise PlanRefused naming each container the planned values leave at risk; with
    ``force``, return those reasons as warnings instead."""
    reasons = []
    for ctid, settings in plans.items():
        container = source.container(ctid)
        if container is None:
            continue
        planned = (container.conf if isinstance(container.conf, Unknown)
                   else planned_conf(container.conf, settings, ctid))
        values = " ".join(f'{k}="{v}"' for k, v in settings.values().items())
        reasons += [f"CT {ctid} with {values}: {why}"
                    for why in residual_risks(source, target, container, planned)]
    return _refused(reasons, force)


def file_vetter(source: NodeFacts, target: NodeFacts, container: Container, *,
                force: bool) -> Callable[[bytes], None]:
    """The same judgement on the exact bytes a patch is about to write, read under the
    node's lock (the file may have changed since the probe)."""
    def vet(intended: bytes) -> None:
        planned = parse_ctid_conf(intended.decode("utf-8", "replace"), container.ctid)
        reasons = [f"CT {container.ctid}: {why}"
                   for why in residual_risks(source, target, container, planned)]
        for reason in _refused(reasons, force):
            log.warning("--force: %s", reason)
    return vet


def _refused(reasons: list[str], force: bool) -> list[str]:
    if reasons and not force:
        raise PlanRefused("; ".join(reasons) + " -- the patch would not fix it; nothing was "
                          "written (--force writes it anyway)")
    return reasons
