"""The command line: parse, call one library function, render, exit. Nothing else here.

Exit codes (every command): 0 go, 1 no-go, 2 usage or configuration error,
3 could not assess (node unreachable, probe failed) and nothing was blocked.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from havengate import __version__
from havengate.decide import ExitCode, Policy, PolicyConfig, UnrecognisedKernel
from havengate.errors import HavengateError, UsageError
from havengate.facts.collect import PROBE_TIMEOUT, collect_node
from havengate.facts.document import facts_document, load_facts
from havengate.facts.model import NodeFacts, Unknown
from havengate.facts.probe import DEFAULT_STEP_TIMEOUT, Mode
from havengate.gate import NodeFailure, gather, run_check
from havengate.quoting import validate_ctid
from havengate.report import FORMATTERS
from havengate.state import DEFAULT_STATE_DIR, StateError, record_baselines
from havengate.transport import SshOptions, open_transport

log = logging.getLogger("havengate")

DESCRIPTION = """\
Pre/post-migration gate for OpenVZ container moves.

A threaded JVM in a container that sees one CPU (CPUS=1) on a multi-core 2.6.32 OpenVZ
node can hang forever in futex waits: alive, no ports open, only kill -9 stops it. On
2.6.24 the same container saw every host CPU and ran fine. havengate checks each
container before the move and says go, no-go or unknown, with the fix.

exit codes: 0 go | 1 no-go | 2 usage/config error | 3 could not assess
"""

CHECK_EPILOG = """\
HOST is `local`, [user@]host[:port], or a Host alias of the OpenSSH client config.
Host keys are checked against known_hosts; unknown or changed keys are refused.

examples:
  havengate check --source local --target slave1            # vzmigrate pre hook
  havengate check 101 102 --source master --target slave1 --format json -o report.json
  havengate check --source-facts master.json --target-facts slave.json   # offline / CI
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="havengate", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"havengate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ssh = argparse.ArgumentParser(add_help=False)
    group = ssh.add_argument_group("SSH")
    group.add_argument("--ssh-config", type=Path, metavar="FILE",
                       help="OpenSSH client config (default: ~/.ssh/config if it exists)")
    group.add_argument("--known-hosts", type=Path, metavar="FILE",
                       help="known_hosts file (default: the config's UserKnownHostsFile, "
                            "else ~/.ssh/known_hosts)")
    group.add_argument("--accept-new-host-keys", action="store_true",
                       help="trust and record the key of a host not yet in known_hosts "
                            "(a changed key is still refused)")
    group.add_argument("--connect-timeout", type=_positive_float, default=10.0, metavar="SECONDS",
                       help="SSH connect/auth timeout (default: 10)")
    group.add_argument("--timeout", type=_positive_float, default=PROBE_TIMEOUT, metavar="SECONDS",
                       help=f"limit for a node's whole probe (default: {PROBE_TIMEOUT:g})")
    group.add_argument("--command-timeout", type=_positive_int, default=DEFAULT_STEP_TIMEOUT,
                       metavar="SECONDS",
                       help="limit for each command on a node that may hang, such as "
                            f"vzctl exec2 into a container (default: {DEFAULT_STEP_TIMEOUT})")

    report_format = argparse.ArgumentParser(add_help=False)
    report_format.add_argument("--format", choices=sorted(FORMATTERS), default="text",
                               help="report format (default: text)")
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    group.add_argument("-o", "--output", type=Path, metavar="FILE",
                       help="write the document to FILE instead of stdout")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    check = commands.add_parser(
        "check", parents=[ssh, common, report_format],
        help="pre-move gate: go / no-go / unknown per container",
        description="Decide, per container on the source, whether it may move to the target.",
        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("ctids", nargs="*", metavar="CTID",
                       help="containers to check (default: every container on the source)")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--source", metavar="HOST", help="node the containers move from")
    source.add_argument("--source-facts", type=Path, metavar="FILE",
                        help="saved facts of the source (havengate facts HOST -o FILE)")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--target", metavar="HOST", help="node the containers move to")
    target.add_argument("--target-facts", type=Path, metavar="FILE", help="saved facts of the target")
    policy = check.add_argument_group("policy")
    policy.add_argument("--policy", choices=[p.value for p in Policy], default=Policy.BLOCK.value,
                        help="block: an error stops the move (default); "
                             "warn: report errors as warnings, exit 0")
    policy.add_argument("--unrecognised-kernel", choices=[u.value for u in UnrecognisedKernel],
                        default=UnrecognisedKernel.UNKNOWN.value,
                        help="a target kernel havengate does not know makes at-risk containers "
                             "unknown (default) or only warns; it is never assumed safe")
    state = check.add_argument_group("state")
    state.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR",
                       help=f"where port baselines are recorded (default: {DEFAULT_STATE_DIR})")
    state.add_argument("--no-baseline", action="store_true",
                       help="do not record the Java ports baseline (live checks record it)")
    check.set_defaults(handler=command_check)

    facts = commands.add_parser(
        "facts", parents=[ssh, common], help="collect a node's facts as JSON",
        description="Collect one node's facts (kernel, CPUs, vzctl, containers, JVMs, ports) "
                    "as a JSON document valid against schemas/facts.schema.json.",
    )
    facts.add_argument("host", metavar="HOST")
    facts.add_argument("--node-only", action="store_true",
                       help="skip looking inside containers (what a target needs)")
    facts.set_defaults(handler=command_facts)
    return parser


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds >= 1")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _ssh_options(args: argparse.Namespace) -> SshOptions:
    return SshOptions(
        ssh_config=args.ssh_config,
        known_hosts=args.known_hosts,
        accept_new_host_keys=args.accept_new_host_keys,
        connect_timeout=args.connect_timeout,
    )


def _collector(host: str, mode: str, ctids: tuple[str, ...],
               args: argparse.Namespace) -> Callable[[], NodeFacts]:
    options = _ssh_options(args)
    transport = open_transport(host, options)  # validates host and ssh config up front

    def collect() -> NodeFacts:
        log.info("probing %s ...", host)
        try:
            return collect_node(transport, mode, ctids, timeout=args.timeout,
                                step_timeout=args.command_timeout)
        finally:
            transport.close()

    return collect


def command_check(args: argparse.Namespace) -> int:
    ctids = tuple(validate_ctid(ctid) for ctid in args.ctids)
    jobs = {}
    if args.source:
        jobs["source"] = _collector(args.source, Mode.FULL, ctids, args)
    if args.target:
        jobs["target"] = _collector(args.target, Mode.NODE, (), args)
    gathered = gather(jobs)
    source = gathered.get("source") or load_facts(args.source_facts)
    target = gathered.get("target") or load_facts(args.target_facts)
    config = PolicyConfig(policy=Policy(args.policy),
                          unrecognised_kernel=UnrecognisedKernel(args.unrecognised_kernel))
    report, assessments = run_check(source, target, ctids, config)

    if args.source and not args.no_baseline and isinstance(source, NodeFacts):
        try:
            written = record_baselines(args.state_dir, source.host,
                                       [a.container for a in assessments])
            log.info("recorded %d port baseline(s) in %s", len(written), args.state_dir)
        except StateError as exc:
            log.warning("baseline not recorded: %s (the report still lists the ports)", exc)
    emit(FORMATTERS[args.format](report), args.output)
    return report.exit_code


def command_facts(args: argparse.Namespace) -> int:
    mode = Mode.NODE if args.node_only else Mode.FULL
    result = gather({args.host: _collector(args.host, mode, (), args)})[args.host]
    if isinstance(result, NodeFailure):
        raise _Unassessable(result.reason)
    emit(json.dumps(facts_document(result), indent=2) + "\n", args.output)
    if result.errors or isinstance(result.containers, Unknown):
        for error in result.errors:
            log.warning("%s: %s", args.host, error)
        return ExitCode.UNKNOWN
    return ExitCode.GO


class _Unassessable(HavengateError):
    exit_code = ExitCode.UNKNOWN


def emit(document: str, output: Path | None) -> None:
    """Exactly one document: to stdout, or to FILE (then nothing on stdout)."""
    if output is None:
        sys.stdout.write(document)
        sys.stdout.flush()
        return
    try:
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("havengate: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if not verbose:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help/--version exit 0
        return int(exc.code or 0)
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args))
    except HavengateError as exc:
        print(f"havengate: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("havengate: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug must still end in one line and "could not assess"
        if args.verbose:
            traceback.print_exc()
        print(f"havengate: internal error: {type(exc).__name__}: {exc} (rerun with -v)",
              file=sys.stderr)
        return int(ExitCode.UNKNOWN)
