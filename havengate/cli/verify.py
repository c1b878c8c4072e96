"""``havengate verify``: after the move, did the Java ports really open? If not, why."""

from __future__ import annotations

import argparse
from pathlib import Path

from havengate import api
from havengate.api import VerifySettings
from havengate.cli.options import (
    ONE_NODE_FORMATS,
    access,
    cpu_count,
    host_argument,
    loaded_config,
    node_command,
    patching,
    positive_float,
    render,
)
from havengate.verify.evaluate import HANG_AFTER
from havengate.verify.run import DEFAULT_DEADLINE

EPILOG = """\
Expected ports come from the baseline `havengate check` recorded before the move
(STATE_DIR/baselines/NODE/CTID.json, NODE the source's own name; or --baseline FILE) and
from --config (tcp ports, http checks). For each TCP port the container listened on,
Java or not: something listens on it again (/proc/net/tcp and tcp6), and the target
node can connect to the container's address; then the HTTP checks.

When a port has not opened, verify says why: the futex hang of one-CPU JVMs on 2.6.32
(JVM alive, threads waiting in futex, no port: reported as soon as it is clear), a JVM
that exited, one listening elsewhere or on loopback only, a node that cannot connect,
a wrong HTTP answer.

examples:
  havengate verify --target slave1
  havengate verify 101 --target slave1 --timeout 300 --format json
  havengate verify 101 --target slave1 --remediate     # pin, kill -9 the hung JVM, restart
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = node_command(
        commands, "verify", probe=False, epilog=EPILOG, formats=ONE_NODE_FORMATS,
        help="after the move: the ports opened again? if not, why (futex-hang diagnosis)",
        description="Check, on the target, that each container's listening ports (Java and "
                    "not) opened again, and say why when they did not.")
    parser.add_argument("ctids", nargs="*", metavar="CTID",
                        help="containers to verify (default: every baseline in STATE_DIR)")
    parser.add_argument("--target", required=True, type=host_argument, metavar="HOST",
                        help="the node the containers moved to")
    parser.add_argument("--baseline", type=Path, action="append", default=[], metavar="FILE",
                        help="a baseline document to use instead of STATE_DIR's (repeatable)")
    parser.add_argument("--from", dest="source_node", metavar="NODE",
                        help="the source the containers moved from (its uname -n), when "
                             "STATE_DIR holds baselines of the same CTID from several sources")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_DEADLINE,
                        metavar="SECONDS",
                        help=f"one deadline for everything (default: {DEFAULT_DEADLINE:g})")
    parser.add_argument("--hang-after", type=positive_float, default=HANG_AFTER,
                        metavar="SECONDS",
                        help="a JVM alive this long without a port may be hung "
                             f"(default: {HANG_AFTER:g})")
    parser.add_argument("--remediate", action="store_true",
                        help="on a suspected futex hang: pin the container (journaled patch), "
                             "kill -9 the JVM, vzctl restart, and verify again")
    parser.add_argument("--strategy", choices=["cpumask", "cpus", "both"],
                        help="the fix --remediate writes (default: cpumask)")
    parser.add_argument("--cpumask", metavar="MASK", help='with --remediate (default: "0")')
    parser.add_argument("--cpus", type=cpu_count, metavar="N", help="with --remediate (default: 2)")
    parser.set_defaults(handler=command_verify)


def command_verify(args: argparse.Namespace) -> int:
    config = loaded_config(args)
    settings = VerifySettings(timeout=args.timeout, hang_after=args.hang_after,
                              remediate=args.remediate, baselines=tuple(args.baseline),
                              source_node=args.source_node)
    report = api.verify(tuple(args.ctids), args.target, access=access(args), settings=settings,
                        patching=patching(args, config), config=config,
                        state_dir=args.state_dir)
    return render(report, args)
