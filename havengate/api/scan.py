"""``havengate scan``: the whole HA fleet in one run, as a plan for the upgrade wave.

The inventory the team keeps for Ansible names the nodes; a node's ``havengate_peer`` (its
HA slave, also in the inventory) or ``havengate_target`` (the profile of hardware not yet
installed) says where its containers go. Every node is probed once, at most ``forks`` at
a time; each pair is judged by the same gate as ``check`` (run_check), so a scan and a
check of the same pair never disagree. A node that cannot be read makes its pairs
``unknown``; the scan always finishes.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from havengate import api
from havengate.act.journal import Journal
from havengate.api.gate import PATCHABLE_RULES, run_check
from havengate.api.nodes import NodeFailure, NodeResult, collector, gather
from havengate.api.results import build_report
from havengate.api.settings import PatchPolicy
from havengate.decide import Policy, PolicyConfig
from havengate.errors import UsageError
from havengate.facts.kernel import parse_kernel_release
from havengate.facts.model import NodeFacts
from havengate.facts.probe import Mode
from havengate.inventory import Inventory, InventoryHost
from havengate.model import (
    ContainerResult,
    Finding,
    FleetSummary,
    PairResult,
    PlanEntry,
    Report,
    Severity,
    Verdict,
)
from havengate.state import DEFAULT_STATE_DIR
from havengate.transport import NodeAccess, preflight, validate_host
from havengate.transport.address import NodeEntry

log = logging.getLogger("havengate")
UNREAD_NOTE = "{unread} of {nodes} node(s) could not be read: their pairs are unknown"
UNREAD_NOTE_RE = re.compile(re.escape(UNREAD_NOTE).replace(r"\{unread\}", r"\d+")
                            .replace(r"\{nodes\}", r"\d+"))
PEER = "havengate_peer"
TARGET = "havengate_target"
DEFAULT_FORKS = 20
_VZCTL = re.compile(r"^[0-9]+(\.[0-9]+){0,3}$")


@dataclass(frozen=True)
class TargetProfile:
    """Hardware not installed yet, as the inventory describes it."""

    kernel: str
    cpus: int
    vzctl: tuple[int, ...]

    def facts(self, source: str) -> NodeFacts:
        """The target as the gate judges it: no containers on it, no vz.conf CPU defaults
        (a fresh install sets none)."""
        return NodeFacts(host=self.label(source), collected_at="",
                         kernel=parse_kernel_release(self.kernel), cpus=self.cpus,
                         vzctl_version=self.vzctl, containers=(), vz_conf=None)

    def label(self, source: str) -> str:
        return f"planned target of {source}"


@dataclass(frozen=True)
class Pair:
    source: str  # inventory host names
    peer: str | None
    profile: TargetProfile | None


def fleet_pairs(inventory: Inventory, limit: str | None) -> list[Pair]:
    """The pairs of the nodes ``limit`` selects, checked before any node is touched:
    a peer must be in the inventory, not the node itself, not a node whose own peer is
    this one (a cycle); one host, one address."""
    selected = inventory.select(limit)
    pairs = []
    for host in selected:
        where = f"{inventory.source}: host {host.name}"
        peer, profile = host.vars.get(PEER), host.vars.get(TARGET)
        if peer is not None and profile is not None:
            raise UsageError(f"{where}: both {PEER} and {TARGET} are set; a node's containers "
                             "go to one place")
        if peer is None and profile is None:
            continue
        validate_host(host.name)
        if profile is not None:
            pairs.append(Pair(host.name, None, _profile(profile, where)))
            continue
        if not isinstance(peer, str) or inventory.host(peer) is None:
            raise UsageError(f"{where}: {PEER} {peer!r} is not a host of the inventory")
        if peer == host.name:
            raise UsageError(f"{where}: {PEER} is the node itself")
        _refuse_cycle(inventory, host.name)
        pairs.append(Pair(host.name, peer, None))
    if not pairs:
        raise UsageError(f"{'--limit ' + limit if limit else inventory.source}: no node with "
                         f"{PEER} or {TARGET} among {len(selected)} host(s): nothing to scan")
    _refuse_shared_addresses(inventory, pairs)
    return pairs


def _profile(value: object, where: str) -> TargetProfile:
    if not isinstance(value, dict) or set(value) - {"kernel", "cpus", "vzctl"}:
        raise UsageError(f"{where}: {TARGET} must be a mapping of kernel, cpus and vzctl "
                         f"(got {value!r})")
    kernel, cpus, vzctl = value.get("kernel"), value.get("cpus"), str(value.get("vzctl", "4.0"))
    if not isinstance(kernel, str) or not kernel.strip():
        raise UsageError(f"{where}: {TARGET}.kernel must be a kernel release string")
    if isinstance(cpus, str) and cpus.isdigit():
        cpus = int(cpus)
    if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= 4096:
        raise UsageError(f"{where}: {TARGET}.cpus must be a CPU count (1-4096), got {cpus!r}")
    if not _VZCTL.match(vzctl):
        raise UsageError(f"{where}: {TARGET}.vzctl must be a version such as 4.0")
    return TargetProfile(kernel.strip(), cpus, tuple(int(p) for p in vzctl.split(".")))


def _refuse_cycle(inventory: Inventory, start: str) -> None:
    seen = [start]
    host: InventoryHost | None = inventory.host(start)
    while host is not None and isinstance(host.vars.get(PEER), str):
        peer = host.vars[PEER]
        if peer in seen:
            raise UsageError(f"{inventory.source}: {PEER} cycle: {' -> '.join([*seen, peer])} "
                             "(a node cannot be upgraded while its containers are on their way "
                             "back to it)")
        seen.append(peer)
        host = inventory.host(peer)


def _refuse_shared_addresses(inventory: Inventory, pairs: list[Pair]) -> None:
    names = {p.source for p in pairs} | {p.peer for p in pairs if p.peer}
    where: dict[tuple[str, int | None], str] = {}
    for host in inventory.hosts:
        if host.name not in names:
            continue
        key = (host.address, host.port)
        if key in where:
            raise UsageError(f"{inventory.source}: hosts {where[key]} and {host.name} are the "
                             f"same node ({host.address}{f':{host.port}' if host.port else ''})"
                             ": a node is listed once")
        where[key] = host.name


def node_entries(inventory: Inventory) -> dict[str, NodeEntry]:
    """Where and how Ansible would connect: ansible_host, ansible_port, ansible_user,
    ansible_private_key_file."""
    return {host.name: NodeEntry(address=host.address if host.address != host.name else None,
                                 user=host.user, port=host.port,
                                 identity_file=host.identity_file)
            for host in inventory.hosts}


def _merged(inventory: dict[str, NodeEntry],
            config: Mapping[str, NodeEntry]) -> dict[str, NodeEntry]:
    """The config file's node entries over the inventory's, field by field (an entry that
    sets only vzmigrate-dest keeps the inventory's address, user and port)."""
    merged = dict(inventory)
    for name, entry in config.items():
        base = merged.get(name, NodeEntry())
        merged[name] = NodeEntry(**{f.name: getattr(entry, f.name) or getattr(base, f.name)
                                    for f in fields(NodeEntry)})
    return merged


def scan(inventory: Inventory, *, limit: str | None = None, forks: int = DEFAULT_FORKS,
         access: NodeAccess = NodeAccess(), policy: PolicyConfig = PolicyConfig(),
         patching: PatchPolicy = PatchPolicy(), apply: bool = False,
         state_dir: Path = DEFAULT_STATE_DIR,
         finished: Callable[[str, NodeResult], None] | None = None,
         confirm: Callable[[list[str]], bool] = lambda _: True) -> Report:
    """Probe every node of the pairs once, judge each pair as ``check`` would, plan.

    ``apply`` (with ``policy.policy == Policy.PATCH``): the containers the plan says to
    patch first are patched on their source, through the journal, and judged again --
    once ``confirm`` said yes to the plan's command lines.
    """
    if apply and policy.policy != Policy.PATCH:
        raise UsageError("--apply writes the plan's fixes: it needs --policy patch")
    pairs = fleet_pairs(inventory, limit)
    access = replace(access, nodes=_merged(node_entries(inventory), access.nodes))
    sources = {p.source for p in pairs}
    names = list(dict.fromkeys([*(p.source for p in pairs), *(p.peer for p in pairs if p.peer)]))
    jobs = {name: collector(name, Mode.FULL if name in sources else Mode.NODE, (), access,
                            eager=False) for name in names}
    if any(name != "local" for name in names):
        preflight(access, names)  # a bad ssh config or key is the operator's error, not
        #                           every node's: stopped before any node is touched
    log.info("scanning %d node(s), %d at a time ...", len(names), min(forks, len(names)))
    facts = gather(jobs, forks=forks, finished=finished, strict=False)
    results = [_judge(pair, facts, policy, patching, access, None) for pair in pairs]
    planned = [e.command for r in results for e in r.plan if e.action == "patch-first"]
    if apply and planned and confirm(planned):
        journal = Journal(state_dir)
        journal.entries()  # a corrupt journal stops us before anything is written
        results = [_judge(pair, facts, policy, patching, access, journal)
                   if any(e.action == "patch-first" for e in result.plan) else result
                   for pair, result in zip(pairs, results, strict=True)]
    unreachable = tuple(node.reason if node.reason.startswith(f"{name}:") else
                        f"{name}: {node.reason}" for name, node in facts.items()
                        if isinstance(node, NodeFailure))
    errors = [f"{pair.source.host} -> {pair.target.host}: {error}"
              for pair in results for error in pair.errors]
    return _fleet_report(policy.policy.value, tuple(results), len(names), unreachable,
                         errors, [])


def _fleet_report(policy: str, pairs: tuple[PairResult, ...], nodes: int,
                  unreachable: tuple[str, ...], errors: list[str],
                  notes: list[str]) -> Report:
    """One fleet's report (a scan's, or merged shards'): totals, verdict, exit code and
    the unreachable nodes' note computed from its pairs."""
    everything = [c for pair in pairs for c in pair.containers]
    if unreachable:
        notes = [UNREAD_NOTE.format(unread=len(unreachable), nodes=nodes), *notes]
    fleet = FleetSummary(
        nodes=nodes, nodes_unreachable=len(unreachable), unreachable=unreachable,
        pairs=len(pairs), containers=len(everything),
        totals=dict(Counter(c.verdict.value for c in everything)),
        plan=dict(Counter(e.action for pair in pairs for e in pair.plan)))
    report = build_report("scan", policy, everything, source=None, target=None,
                          errors=errors, notes=notes, complete=not errors)
    return replace(report, containers=(), pairs=pairs, fleet=fleet)


def _judge(pair: Pair, facts: dict[str, NodeResult], policy: PolicyConfig,
           patching: PatchPolicy, access: NodeAccess, journal: Journal | None) -> PairResult:
    source = facts[pair.source]
    target = pair.profile.facts(pair.source) if pair.profile else facts[pair.peer]
    patcher = None
    if journal is not None and isinstance(source, NodeFacts):
        patcher = api._patcher(pair.source, source, target, patching, access, journal)
    report, _ = run_check(source, target, (), policy, command="scan", patcher=patcher)
    containers = report.containers  # none when the source's list is unknown: errors say so
    plan = tuple(_plan_entry(c, pair) for c in containers)
    return PairResult(source=report.source, target=report.target,
                      planned=pair.profile is not None, verdict=report.verdict,
                      containers=containers, errors=report.errors, plan=plan,
                      totals=dict(Counter(c.verdict.value for c in containers)))


def _plan_entry(container: ContainerResult, pair: Pair) -> PlanEntry:
    """What the wave does with a container: the gate's verdict made into an action."""
    ctid = container.ctid
    blocking = [f for f in container.findings if f.severity == Severity.ERROR]
    if container.verdict == Verdict.GO:
        return PlanEntry(ctid, "move", "go: it can move as it is")
    if container.verdict == Verdict.PATCHED:
        journal_id = container.patch.journal_id if container.patch else None
        return PlanEntry(ctid, "patched", f"patched on {pair.source} (journal {journal_id}); "
                                          "it can move")
    if container.verdict == Verdict.NO_GO and blocking and \
            {f.rule for f in blocking} <= PATCHABLE_RULES:
        where = (f"--target {pair.peer}" if pair.peer
                 else f"--target-cpus {pair.profile.cpus}" if pair.profile else "")
        on_node = "; ".join(f.remediation for f in blocking if f.remediation)
        return PlanEntry(ctid, "patch-first",
                         _said(blocking) + (f" (on the node: {on_node})" if on_node else ""),
                         f"havengate patch {ctid} --host {pair.source} {where}".rstrip())
    if container.verdict == Verdict.NO_GO:
        return PlanEntry(ctid, "blocked", _said(blocking) or "no-go")
    unknown = [f for f in container.findings if f.severity == Severity.UNKNOWN]
    return PlanEntry(ctid, "unknown", _said(unknown) or "could not be assessed")


def _said(findings: list[Finding]) -> str:
    """Findings as the plan's reason: rule and message each."""
    return "; ".join(f"{f.rule} {f.message}" for f in findings)


def merge(reports: list[tuple[str, Report]]) -> Report:
    """One fleet report from the scans of shards (``--limit``): pairs side by side, totals,
    verdict and exit code computed again. Shards that overlap are refused: a pair counted
    twice would hide which of two runs is right."""
    if not reports:
        raise UsageError("name the scan reports to merge")
    seen: dict[str, str] = {}
    policies = {report.policy for _, report in reports}
    for name, report in reports:
        if report.command != "scan":
            raise UsageError(f"{name}: a {report.command} report; only scan reports merge")
        for pair in report.pairs:
            if pair.source.host in seen:
                raise UsageError(f"{pair.source.host} is in both {seen[pair.source.host]} and "
                                 f"{name}: the shards overlap (check their --limit)")
            seen[pair.source.host] = name
    if len(policies) > 1:
        raise UsageError(f"the reports were made with different policies "
                         f"({', '.join(sorted(policies))}): their verdicts do not add up")
    pairs = tuple(pair for _, report in reports for pair in report.pairs)
    nodes = {p.source.host for p in pairs} | {p.target.host for p in pairs if not p.planned}
    by_node: dict[str, str] = {}  # one line per node, whichever shard said it first
    for _, report in reports:
        for line in (report.fleet.unreachable if report.fleet else ()):
            name = next((n for n in nodes if line.startswith(f"{n}: ")), line)  # IPv6 too
            by_node.setdefault(name, line)
    errors = list(dict.fromkeys(e for _, report in reports for e in report.errors))
    notes = [*dict.fromkeys(n for _, report in reports for n in report.notes
                            if not UNREAD_NOTE_RE.fullmatch(n)),  # a shard's count: redone
             f"merged from {len(reports)} scan reports: {', '.join(n for n, _ in reports)}"]
    merged = _fleet_report(policies.pop(), pairs, len(nodes), tuple(by_node.values()),
                           errors, notes)
    oldest = min(report.generated_at for _, report in reports)  # the fleet is as old as this
    return replace(merged, generated_at=oldest)
