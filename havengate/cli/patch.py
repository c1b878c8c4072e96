"""``havengate patch``, ``havengate revert`` and ``havengate journal``."""

from __future__ import annotations

import argparse
import json

from havengate import api
from havengate.act.patch import DEFAULT_LOCK_WAIT
from havengate.cli.options import (
    ONE_NODE_FORMATS,
    access,
    config_group,
    cpu_count,
    emit,
    host_argument,
    loaded_config,
    node_command,
    patching,
    positive_float,
    render,
    state_group,
)
from havengate.model import ExitCode

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
    patch = node_command(
        commands, "patch", patch=True, epilog=PATCH_EPILOG, formats=ONE_NODE_FORMATS,
        help="apply the fix (CPUMASK / CPUS) to containers' CTID.conf, journaled",
        description="Fix containers HG001 would block, on one node.")
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

    revert = node_command(
        commands, "revert", probe=False, formats=ONE_NODE_FORMATS,
        help="restore the exact CTID.conf bytes from before the last patch",
        description="Undo the last journaled patch of each container on HOST, byte for byte. "
                    "Refused when the file changed since the patch, unless --force.")
    revert.add_argument("ctids", nargs="+", metavar="CTID")
    revert.add_argument("--host", required=True, type=host_argument, metavar="HOST")
    revert.add_argument("--force", action="store_true",
                        help="restore the old bytes even if the file changed since the patch")
    revert.add_argument("--dry-run", action="store_true", help="show the edit; change nothing")
    revert.add_argument("--lock-wait", type=positive_float, default=DEFAULT_LOCK_WAIT,
                        metavar="SECONDS", help="wait this long for the container's lock")
    revert.set_defaults(handler=command_revert)

    journal = commands.add_parser(
        "journal", parents=[state_group(), config_group()], help="list journaled patches",
        description="List the patches in STATE_DIR/journal.jsonl, oldest first.",
    )
    journal.add_argument("--format", choices=["text", "json"], default="text")
    journal.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    journal.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    journal.set_defaults(handler=command_journal)


def command_patch(args: argparse.Namespace) -> int:
    report = api.patch(tuple(args.ctids), args.host, access=access(args),
                       patching=patching(args, loaded_config(args), force=args.force),
                       target=args.target, target_cpus=args.target_cpus,
                       where_target=args.where == "target", state_dir=args.state_dir)
    return render(report, args)


def command_revert(args: argparse.Namespace) -> int:
    report = api.revert(tuple(args.ctids), args.host, access=access(args),
                        state_dir=args.state_dir, force=args.force, dry_run=args.dry_run,
                        lock_wait=args.lock_wait)
    return render(report, args)


def command_journal(args: argparse.Namespace) -> int:
    entries = api.journal(args.state_dir)
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
