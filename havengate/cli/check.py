"""``havengate check`` and ``havengate facts``."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from havengate.act.journal import Journal
from havengate.act.patch import patch_container
from havengate.act.vet import file_vetter, multicore_2632
from havengate.cli.options import (
    Unassessable,
    act_on,
    collector,
    emit,
    host_argument,
    log,
    output_group,
    patch_flags,
    patch_group,
    render,
    ssh_group,
    state_group,
)
from havengate.config import load_config
from havengate.decide import ExitCode, Policy, PolicyConfig, UnrecognisedKernel
from havengate.documents import STDIO
from havengate.errors import UsageError
from havengate.facts.ctconf import parse_ctid_conf
from havengate.facts.document import facts_document, load_facts
from havengate.facts.model import Container, NodeFacts, Unknown
from havengate.facts.probe import Mode
from havengate.gate import NodeFailure, Patcher, gather, run_check
from havengate.quoting import validate_ctid
from havengate.report.model import PatchSummary
from havengate.state import StateError, record_baselines

CHECK_EPILOG = """\
HOST is `local`, [user@]host[:port], or a Host alias of the OpenSSH client config.
Host keys are checked against known_hosts; unknown or changed keys are refused.

examples:
  havengate check --source local --target slave1            # vzmigrate pre hook
  havengate check 101 102 --source master --target slave1 --format json -o report.json
  havengate check --source-facts master.json --target-facts slave.json   # offline / CI
  havengate check --source master --target slave1 --policy patch --dry-run
"""


def register(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check", parents=[ssh_group(), output_group(), state_group(), patch_group()],
        help="pre-move gate: go / no-go / unknown per container",
        description="Decide, per container on the source, whether it may move to the target.",
        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("ctids", nargs="*", metavar="CTID",
                       help="containers to check (default: every container on the source)")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--source", type=host_argument, metavar="HOST", help="node the containers move from")
    source.add_argument("--source-facts", type=Path, metavar="FILE",
                        help="saved facts of the source (havengate facts HOST -o FILE); "
                             "- reads standard input")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--target", type=host_argument, metavar="HOST", help="node the containers move to")
    target.add_argument("--target-facts", type=Path, metavar="FILE",
                        help="saved facts of the target")
    policy = check.add_argument_group("policy")
    policy.add_argument("--policy", choices=[p.value for p in Policy], default=Policy.BLOCK.value,
                        help="block: an error stops the move (default); warn: report errors as "
                             "warnings, exit 0; patch: fix what HG001 blocks on the source "
                             "(journaled), then judge again")
    policy.add_argument("--unrecognised-kernel", choices=[u.value for u in UnrecognisedKernel],
                        default=UnrecognisedKernel.UNKNOWN.value,
                        help="a target kernel havengate does not know makes at-risk containers "
                             "unknown (default) or only warns; it is never assumed safe")
    check.add_argument("--no-baseline", action="store_true",
                       help="do not record the listening ports baseline (live checks record it)")
    check.set_defaults(handler=command_check)

    facts = commands.add_parser(
        "facts", parents=[ssh_group(), output_group(with_format=False)],
        help="collect a node's facts as JSON",
        description="Collect one node's facts (kernel, CPUs, vzctl, containers, JVMs, ports) "
                    "as a JSON document valid against schemas/facts.schema.json.",
    )
    facts.add_argument("host", type=host_argument, metavar="HOST")
    facts.add_argument("--node-only", action="store_true",
                       help="skip looking inside containers (what a target needs)")
    facts.set_defaults(handler=command_facts)


def command_check(args: argparse.Namespace) -> int:
    ctids = tuple(validate_ctid(ctid) for ctid in args.ctids)
    if str(args.source_facts) == str(args.target_facts) == STDIO:
        raise UsageError("--source-facts - and --target-facts -: standard input holds one "
                         "document; give the other as a file")
    policy = Policy(args.policy)
    if policy == Policy.PATCH and not args.source:
        raise UsageError("--policy patch changes the source's CTID.conf: it needs --source HOST, "
                         "not --source-facts")
    config = load_config(args.config)
    jobs = {}
    if args.source:
        jobs["source"] = collector(args.source, Mode.FULL, ctids, args)
    if args.target:
        jobs["target"] = collector(args.target, Mode.NODE, (), args)
    gathered = gather(jobs)
    source = gathered.get("source") or _saved(args.source_facts)
    target = gathered.get("target") or _saved(args.target_facts)
    policy_config = PolicyConfig(policy=policy,
                                 unrecognised_kernel=UnrecognisedKernel(args.unrecognised_kernel))
    patcher = None
    if policy == Policy.PATCH and isinstance(source, NodeFacts):
        patcher = _patcher(args, source, target, config)
    report, assessments = run_check(source, target, ctids, policy_config, patcher=patcher)

    if args.source and not args.no_baseline and not args.dry_run and isinstance(source, NodeFacts):
        try:
            written = record_baselines(args.state_dir, source, [a.container for a in assessments])
            log.info("recorded %d port baseline(s) in %s", len(written), args.state_dir)
        except StateError as exc:
            log.warning("baseline not recorded: %s (the report still lists the ports)", exc)
    return render(report, args)


STALE_AFTER = timedelta(days=1)


def _saved(path: Path) -> NodeFacts:
    """Facts from a file; old facts are used, but the operator hears how old."""
    facts = load_facts(path)
    try:
        collected = datetime.fromisoformat(facts.collected_at)
    except ValueError:
        log.warning("%s: collected_at %r is not an ISO 8601 time; cannot tell how old these "
                    "facts are", path, facts.collected_at)
        return facts
    if collected.tzinfo is None:
        log.warning("%s: collected_at %r has no time zone; cannot tell how old these facts are",
                    path, facts.collected_at)
        return facts
    age = datetime.now(timezone.utc) - collected
    if age > STALE_AFTER:
        log.warning("%s: facts of %s collected %s ago; the node may have changed since",
                    path, facts.host, str(age).split(".")[0])
    return facts


def _patcher(args: argparse.Namespace, source: NodeFacts, target, config) -> Patcher:
    """Patch on the source over a connection of its own, one container at a time."""
    journal = Journal(args.state_dir)
    target_cpus = target.cpus if isinstance(target, NodeFacts) and isinstance(target.cpus, int) \
        else None

    judged_on = target if isinstance(target, NodeFacts) else multicore_2632(target_cpus or 2)

    def patch(container: Container) -> tuple[PatchSummary, Container | None]:
        settings = config.patch_settings(container.ctid, patch_flags(args))
        vet = file_vetter(source, judged_on, container, force=False)  # values that fix it only
        log.info("patching CT %s on %s ...", container.ctid, source.host)
        outcome, summary, _ = act_on(args.source, args, lambda t: patch_container(
            t, container.ctid, settings.validated(target_cpus), journal,
            vzctl_version=source.vzctl_version, dry_run=args.dry_run, lock_wait=args.lock_wait,
            vet=vet))
        if outcome is None or outcome.status == "planned":
            return summary, None
        new_conf = parse_ctid_conf(outcome.final.decode("utf-8", "replace"), container.ctid)
        return summary, replace(container, conf=new_conf)

    return patch


def command_facts(args: argparse.Namespace) -> int:
    mode = Mode.NODE if args.node_only else Mode.FULL
    result = gather({args.host: collector(args.host, mode, (), args)})[args.host]
    if isinstance(result, NodeFailure):
        raise Unassessable(result.reason)
    emit(json.dumps(facts_document(result), indent=2) + "\n", args.output)
    if result.errors or isinstance(result.containers, Unknown):
        for error in result.errors:
            log.warning("%s: %s", args.host, error)
        return ExitCode.UNKNOWN
    return ExitCode.GO
