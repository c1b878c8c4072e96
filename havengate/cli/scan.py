"""``havengate scan``: the whole HA fleet from the Ansible inventory, as a plan for the wave."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from havengate.cli.options import (
    access,
    loaded_config,
    log,
    node_command,
    output_group,
    patching,
    positive_int,
    render,
)
from havengate.errors import UsageError

EPILOG = """\
Every node of the inventory that has `havengate_peer: HOST` (its HA slave, in the
inventory too) or `havengate_target: {kernel: ..., cpus: N, vzctl: "4.0"}` (hardware not
installed yet) is a pair; each node is probed once, at most --forks at a time, each under
its own --timeout. A node down, slow, refusing our host key or printing junk makes its
pairs unknown; the scan always finishes. The plan says per pair which containers must be
patched first (with the line to run), which move as they are, which are blocked and why.

inventory: Ansible's INI or YAML inventory, or the JSON of `ansible-inventory --list`;
ansible_host, ansible_port and ansible_user say where to connect (keys and host keys
come from the ssh config and known_hosts, as for every command).

examples:
  havengate scan --inventory hosts.ini
  havengate scan --inventory hosts.yml --limit 'masters:!master07' --format prometheus \\
      -o /var/lib/node_exporter/textfile/havengate.prom
  havengate scan --inventory hosts.ini --apply --policy patch --yes
"""


def register(commands: argparse._SubParsersAction) -> None:
    from havengate.api.scan import DEFAULT_FORKS

    parser = node_command(
        commands, "scan", probe=True, patch=True, epilog=EPILOG,
        help="the whole fleet from the Ansible inventory: every pair judged, and the plan",
        description="Probe every node of the inventory once and judge each node's "
                    "containers against their peer (or planned hardware): the plan for "
                    "the upgrade wave.")
    parser.add_argument("--inventory", "-i", required=True, type=Path, metavar="FILE",
                        help="Ansible inventory: INI, YAML or `ansible-inventory --list` JSON")
    parser.add_argument("--limit", "-l", metavar="PATTERN",
                        help="Ansible host pattern: group, host, a:b, a:&b, a:!b, globs, ~regex")
    parser.add_argument("--forks", "-f", type=positive_int, default=DEFAULT_FORKS, metavar="N",
                        help=f"nodes probed at a time (default: {DEFAULT_FORKS})")
    parser.add_argument("--policy", choices=["block", "warn", "patch"], default="block",
                        help="as for check; patch with --apply writes the plan's fixes")
    parser.add_argument("--unrecognised-kernel", choices=["unknown", "warn"], default="unknown")
    parser.add_argument("--apply", action="store_true",
                        help="patch the containers the plan says to patch first (journaled; "
                             "needs --policy patch; asks on a terminal unless --yes)")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="with --apply: do not ask")
    parser.set_defaults(handler=command_scan)

    report = commands.add_parser(
        "report", help="work on saved reports: merge the scans of shards into one",
        description="Saved JSON reports (--format json -o FILE).")
    actions = report.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge", parents=[output_group()], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="one fleet report from the scans of several shards",
        description="One fleet report from scans of disjoint parts of the inventory (run "
                    "with --limit, say one per Ansible group): pairs side by side, totals, "
                    "verdict and exit code computed again. Overlapping shards are refused.",
        epilog="example:\n  havengate scan -i hosts.ini --limit dc1 --format json -o dc1.json\n"
               "  havengate scan -i hosts.ini --limit dc2 --format json -o dc2.json\n"
               "  havengate report merge dc1.json dc2.json --format prometheus -o fleet.prom")
    merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    merge.set_defaults(handler=command_merge)


def command_scan(args: argparse.Namespace) -> int:
    from havengate.api.scan import scan
    from havengate.decide import Policy, PolicyConfig, UnrecognisedKernel
    from havengate.inventory import load_inventory

    if args.apply and args.policy != "patch":
        raise UsageError("--apply writes the plan's fixes: add --policy patch")
    if args.apply and not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("--apply without a terminal to ask on: add --yes (nothing was done)")
    inventory = load_inventory(args.inventory)
    config = loaded_config(args)
    progress = _Progress(quiet=args.quiet)
    try:
        report = scan(
            inventory, limit=args.limit, forks=args.forks, access=access(args),
            policy=PolicyConfig(policy=Policy(args.policy),
                                unrecognised_kernel=UnrecognisedKernel(args.unrecognised_kernel)),
            patching=patching(args, config), apply=args.apply, state_dir=args.state_dir,
            finished=progress.node_done, confirm=_confirm if not args.yes else lambda _: True)
    finally:
        progress.end()
    return render(report, args)


class _Progress:
    """On a terminal, one live line (nodes done, failures so far); else a line per node.
    Always stderr: stdout holds the report alone."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.live = sys.stderr.isatty()
        self.done = self.failed = 0
        self.lock = threading.Lock()

    def node_done(self, name: str, result: object) -> None:
        from havengate.api.nodes import NodeFailure

        with self.lock:
            self.done += 1
            failed = isinstance(result, NodeFailure)
            self.failed += failed
            if self.quiet:
                return
            if self.live:
                sys.stderr.write(f"\rscanning: {self.done} node(s) done, {self.failed} "
                                 "not read so far")
                sys.stderr.flush()
            elif failed:
                log.warning("NOT READ: %s", result.reason if result.reason.startswith(name)
                            else f"{name}: {result.reason}")
            else:
                containers = getattr(result, "containers", ())
                count = len(containers) if isinstance(containers, tuple) else "?"
                log.info("%s: read (%s container(s))", name, count)

    def end(self) -> None:
        if self.live and self.done and not self.quiet:
            sys.stderr.write("\n")


def _confirm(commands: list[str]) -> bool:
    sys.stderr.write("havengate: the plan patches these containers first (journaled; "
                     "havengate revert undoes each):\n")
    sys.stderr.writelines(f"  {line}\n" for line in commands)
    sys.stderr.write(f"patch {len(commands)} container(s) now? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        log.warning("nothing patched (answer: %r)", answer)
        return False
    return True


def command_merge(args: argparse.Namespace) -> int:
    from havengate.api.scan import merge
    from havengate.report.json_format import read_report

    return render(merge([(str(path), read_report(path)) for path in args.reports]), args)
