"""``havengate migrate``: the whole move from the control host -- gate, vzmigrate, verify."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from havengate.cli.options import (
    access,
    host_argument,
    loaded_config,
    log,
    node_command,
    patching,
    positive_float,
    render,
)

EPILOG = """\
For each container, in the order given: the gate (one probe of each node for all of
them; with --policy patch the fix is written on the source, journaled), then
`vzmigrate [--online] [EXTRA...] DEST CTID` run on the source over SSH (its output on
stderr, `CT 101 vzmigrate: ...`), then verify on the target from the baseline this run
recorded, under one deadline per container (--timeout). A no-go or unknown container is
never moved; the wave stops at the first container that fails to move or to verify
(--keep-going goes on). Run the same command again: what moved and verified is skipped.
Ctrl-C stops the wave after the current container (a vzmigrate running on the node is
never cut); a second Ctrl-C stops at once, and the report names the container mid-move.
Exit 130 then, unless every container was moved and verified all the same.

examples:
  havengate migrate 101 102 104 --source master --target slave --policy patch
  havengate migrate 101 --source master --target slave --vzmigrate-dest 10.0.0.2 -- -r no
"""


def register(commands: argparse._SubParsersAction) -> None:
    from havengate.verify.evaluate import HANG_AFTER
    from havengate.verify.run import DEFAULT_DEADLINE

    parser = node_command(
        commands, "migrate", probe=False, patch=True, epilog=EPILOG,
        help="the whole move: gate, vzmigrate on the source, verify on the target",
        description="Move containers from SOURCE to TARGET: the gate, vzmigrate, the check "
                    "that their ports opened again; one report for the wave.")
    parser.add_argument("ctids", nargs="+", metavar="CTID")
    parser.add_argument("--source", required=True, type=host_argument, metavar="HOST")
    parser.add_argument("--target", required=True, type=host_argument, metavar="HOST")
    parser.add_argument("--vzmigrate-dest", type=host_argument, metavar="ADDR",
                        help="the destination as vzmigrate on the source reaches it "
                             "(default: --target as given)")
    parser.add_argument("--online", action="store_true", help="vzmigrate --online")
    parser.add_argument("--policy", choices=["block", "patch"], default="block",
                        help="block: a no-go container is not moved (default); patch: fix "
                             "what HG001 blocks on the source first, journaled")
    parser.add_argument("--unrecognised-kernel", choices=["unknown", "warn"], default="unknown")
    parser.add_argument("--remediate", action="store_true",
                        help="a container whose JVM hangs after the move is pinned, its JVM "
                             "killed, the container restarted, and verified again")
    parser.add_argument("--keep-going", action="store_true",
                        help="go on with the next container after one fails")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_DEADLINE,
                        metavar="SECONDS",
                        help=f"verify deadline per container (default: {DEFAULT_DEADLINE:g})")
    parser.add_argument("--hang-after", type=positive_float, default=HANG_AFTER,
                        metavar="SECONDS", help=f"(default: {HANG_AFTER:g})")
    parser.set_defaults(handler=command_migrate, extra=())


def command_migrate(args: argparse.Namespace) -> int:
    from havengate import api
    from havengate.decide import Policy, PolicyConfig, UnrecognisedKernel

    config = loaded_config(args)
    stop = threading.Event()
    with _two_stage_interrupt(stop):
        report = api.migrate(
            tuple(args.ctids), args.source, args.target, access=access(args),
            policy=PolicyConfig(policy=Policy(args.policy),
                                unrecognised_kernel=UnrecognisedKernel(args.unrecognised_kernel)),
            patching=patching(args, config), config=config,
            settings=api.VerifySettings(timeout=args.timeout, hang_after=args.hang_after,
                                        remediate=args.remediate),
            destination=args.vzmigrate_dest or config.vzmigrate_dest(args.target),
            online=args.online, extra=tuple(args.extra), keep_going=args.keep_going,
            state_dir=Path(args.state_dir), stop=stop)
    code = render(report, args)
    # the operator's Ctrl-C is what the exit code says, whatever the report's verdict
    return INTERRUPTED if report.interrupted or (stop.is_set() and code) else code


INTERRUPTED = 128 + signal.SIGINT


@contextlib.contextmanager
def _two_stage_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: the wave stops after the current container (a vzmigrate running on
    the node is never cut); the second: at once (KeyboardInterrupt), the report still
    written and naming the container that was mid-move."""

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third must not lose the report
            raise KeyboardInterrupt
        stop.set()
        log.warning("Ctrl-C: the wave stops after the current container (a running vzmigrate "
                    "is never cut); press Ctrl-C again to stop at once")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
