"""Option groups shared by the subcommands, and the small helpers every command uses."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from havengate.act.patch import DEFAULT_LOCK_WAIT
from havengate.act.plan import MAX_CPUS
from havengate.api import Config, PatchPolicy
from havengate.api.config import ENVIRONMENT, SYSTEM_FILE, USER_FILE, find_config, load_config
from havengate.documents import STDIO
from havengate.errors import ReportNotWritten, UsageError
from havengate.facts.collect import PROBE_TIMEOUT
from havengate.facts.probe import DEFAULT_STEP_TIMEOUT
from havengate.model import Report
from havengate.report import FORMATTERS
from havengate.state import DEFAULT_STATE_DIR
from havengate.transport import LOCAL, NodeAccess, validate_host

log = logging.getLogger("havengate")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


MAX_SECONDS = 7 * 24 * 3600.0  # no wait of havengate's is meant to last longer than a week


def positive_float(text: str) -> float:
    """A number of seconds: more than 0, at most a week (1e300 would overflow a timer)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0 and at most "
                                         f"{MAX_SECONDS:g} (seconds: a week)")
    return value


def host_argument(text: str) -> str:
    """``local``, ``[user@]host[:port]`` or an ssh_config alias, checked as it is parsed."""
    if text == LOCAL:
        return text
    try:
        return validate_host(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


NODE_PAIR_FORMATS = tuple(sorted(FORMATTERS))  # prometheus: node -> peer readiness
ONE_NODE_FORMATS = tuple(f for f in NODE_PAIR_FORMATS if f != "prometheus")


def node_command(commands: argparse._SubParsersAction, name: str, *, help: str,
                 description: str, epilog: str | None = None, probe: bool = True,
                 patch: bool = False,
                 formats: tuple[str, ...] = NODE_PAIR_FORMATS) -> argparse.ArgumentParser:
    """A subcommand that reaches nodes: SSH options (with the probe's limits when it probes),
    output and state options, and the patch options when it can write a fix. ``formats``:
    the --format choices (the prometheus textfile speaks of node -> peer pairs only)."""
    parents = [ssh_group(probe), output_group(formats=formats), state_group(), config_group(),
               *([patch_group()] if patch else [])]
    return commands.add_parser(name, parents=parents, help=help, description=description,
                               epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def ssh_group(probe: bool = True) -> argparse.ArgumentParser:
    """SSH options; ``probe``: the command probes nodes, so it offers the probe's limits
    (a command that does not read an option does not offer it)."""
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
    if probe:
        group.add_argument("--timeout", type=positive_float, default=PROBE_TIMEOUT,
                           metavar="SECONDS",
                           help=f"limit for a node's whole probe (default: {PROBE_TIMEOUT:g})")
        group.add_argument("--command-timeout", type=positive_int, default=DEFAULT_STEP_TIMEOUT,
                           metavar="SECONDS",
                           help="limit for each command on a node that may hang, such as "
                                f"vzctl exec2 into a container (default: {DEFAULT_STEP_TIMEOUT})")
    return parent


def output_group(with_format: bool = True,
                 formats: tuple[str, ...] = NODE_PAIR_FORMATS) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    if with_format:
        group.add_argument("--format", choices=formats, default="text",
                           help="report format (default: text)")
    group.add_argument("-o", "--output", type=Path, metavar="FILE",
                       help="write the document to FILE instead of stdout (- is stdout)")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parent


def state_group() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("state")
    group.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR",
                       help=f"baselines and the patch journal (default: {DEFAULT_STATE_DIR})")
    return parent


def config_group() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("configuration")
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="YAML or JSON config (schemas/config.schema.json): option defaults, "
                            "per-container patch and verify settings, node access (default: "
                            f"${ENVIRONMENT}, else {USER_FILE}, else {SYSTEM_FILE}, if it exists)")
    group.add_argument("--no-config", action="store_true",
                       help="read no config file, not even the default ones")
    return parent


# config key -> option dest, where the key is not simply the option's name
_TIMEOUTS = {"probe-timeout": "probe", "verify-timeout": "deadline"}


def apply_config(parser: argparse.ArgumentParser, words: list[str],
                 args: argparse.Namespace) -> argparse.Namespace:
    """Load the config file the command uses, make its ``defaults`` the defaults of the
    command's options (a flag given still wins), and parse again; the loaded config rides
    on ``args.loaded_config``."""
    if "config" not in args:
        return args
    config = load_config(None if args.no_config else find_config(args.config))
    command = _subparser(parser, args.command)
    actions = {action.dest: action for action in command._actions}
    probe = "command_timeout" in actions  # its --timeout is the probe's, else a deadline
    defaults = {}
    for key, value in config.defaults.items():
        dest = key.replace("-", "_")
        if key in _TIMEOUTS:
            dest = "timeout" if (_TIMEOUTS[key] == "probe") == probe else ""
        if dest in actions:  # else a default for options this command does not have
            defaults[dest] = (key, value)
    if defaults:
        command.set_defaults(**{dest: value for dest, (_, value) in defaults.items()})
        args = parser.parse_args(words)
    for dest, (key, value) in defaults.items():  # argparse never checks a default
        choices = actions[dest].choices
        if choices is not None and getattr(args, dest) == value and value not in choices:
            raise UsageError(f"{config.source}: defaults.{key}: {value!r} is not one of "
                             f"{', '.join(map(str, choices))} for havengate {args.command} "
                             f"(give --{key} on the command line, or change the file)")
    args.loaded_config = config
    return args


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices[name]


def patch_group() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("patch")
    group.add_argument("--strategy", choices=["cpumask", "cpus", "both"],
                       help="cpumask: pin to one CPU (default); cpus: let it see --cpus CPUs; "
                            "both: CPUS and CPUMASK")
    group.add_argument("--cpumask", metavar="MASK", help='CPUMASK to write (default: "0")')
    group.add_argument("--cpus", type=cpu_count, metavar="N", help="CPUS to write (default: 2)")
    group.add_argument("--dry-run", action="store_true",
                       help="print exactly the commands and edits; change nothing")
    group.add_argument("--lock-wait", type=positive_float, default=DEFAULT_LOCK_WAIT,
                       metavar="SECONDS",
                       help="wait this long for another havengate working on the same "
                            f"container, then exit 3 (default: {DEFAULT_LOCK_WAIT:g})")
    return parent


def cpu_count(text: str) -> int:
    """A CPU count, with the bounds of the config schema (1-MAX_CPUS)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_CPUS:
        raise argparse.ArgumentTypeError(f"{value}: a container needs at least 1 CPU "
                                         f"(a CPU count is 1-{MAX_CPUS})")
    return value


def access(args: argparse.Namespace) -> NodeAccess:
    """How nodes are reached, from the SSH option group (and the probe limits if offered)."""
    probe = "command_timeout" in args  # verify's --timeout is its deadline, not the probe's
    config = loaded_config(args)  # a command without the probe's flags takes the file's
    return NodeAccess(
        ssh_config=args.ssh_config,
        known_hosts=args.known_hosts,
        accept_new_host_keys=args.accept_new_host_keys,
        connect_timeout=args.connect_timeout,
        probe_timeout=args.timeout if probe else config.defaults.get("probe-timeout",
                                                                     PROBE_TIMEOUT),
        command_timeout=args.command_timeout if probe else int(config.defaults.get(
            "command-timeout", DEFAULT_STEP_TIMEOUT)),  # 30.0 is an integer to the schema
        nodes=config.node_entries(),
    )


def loaded_config(args: argparse.Namespace) -> Config:
    """The config main() loaded for this command (built-in defaults when it reads none)."""
    return getattr(args, "loaded_config", None) or Config()


def patching(args: argparse.Namespace, config: Config, *, force: bool = False) -> PatchPolicy:
    """The fix to write, from the patch option group and the --config file."""
    return PatchPolicy(
        config=config,
        flags={"strategy": args.strategy, "cpumask": args.cpumask, "cpus": args.cpus},
        dry_run=getattr(args, "dry_run", False), lock_wait=getattr(args, "lock_wait",
                                                                   DEFAULT_LOCK_WAIT),
        force=force)


def check_output(output: Path | None) -> None:
    """Refuse an -o FILE that cannot be written before any node is touched."""
    if output is None or str(output) == STDIO:
        return
    try:
        if output.is_dir():
            raise UsageError(f"-o {output}: is a directory; nothing was done")
        if output.exists():
            writable = os.access(output, os.W_OK)
        else:
            parent = output.parent if str(output.parent) else Path(".")
            writable = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
    except OSError as exc:  # e.g. a directory on the way we may not search
        raise UsageError(f"-o {output}: {exc.strerror or exc}; nothing was done") from exc
    if not writable:
        raise UsageError(f"-o {output}: cannot be written (permissions, or no such directory); "
                         "nothing was done")


_STARTED = time.monotonic()  # the command's own clock, for the report's duration


def render(report: Report, args: argparse.Namespace) -> int:
    """The one way a command ends: its report (with how long it took) in the format asked,
    to stdout or -o FILE; returns the report's exit code."""
    report = replace(report, duration_seconds=round(time.monotonic() - _STARTED, 3))
    emit(FORMATTERS[args.format](report), args.output,
         verdict=f"{report.verdict} (exit {report.exit_code})")
    return report.exit_code


def emit(document: str, output: Path | None, *, verdict: str | None = None) -> None:
    """Exactly one document: to stdout, or to FILE (then nothing on stdout).

    A FILE that fails after all (disk full, say) never hides what was done: the document
    goes to stdout instead, and the error names the verdict it carries.
    """
    if output is None or str(output) == STDIO:
        sys.stdout.write(document)
        sys.stdout.flush()
        return
    try:
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        sys.stdout.write(document)
        sys.stdout.flush()
        said = f"the verdict was {verdict}; " if verdict else ""
        raise ReportNotWritten(f"cannot write {output}: {exc.strerror or exc}; {said}the report "
                               "went to stdout instead") from exc
