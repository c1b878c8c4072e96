"""havengate as a library: every command is one call here, returning one Report.

The CLI only parses arguments into the settings below, makes one of these calls and
renders the report; anything else (a runbook, ``migrate``, ``scan``) calls them the same
way. A node is a host name (``local``, ``[user@]host[:port]``, ``ssh://...``, an OpenSSH
alias) or facts already in hand (``load_facts(path)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from havengate.act.journal import Entry, Journal
from havengate.act.patch import patch_container, revert_container
from havengate.act.remediate import remediate_hang
from havengate.act.vet import file_vetter, multicore_2632, refuse_unsafe
from havengate.api.config import Config, load_config
from havengate.api.gate import Patcher, refuse_absent, run_check
from havengate.api.nodes import (
    Job,
    NodeFailure,
    close_all,
    collector,
    gather,
    over_connection,
    transport_for,
)
from havengate.api.results import build_report, container_result, named_node, node_summary
from havengate.api.settings import PatchPolicy, VerifySettings
from havengate.decide import Policy, PolicyConfig, UnrecognisedKernel
from havengate.errors import HavengateError, StateError, Unassessable, UsageError
from havengate.facts.ctconf import parse_ctid_conf
from havengate.facts.document import load_facts as _load_facts
from havengate.facts.model import Container, NodeFacts
from havengate.facts.probe import Mode
from havengate.model import (
    ExitCode,
    PatchStatus,
    PatchSummary,
    Port,
    Report,
    Verdict,
)
from havengate.quoting import validate_ctid
from havengate.state import DEFAULT_STATE_DIR
from havengate.transport import LOCAL, NodeAccess, Transport, preflight
from havengate.verify.baseline import record_baselines
from havengate.verify.expect import load_expectations
from havengate.verify.run import Outcome, Remediator
from havengate.verify.run import verify as sample_until_verified

__all__ = [
    "DEFAULT_STATE_DIR", "Config", "NodeAccess", "PatchPolicy", "Policy", "PolicyConfig",
    "Report", "UnrecognisedKernel", "VerifySettings", "check", "close_all", "facts",
    "journal", "load_config", "load_facts", "migrate", "patch", "revert", "verify",
]

log = logging.getLogger("havengate")
Node = str | NodeFacts  # a host to probe, or facts already in hand
STALE_AFTER = timedelta(days=1)


def facts(host: str, access: NodeAccess = NodeAccess(), *, node_only: bool = False) -> NodeFacts:
    """One node's facts (one probe round trip); raises Unassessable when it cannot be read."""
    mode = Mode.NODE if node_only else Mode.FULL
    result = gather({host: collector(host, mode, (), access)})[host]
    if isinstance(result, NodeFailure):
        raise Unassessable(result.reason)
    return result


def check(source: Node, target: Node, ctids: tuple[str, ...] = (), *,
          access: NodeAccess = NodeAccess(), policy: PolicyConfig = PolicyConfig(),
          patching: PatchPolicy = PatchPolicy(), state_dir: Path = DEFAULT_STATE_DIR,
          baselines: bool = True, go_ttl: int | None = None,
          go_dest: str | None = None) -> Report:
    """The pre-move gate: go, no-go, patched or unknown per container.

    A live check records each running container's port baseline in ``state_dir`` (unless
    ``baselines`` is False). With ``policy.policy == Policy.PATCH`` a container only HG001
    blocks is patched on the source (journaled in ``state_dir``) and judged again.
    """
    return _gate(source, target, ctids, access=access, policy=policy, patching=patching,
                 state_dir=state_dir, baselines=baselines, go_ttl=go_ttl,
                 go_dest=go_dest)[0]


def _gate(source: Node, target: Node, ctids: tuple[str, ...], *, access: NodeAccess,
          policy: PolicyConfig, patching: PatchPolicy, state_dir: Path, baselines: bool,
          go_ttl: int | None = None, go_dest: str | None = None,
          link: Transport | None = None) -> tuple[Report, NodeFacts | NodeFailure,
                                                  NodeFacts | NodeFailure]:
    """check(), with the facts it judged (migrate reads the nodes' own names from them).

    ``go_ttl``: seconds of the go tokens written on a live source for each container that
    is go or patched (what the node-side vzmigrate gate lets through; None: none written).
    ``link``: the caller's open connection to the source, used and left open (migrate
    moves the containers over it).
    """
    ctids = tuple(validate_ctid(ctid) for ctid in ctids)
    if policy.policy == Policy.PATCH and not isinstance(source, str):
        raise UsageError("--policy patch changes the source's CTID.conf: it needs the source "
                         "node itself, not its saved facts")
    jobs: dict[str, Job] = {}
    source_link = None
    if isinstance(source, str):  # kept open: the go tokens go over the probe's connection
        source_link = link or transport_for(source, access)
        jobs["source"] = collector(source, Mode.FULL, ctids, access, transport=source_link)
    if isinstance(target, str):
        jobs["target"] = collector(target, Mode.NODE, (), access)
    gathered = gather(jobs)
    source_facts = gathered.get("source", source)
    target_facts = gathered.get("target", target)
    patcher = None
    if policy.policy == Policy.PATCH and isinstance(source_facts, NodeFacts):
        patcher = _patcher(source, source_facts, target_facts, patching, access,
                           Journal(state_dir))
    report, assessments = run_check(source_facts, target_facts, ctids, policy, patcher=patcher)
    if isinstance(source, str) and isinstance(source_facts, NodeFacts) and baselines \
            and not patching.dry_run:
        try:
            written = record_baselines(state_dir, source_facts,
                                       [a.container for a in assessments])
            log.info("recorded %d port baseline(s) in %s", len(written), state_dir)
        except StateError as exc:
            log.warning("baseline not recorded: %s (the report still lists the ports)", exc)
    try:
        if go_ttl and source_link is not None and not patching.dry_run and not report.errors:
            _write_go_tokens(source_link, target, report, go_ttl, go_dest)
    finally:
        if source_link is not None and link is None:
            source_link.close()
    return report, source_facts, target_facts


def _write_go_tokens(source: Transport, target: Node, report: Report, ttl: int,
                     destination: str | None) -> None:
    """A go token on the source for each container that may move (the vzmigrate gate)."""
    from havengate.act.token import write_go_token
    from havengate.transport.address import split_destination

    going = [c.ctid for c in report.containers if c.verdict in (Verdict.GO, Verdict.PATCHED)]
    if not going:
        return
    if destination is None:
        name = target if isinstance(target, str) else target.host
        destination = split_destination(name.removeprefix("ssh://")).host
    try:
        for ctid in going:
            write_go_token(source, ctid, destination, report.generated_at, ttl=ttl)
        log.info("go tokens for CT %s written on %s (valid %d s, to %s)", ", ".join(going),
                 source.name, ttl, destination)
    except HavengateError as exc:
        log.warning("go tokens not written: %s (a vzmigrate gate on the node will refuse "
                    "these moves)", exc)


def _patcher(host: str, source: NodeFacts, target: NodeFacts | NodeFailure, patching: PatchPolicy,
             access: NodeAccess, journal: Journal) -> Patcher:
    """Patch on the source over a connection of its own, one container at a time."""
    target_cpus = target.cpus if isinstance(target, NodeFacts) and isinstance(target.cpus, int) \
        else None
    judged_on = target if isinstance(target, NodeFacts) else multicore_2632(target_cpus or 2)

    def patch_one(container: Container) -> tuple[PatchSummary, Container | None]:
        settings = patching.settings_for(container.ctid)
        vet = file_vetter(source, judged_on, container, force=False)  # values that fix it only
        log.info("patching CT %s on %s ...", container.ctid, source.host)
        summary, outcome, _ = _act(host, access, lambda t: patch_container(
            t, container.ctid, settings.validated(target_cpus), journal,
            vzctl_version=source.vzctl_version, dry_run=patching.dry_run,
            lock_wait=patching.lock_wait, vet=vet))
        if outcome is None or outcome.status == PatchStatus.PLANNED:
            return summary, None
        new_conf = parse_ctid_conf(outcome.final.decode("utf-8", "replace"), container.ctid)
        return summary, replace(container, conf=new_conf)

    return patch_one


def load_facts(path: str | Path) -> NodeFacts:
    """A node's saved facts (``havengate facts HOST -o FILE``), checked against their own raw
    values; ``-`` is standard input."""
    return _load_facts(Path(path))


def saved_facts(path: Path) -> NodeFacts:
    """Facts from a file (``-``: standard input); old facts are used, with a warning."""
    facts_ = load_facts(path)
    try:
        collected = datetime.fromisoformat(facts_.collected_at)
    except ValueError:
        log.warning("%s: collected_at %r is not an ISO 8601 time; cannot tell how old these "
                    "facts are", path, facts_.collected_at)
        return facts_
    if collected.tzinfo is None:
        log.warning("%s: collected_at %r has no time zone; cannot tell how old these facts are",
                    path, facts_.collected_at)
        return facts_
    age = datetime.now(timezone.utc) - collected
    if age > STALE_AFTER:
        log.warning("%s: facts of %s collected %s ago; the node may have changed since",
                    path, facts_.host, str(age).split(".")[0])
    return facts_


_PATCH_VERDICTS = {
    PatchStatus.PATCHED: Verdict.PATCHED, PatchStatus.ALREADY: Verdict.GO,
    PatchStatus.REVERTED: Verdict.GO, PatchStatus.FAILED: Verdict.NO_GO,
    PatchStatus.PLANNED: Verdict.NO_GO,  # --dry-run: nothing changed, still at risk
}


def patch(ctids: tuple[str, ...], host: str, *, access: NodeAccess = NodeAccess(),
          patching: PatchPolicy = PatchPolicy(), target: str | None = None,
          target_cpus: int | None = None, where_target: bool = False,
          state_dir: Path = DEFAULT_STATE_DIR) -> Report:
    """Write the fix into each container's CTID.conf on ``host`` (the source before the
    move), or with ``where_target`` on ``target`` after it; journaled, revertible."""
    ctids = tuple(validate_ctid(ctid) for ctid in ctids)
    journal = Journal(state_dir)
    journal.entries()  # a corrupt or newer journal stops us before any node is touched
    if where_target and not target:
        raise UsageError("--where target patches the node named by --target: give --target HOST")
    patched = target if where_target and target else host
    jobs = {"host": collector(patched, Mode.NODE, ctids, access)}
    if target and target != patched:
        jobs["target"] = collector(target, Mode.NODE, (), access)
    gathered = gather(jobs)
    node = gathered["host"]
    if isinstance(node, NodeFailure):
        raise Unassessable(node.reason)
    judged_on = None
    if target:
        target_node = gathered.get("target", node)
        if isinstance(target_node, NodeFailure) or not isinstance(target_node.cpus, int):
            reason = (target_node.reason if isinstance(target_node, NodeFailure)
                      else "CPUs unknown")
            raise Unassessable(f"cannot check the mask against the target: {reason}")
        target_cpus, judged_on = target_node.cpus, target_node
    if target_cpus is None:
        log.warning("no --target: the mask is checked against %s's own CPUs", patched)
        target_cpus = node.cpus if isinstance(node.cpus, int) else None
    refuse_absent(node, ctids)
    # Every container's settings are checked before the first one is touched: the values
    # must be writable, and must leave the container out of HG001/HG002's reach.
    settings = {ctid: patching.settings_for(ctid).validated(target_cpus) for ctid in ctids}
    judged_on = judged_on or multicore_2632(target_cpus or 2)
    for warning in refuse_unsafe(node, judged_on, settings, force=patching.force):
        log.warning("--force: %s", warning)

    results = []
    for ctid in ctids:
        container = node.container(ctid)
        vet = file_vetter(node, judged_on, container, force=patching.force)
        summary, _, unassessed = _act(patched, access, lambda t, ctid=ctid, vet=vet: patch_container(
            t, ctid, settings[ctid], journal, vzctl_version=node.vzctl_version,
            dry_run=patching.dry_run, lock_wait=patching.lock_wait, vet=vet))
        verdict = Verdict.UNKNOWN if unassessed else _PATCH_VERDICTS[summary.status]
        results.append(container_result(ctid, verdict, container=container, patch=summary,
                                        ports=()))
    return _patch_report("patch", node_summary(node), results)


def revert(ctids: tuple[str, ...], host: str, *, access: NodeAccess = NodeAccess(),
           state_dir: Path = DEFAULT_STATE_DIR, force: bool = False, dry_run: bool = False,
           lock_wait: float = PatchPolicy().lock_wait) -> Report:
    """Restore each container's CTID.conf bytes from before its last journaled patch."""
    ctids = tuple(validate_ctid(ctid) for ctid in ctids)
    journal = Journal(state_dir)
    journal.entries()
    if host != LOCAL:
        preflight(access, (host,))  # a bad key is exit 2, not every container "failed"
    results = []
    for ctid in ctids:
        summary, _, unassessed = _act(host, access, lambda t, ctid=ctid: revert_container(
            t, ctid, journal, force=force, dry_run=dry_run, lock_wait=lock_wait))
        verdict = (Verdict.UNKNOWN if unassessed
                   else Verdict.GO if summary.status == PatchStatus.PLANNED  # nothing at risk
                   else _PATCH_VERDICTS[summary.status])
        results.append(container_result(ctid, verdict, patch=summary, ports=()))
    return _patch_report("revert", named_node(host), results)


def journal(state_dir: Path = DEFAULT_STATE_DIR) -> list[Entry]:
    """Every journaled patch, oldest first; a corrupt journal is refused, never guessed."""
    return Journal(state_dir).entries()


def verify(ctids: tuple[str, ...], target: str, *, access: NodeAccess = NodeAccess(),
           settings: VerifySettings = VerifySettings(), patching: PatchPolicy = PatchPolicy(),
           config: Config = Config(), state_dir: Path = DEFAULT_STATE_DIR,
           progress: Callable[[str], None] = log.info) -> Report:
    """After the move: did every port of each container's baseline open again? If not, why.

    ``settings.remediate``: a called hang is fixed (journaled pin, SIGKILL, restart) and
    verified again within the same deadline.
    """
    ctids = tuple(validate_ctid(ctid) for ctid in ctids)
    expectations = load_expectations(ctids, state_dir, settings.baselines, config.verify,
                                     settings.source_node)
    remediate = _remediator(target, access, patching, state_dir) if settings.remediate else None
    transport = transport_for(target, access)
    try:
        progress(f"verifying {', '.join(e.ctid for e in expectations)} on {target} "
                 f"(deadline {settings.timeout:g} s) ...")
        run = sample_until_verified(transport, expectations, deadline=settings.timeout,
                                    hang_after=settings.hang_after, remediate=remediate,
                                    progress=progress)
    finally:
        transport.close()
    results = [_verify_result(outcome, run.node) for outcome in run.outcomes.values()]
    summary = node_summary(run.node) if run.node is not None else named_node(target, run.error)
    return build_report("verify", "remediate" if settings.remediate else "verify", results,
                        source=None, target=summary, errors=[run.error] if run.error else [],
                        complete=run.node is not None and not run.stopped)


def _verify_result(outcome: Outcome, node: NodeFacts | None):
    state = outcome.state
    container = outcome.container
    return container_result(
        outcome.expect.ctid,
        Verdict(state.status) if state and state.status in ("verified", "failed", "unknown")
        else Verdict.UNKNOWN,  # pending or suspect when a permanent error ended the sampling
        container=container, node=node, findings=state.findings if state else (),
        cpus_seen_after=container.cpus_seen if container else None,
        ports=tuple(Port(family="tcp", address="*", port=p) for p in outcome.expect.ports),
        patch=outcome.remediation, checks=state.checks if state else (),
        duration=outcome.seconds)


def _remediator(target: str, access: NodeAccess, patching: PatchPolicy,
                state_dir: Path) -> Remediator:
    """Pin (journaled), SIGKILL the hung JVMs, restart: within the verify deadline."""
    journal_ = Journal(state_dir)
    journal_.entries()  # a corrupt journal stops us before anything is touched

    def remediate(container: Container, node: NodeFacts, time_left: float) -> PatchSummary:
        # The fix must fit this node's CPUs and must fix the hang (HG001/HG002 on the
        # bytes about to be written), or nothing is killed or restarted.
        vet = file_vetter(node, node, container, force=False)
        node_cpus = node.cpus if isinstance(node.cpus, int) else None
        settings = patching.settings_for(container.ctid)
        summary, _, _ = _act(target, access, lambda t: remediate_hang(
            t, container, settings.validated(node_cpus), journal_, budget=time_left, vet=vet))
        return summary

    return remediate


def _act(host: str, access: NodeAccess, step):
    """One act step over its own connection; a failure becomes a line of the report:
    (summary, outcome or None, could-not-assess)."""
    from havengate.act import failed, summarise

    try:
        outcome = over_connection(host, access, step)
    except HavengateError as exc:
        return failed(host, str(exc)), None, exc.exit_code == ExitCode.UNKNOWN
    return summarise(outcome), outcome, False


def _patch_report(command: str, node, results) -> Report:
    return build_report(command, "patch", results, source=node, target=None, errors=[
        note for r in results if r.patch and r.patch.status == PatchStatus.FAILED
        for note in r.patch.notes])


from havengate.api.migrate import migrate  # noqa: E402 (it calls the functions above)
