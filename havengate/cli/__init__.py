"""The command line: parse, call the library, render, exit. Nothing else here.

Exit codes (every command): 0 go, 1 no-go, 2 usage or configuration error,
3 could not assess (node unreachable, probe failed) and nothing was blocked.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from havengate import __version__
from havengate.api import close_all
from havengate.api.results import build_report
from havengate.cli import check, migrate, patch, rules, scan, verify
from havengate.cli.options import apply_config, check_output, emit, log
from havengate.documents import STDIO
from havengate.errors import HavengateError, ReportNotWritten
from havengate.model import ExitCode, Verdict
from havengate.report import FORMATTERS

DESCRIPTION = """\
Pre/post-migration gate for OpenVZ container moves.

A threaded JVM in a container that sees one CPU (CPUS=1) on a multi-core 2.6.32 OpenVZ
node can hang forever in futex waits: alive, no ports open, only kill -9 stops it. On
2.6.24 the same container saw every host CPU and ran fine. havengate checks each
container before the move and says go, no-go or unknown, with the fix; it can apply the
fix (journaled, revertible).

exit codes: 0 go | 1 no-go | 2 usage/config error | 3 could not assess
"""


COMMANDS = ("check", "facts", "patch", "revert", "journal", "verify", "migrate", "scan",
            "report", "rules", "explain", "hooks")


class _Parser(argparse.ArgumentParser):
    """argparse, with a refused command line said in one line (the usage block it prints
    by default buries the reason at 3 a.m.); --help still shows everything."""

    def error(self, message: str):
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message} "
                                       f"(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="havengate", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"havengate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check.register(commands)
    patch.register(commands)
    verify.register(commands)
    migrate.register(commands)
    scan.register(commands)
    rules.register(commands)
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("havengate: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if not verbose:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def _usage_report(words: list[str], message: str) -> None:
    """A refused command still leaves a document where CI looks for one (-o FILE, or
    --format json|junit on stdout): verdict usage-error, exit code 2, the reason."""
    output = _option(words, "-o", "--output")
    fmt = _option(words, "--format")
    if output is None and fmt not in ("json", "junit"):
        return
    command = next((w for w in words if w in COMMANDS), "havengate")
    policy = _option(words, "--policy")
    if policy not in ("block", "warn", "patch"):
        policy = {"patch": "patch", "revert": "patch", "verify": "verify"}.get(command, "block")
    report = build_report(command, policy, [], source=None, target=None, errors=[message])
    report = replace(report, verdict=Verdict.USAGE_ERROR.value, exit_code=int(ExitCode.USAGE))
    renderer = FORMATTERS.get(fmt or "text", FORMATTERS["json"])
    with contextlib.suppress(HavengateError, OSError):
        emit(renderer(report), None if output in (None, STDIO) else Path(output))


def _option(words: list[str], *names: str) -> str | None:
    """The value of the last of ``names`` in ``words`` (``--x V`` or ``--x=V``)."""
    value = None
    for index, word in enumerate(words):
        for name in names:
            if word == name and index + 1 < len(words):
                value = words[index + 1]
            elif word.startswith(f"{name}="):
                value = word.partition("=")[2]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    # An argument or a file name that is not UTF-8 (a lone surrogate) must still print in an
    # error message; Python's own stderr does this, a stream it was handed may not.
    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.reconfigure(errors="backslashreplace")
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if words[:1] == ["migrate"] and "--" in words:  # what follows -- is vzmigrate's own
        extra = words[words.index("--") + 1:]
        words = words[:words.index("--")]
    try:
        if words and words[0].startswith("-") and words[0] not in ("-h", "--help", "--version"):
            parser.error(f"unrecognized arguments: {words[0]}: the COMMAND comes first")
        args = parser.parse_args(words)
        if extra:
            args.extra = tuple(extra)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help/--version exit 0
        if exc.code == ExitCode.USAGE:
            _usage_report(words, "the command line was refused (see the message above)")
        return int(exc.code or 0)
    _configure_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
    try:
        args = apply_config(parser, words, args)
        if extra:
            args.extra = tuple(extra)
        check_output(getattr(args, "output", None))
        return int(args.handler(args))
    except HavengateError as exc:
        print(f"havengate: error: {exc}", file=sys.stderr)
        if exc.exit_code == ExitCode.USAGE and not isinstance(exc, ReportNotWritten):
            _usage_report(words, str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        close_all()
        print("havengate: interrupted; nothing more was done (a patch already journaled stays "
              "as the journal says: havengate journal)", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug must still end in one line and "could not assess"
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"havengate: internal error: {type(exc).__name__}: {exc} (rerun with -v)",
              file=sys.stderr)
        return int(ExitCode.UNKNOWN)
