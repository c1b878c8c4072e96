"""``havengate patch``, ``havengate revert`` and ``havengate journal``."""

from __future__ import annotations

import argparse
import json

from havengate.act.journal import Journal
from havengate.act.patch import DEFAULT_LOCK_WAIT, patch_container, revert_container
from havengate.act.vet import file_vetter, multicore_2632, refuse_unsafe
from havengate.cli.options import (
    Unassessable,
    act_on,
    collector,
    cpu_count,
    emit,
    host_argument,
    log,
    output_group,
    patch_flags,
    patch_group,
    positive_float,
    render,
    ssh_group,
    state_group,
)
from havengate.config import load_config
from havengate.decide import ExitCode
from havengate.errors import UsageError
from havengate.facts.model import NodeFacts
from havengate.facts.probe import Mode
from havengate.gate import NodeFailure, build_report, gather, named_node, node_summary
from havengate.quoting import validate_ctid
from havengate.report.model import ContainerResult, NodeSummary, PatchSummary

PATCH_EPILOG = """\
The fix goes into the CTID.conf that travels with the container: run it on the source
before the move (vzmigrate copies the file verbatim), or on the target after it.
`vzctl set CTID ... --save` is used where the node's vzctl has the option (--cpumask
needs vzctl >= 3.0.26); otherwise the file is rewritten exactly as vzctl writes it
(first KEY= line replaced or the key appended, KEY="value"), atomically. Either way
the file is read back: vzctl can exit 0 without saving anything.

Every patch is journaled in STATE_DIR/journal.jsonl with the file's exact old bytes
before anything is written; `havengate revert` restores them.

examples:
  havengate patch 101 --host master --target slave1 --dry-run
  havengate patch 101 102 --host master --target slave1
  havengate patch 101 --host slave1 --strategy both          # after the move
  havengate revert 101 --host master
"""


def register(commands: argparse._SubParsersAction) -> None:
    patch = commands.add_parser(
        "patch", parents=[ssh_group(), output_group(), state_group(), patch_group()],
        help="apply the fix (CPUMASK / CPUS) to containers' CTID.conf, journaled",
        description="Fix containers HG001 would block, on one node.",
        epilog=PATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    patch.add_argument("ctids", nargs="+", metavar="CTID")
    patch.add_argument("--host", required=True, type=host_argument, metavar="HOST",
                       help="node whose CTID.conf is patched (the source before the move)")
    patch.add_argument("--where", choices=["source", "target"], default="source",
                       help="source: patch --host before the move (default; the file travels); "
                            "target: patch --target after the move, with vzctl set ... --save "
                            "there")
    target = patch.add_mutually_exclusive_group()
    target.add_argument("--target", type=host_argument, metavar="HOST",
                        help="node the container moves to: the mask is checked against its CPUs")
    target.add_argument("--target-cpus", type=cpu_count, metavar="N",
                        help="the target's CPU count, when it cannot be asked")
    patch.add_argument("--force", action="store_true",
                       help="write values the rules say leave the container at risk "
                            "(e.g. --cpumask 0-3, --cpus 1); refused without it")
    patch.set_defaults(handler=command_patch)

    revert = commands.add_parser(
        "revert", parents=[ssh_group(probe=False), output_group(), state_group()],
        help="restore the exact CTID.conf bytes from before the last patch",
        description="Undo the last journaled patch of each container on HOST, byte for byte. "
                    "Refused when the file changed since the patch, unless --force.",
    )
    revert.add_argument("ctids", nargs="+", metavar="CTID")
    revert.add_argument("--host", required=True, type=host_argument, metavar="HOST")
    revert.add_argument("--force", action="store_true",
                        help="restore the old bytes even if the file changed since the patch")
    revert.add_argument("--dry-run", action="store_true", help="show the edit; change nothing")
    revert.add_argument("--lock-wait", type=positive_float, default=DEFAULT_LOCK_WAIT,
                        metavar="SECONDS", help="wait this long for the container's lock")
    revert.set_defaults(handler=command_revert)

    journal = commands.add_parser(
        "journal", parents=[state_group()], help="list journaled patches",
        description="List the patches in STATE_DIR/journal.jsonl, oldest first.",
    )
    journal.add_argument("--format", choices=["text", "json"], default="text")
    journal.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    journal.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    journal.set_defaults(handler=command_journal)


def command_patch(args: argparse.Namespace) -> int:
    ctids = tuple(validate_ctid(ctid) for ctid in args.ctids)
    config = load_config(args.config)
    journal = Journal(args.state_dir)
    journal.entries()  # a corrupt or newer journal stops us before any node is touched
    if args.where == "target" and not args.target:
        raise UsageError("--where target patches the node named by --target: give --target HOST")
    patched = args.target if args.where == "target" else args.host
    jobs = {"host": collector(patched, Mode.NODE, ctids, args)}
    if args.target and args.target != patched:
        jobs["target"] = collector(args.target, Mode.NODE, (), args)
    gathered = gather(jobs)
    host = gathered["host"]
    if isinstance(host, NodeFailure):
        raise Unassessable(host.reason)
    target_cpus = args.target_cpus
    target = None
    if args.target:
        target = gathered.get("target", host)
        if isinstance(target, NodeFailure) or not isinstance(target.cpus, int):
            raise Unassessable(f"cannot check the mask against the target: "
                               f"{target.reason if isinstance(target, NodeFailure) else 'CPUs unknown'}")
        target_cpus = target.cpus
    if target_cpus is None:
        log.warning("no --target: the mask is checked against %s's own CPUs", patched)
        target_cpus = host.cpus if isinstance(host.cpus, int) else None
    _refuse_absent(host, ctids)
    # Every container's settings are checked before the first one is touched: the values
    # must be writable, and must leave the container out of HG001/HG002's reach.
    settings = {ctid: config.patch_settings(ctid, patch_flags(args)).validated(target_cpus)
                for ctid in ctids}
    judged_on = target or multicore_2632(target_cpus or 2)
    for warning in refuse_unsafe(host, judged_on, settings, force=args.force):
        log.warning("--force: %s", warning)

    results = []
    for ctid in ctids:
        vet = file_vetter(host, judged_on, host.container(ctid), force=args.force)
        _, summary, unassessed = act_on(patched, args, lambda t, ctid=ctid, vet=vet: patch_container(
            t, ctid, settings[ctid], journal, vzctl_version=host.vzctl_version,
            dry_run=args.dry_run, lock_wait=args.lock_wait, vet=vet))
        results.append(_result(ctid, summary, host, unassessed=unassessed))
    return _render("patch", node_summary(host), results, args)


def command_revert(args: argparse.Namespace) -> int:
    ctids = tuple(validate_ctid(ctid) for ctid in args.ctids)
    journal = Journal(args.state_dir)
    journal.entries()
    results = []
    for ctid in ctids:
        _, summary, unassessed = act_on(args.host, args, lambda t, ctid=ctid: revert_container(
            t, ctid, journal, force=args.force, dry_run=args.dry_run, lock_wait=args.lock_wait))
        results.append(_result(ctid, summary, unassessed=unassessed))
    return _render("revert", named_node(args.host), results, args)


def _refuse_absent(host: NodeFacts, ctids: tuple[str, ...]) -> None:
    present = {c.ctid for c in host.containers} if isinstance(host.containers, tuple) else None
    if present is None:
        raise Unassessable(f"{host.host}: containers unknown: {'; '.join(host.errors)}")
    absent = [ctid for ctid in ctids if ctid not in present]
    if absent:
        raise UsageError(f"CT {', '.join(absent)} not found on {host.host}")


_VERDICTS = {"patched": "patched", "already": "go", "reverted": "go",
             "planned": "no-go",  # --dry-run: nothing changed, the container is still at risk
             "failed": "no-go"}


def _result(ctid: str, summary: PatchSummary, host: NodeFacts | None = None, *,
            unassessed: bool = False) -> ContainerResult:
    container = host.container(ctid) if host else None
    verdict = "unknown" if unassessed else _VERDICTS[summary.status]  # e.g. lock busy: exit 3
    if host is None and summary.status == "planned":
        verdict = "go"  # a revert's dry run: nothing is at risk
    return ContainerResult(
        ctid=ctid, hostname=container.hostname if container else None,
        status=container.status if container else None, java=None, cpus_seen_now=None,
        cpus_seen_after=None, cpus="-", cpumask="-", verdict=verdict,
        findings=(), fix=None, java_ports=(), patch=summary,
    )


def _render(command: str, node: NodeSummary, results: list[ContainerResult],
            args: argparse.Namespace) -> int:
    report = build_report(command, "patch", results, source=node, target=None, errors=[
        note for r in results if r.patch and r.patch.status == "failed" for note in r.patch.notes])
    return render(report, args)


def command_journal(args: argparse.Namespace) -> int:
    entries = Journal(args.state_dir).entries()
    if args.format == "json":
        emit(json.dumps([{
            "id": e.id, "node": e.node, "ctid": e.ctid, "state": e.state, "method": e.method,
            "strategy": e.strategy, "rule": e.rule, "changes": e.changes,
            "started_at": e.started_at, "updated_at": e.updated_at, "notes": e.notes,
        } for e in entries], indent=2) + "\n", None)
        return int(ExitCode.GO)
    if not entries:
        emit(f"no patches journaled in {args.state_dir}\n", None)
        return int(ExitCode.GO)
    rows = [("ID", "NODE", "CT", "STATE", "METHOD", "CHANGE")]
    for e in entries:
        change = ", ".join(f"{c['key']} {c['before'] or '(unset)'} -> {c['after']}"
                           for c in e.changes)
        rows.append((e.id, e.node, e.ctid, e.state, e.method, change))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    text = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
    emit(text + "\n", None)
    return int(ExitCode.GO)
