"""Option groups shared by the subcommands, and the small helpers every command uses."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

from havengate.act import failed, summarise
from havengate.act.patch import DEFAULT_LOCK_WAIT, Outcome
from havengate.decide import ExitCode
from havengate.errors import HavengateError, UsageError
from havengate.facts.collect import PROBE_TIMEOUT, collect_node
from havengate.facts.model import NodeFacts
from havengate.facts.probe import DEFAULT_STEP_TIMEOUT
from havengate.report import FORMATTERS
from havengate.report.model import PatchSummary
from havengate.state import DEFAULT_STATE_DIR
from havengate.transport import SshOptions, Transport, open_transport

log = logging.getLogger("havengate")


class Unassessable(HavengateError):
    exit_code = 3


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a number greater than 0")
    return value


def ssh_group(probe_timeout: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("SSH")
    group.add_argument("--ssh-config", type=Path, metavar="FILE",
                       help="OpenSSH client config (default: ~/.ssh/config if it exists)")
    group.add_argument("--known-hosts", type=Path, metavar="FILE",
                       help="known_hosts file (default: the config's UserKnownHostsFile, "
                            "else ~/.ssh/known_hosts)")
    group.add_argument("--accept-new-host-keys", action="store_true",
                       help="trust and record the key of a host not yet in known_hosts "
                            "(a changed key is still refused)")
    group.add_argument("--connect-timeout", type=positive_float, default=10.0, metavar="SECONDS",
                       help="SSH connect/auth timeout (default: 10)")
    if probe_timeout:
        group.add_argument("--timeout", type=positive_float, default=PROBE_TIMEOUT,
                           metavar="SECONDS",
                           help=f"limit for a node's whole probe (default: {PROBE_TIMEOUT:g})")
    group.add_argument("--command-timeout", type=positive_int, default=DEFAULT_STEP_TIMEOUT,
                       metavar="SECONDS",
                       help="limit for each command on a node that may hang, such as "
                            f"vzctl exec2 into a container (default: {DEFAULT_STEP_TIMEOUT})")
    return parent


def output_group(with_format: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    if with_format:
        group.add_argument("--format", choices=sorted(FORMATTERS), default="text",
                           help="report format (default: text)")
    group.add_argument("-o", "--output", type=Path, metavar="FILE",
                       help="write the document to FILE instead of stdout")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parent


def state_group() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("state")
    group.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR",
                       help=f"baselines and the patch journal (default: {DEFAULT_STATE_DIR})")
    return parent


def patch_group() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("patch")
    group.add_argument("--strategy", choices=["cpumask", "cpus", "both"],
                       help="cpumask: pin to one CPU (default); cpus: let it see --cpus CPUs; "
                            "both: CPUS and CPUMASK")
    group.add_argument("--cpumask", metavar="MASK", help='CPUMASK to write (default: "0")')
    group.add_argument("--cpus", type=_cpus, metavar="N", help="CPUS to write (default: 2)")
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="JSON config (schemas/config.schema.json): patch defaults and "
                            "per-container overrides")
    group.add_argument("--dry-run", action="store_true",
                       help="print exactly the commands and edits; change nothing")
    group.add_argument("--lock-wait", type=positive_float, default=DEFAULT_LOCK_WAIT,
                       metavar="SECONDS",
                       help="wait this long for another havengate working on the same "
                            f"container, then exit 3 (default: {DEFAULT_LOCK_WAIT:g})")
    return parent


def _cpus(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: a container needs at least 1 CPU")
    return value


def patch_flags(args: argparse.Namespace) -> dict[str, object]:
    return {"strategy": args.strategy, "cpumask": args.cpumask, "cpus": args.cpus}


def ssh_options(args: argparse.Namespace) -> SshOptions:
    return SshOptions(
        ssh_config=args.ssh_config,
        known_hosts=args.known_hosts,
        accept_new_host_keys=args.accept_new_host_keys,
        connect_timeout=args.connect_timeout,
    )


def transport_for(host: str, args: argparse.Namespace) -> Transport:
    return open_transport(host, ssh_options(args))  # validates host and ssh config up front


def collector(host: str, mode: str, ctids: tuple[str, ...],
              args: argparse.Namespace) -> tuple[str, Callable[[], NodeFacts]]:
    transport = transport_for(host, args)

    def collect() -> NodeFacts:
        log.info("probing %s ...", host)
        try:
            return collect_node(transport, mode, ctids, timeout=args.timeout,
                                step_timeout=args.command_timeout)
        finally:
            transport.close()

    return host, collect


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


def act_on(host: str, args: argparse.Namespace,
           step: Callable[[Transport], Outcome]) -> tuple[Outcome | None, PatchSummary, bool]:
    """One act step (patch, revert) over a connection of its own. A failure becomes a line
    of the report: (outcome or None, summary, could-not-assess)."""
    transport = transport_for(host, args)
    try:
        outcome = step(transport)
    except HavengateError as exc:
        return None, failed(host, str(exc)), exc.exit_code == ExitCode.UNKNOWN
    finally:
        transport.close()
    return outcome, summarise(outcome), False
