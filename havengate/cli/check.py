"""``havengate check`` and ``havengate facts``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from havengate import api
from havengate.act.token import DEFAULT_TTL
from havengate.cli.options import (
    access,
    config_group,
    emit,
    host_argument,
    loaded_config,
    log,
    node_command,
    output_group,
    patching,
    render,
    ssh_group,
)
from havengate.decide import Policy, PolicyConfig, UnrecognisedKernel
from havengate.documents import STDIO
from havengate.errors import UsageError
from havengate.facts.document import facts_document
from havengate.model import ExitCode, Unknown

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
    check = node_command(
        commands, "check", patch=True, epilog=CHECK_EPILOG,
        help="pre-move gate: go / no-go / unknown per container",
        description="Decide, per container on the source, whether it may move to the target.")
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
    gate = check.add_argument_group("node-side vzmigrate gate (hooks/vzmigrate)")
    gate.add_argument("--go-ttl", type=int, default=DEFAULT_TTL, metavar="SECONDS",
                      help="a live check leaves a go token on the source for each container "
                           f"that may move, valid this long (default: {DEFAULT_TTL}; 0: none)")
    gate.add_argument("--vzmigrate-dest", type=host_argument, metavar="ADDR",
                      help="the destination as vzmigrate on the source will be given it "
                           "(default: --target's host)")
    check.set_defaults(handler=command_check)

    facts = commands.add_parser(
        "facts", parents=[ssh_group(), output_group(with_format=False), config_group()],
        help="collect a node's facts as JSON",
        description="Collect one node's facts (kernel, CPUs, vzctl, containers, JVMs, ports) "
                    "as a JSON document valid against schemas/facts.schema.json.",
    )
    facts.add_argument("host", type=host_argument, metavar="HOST")
    facts.add_argument("--node-only", action="store_true",
                       help="skip looking inside containers (what a target needs)")
    facts.set_defaults(handler=command_facts)


def command_check(args: argparse.Namespace) -> int:
    if args.go_ttl < 0:
        raise UsageError(f"--go-ttl {args.go_ttl}: a number of seconds, 0 for no go tokens")
    if str(args.source_facts) == str(args.target_facts) == STDIO:
        raise UsageError("--source-facts - and --target-facts -: standard input holds one "
                         "document; give the other as a file")
    source = args.source or api.saved_facts(args.source_facts)
    target = args.target or api.saved_facts(args.target_facts)
    policy = PolicyConfig(policy=Policy(args.policy),
                          unrecognised_kernel=UnrecognisedKernel(args.unrecognised_kernel))
    config = loaded_config(args)
    report = api.check(source, target, tuple(args.ctids), access=access(args), policy=policy,
                       patching=patching(args, config),
                       state_dir=args.state_dir, baselines=not args.no_baseline,
                       go_ttl=args.go_ttl or None,
                       go_dest=args.vzmigrate_dest or config.vzmigrate_dest(args.target or ""))
    return render(report, args)


def command_facts(args: argparse.Namespace) -> int:
    node = api.facts(args.host, access(args), node_only=args.node_only)
    emit(json.dumps(facts_document(node), indent=2) + "\n", args.output)
    if node.errors or isinstance(node.containers, Unknown):
        for error in node.errors:
            log.warning("%s: %s", args.host, error)
        return ExitCode.UNKNOWN
    return ExitCode.GO
