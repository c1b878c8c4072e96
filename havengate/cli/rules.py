"""``havengate rules`` and ``havengate explain``: the rules, their rationale and fixes."""

from __future__ import annotations

import argparse
import json

from havengate.api.rules import explain, rules
from havengate.cli.options import emit
from havengate.model import ExitCode


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "rules", help="list every rule (before and after the move)",
        description="List every rule havengate applies: pre-move (check) and post-move "
                    "(verify), with its severity.")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.set_defaults(handler=command_rules)
    one = commands.add_parser(
        "explain", help="a rule's rationale, the evidence it reads, and its fixes",
        description="Print one rule's documentation: why it exists, what it reads, how to "
                    "fix what it finds, an example.")
    one.add_argument("rule", metavar="RULE", help="a rule id, e.g. HG001 or HG101")
    one.set_defaults(handler=command_explain)
    hooks = commands.add_parser(
        "hooks", help="where the shipped hooks are (vzmigrate gate, runbook scripts)",
        description="Print the directory of the hooks shipped with havengate: vzmigrate (the "
                    "node-side gate, POSIX sh), pre-migrate and post-migrate (runbooks).")
    hooks.add_argument("--path", action="store_true", help="print the directory only")
    hooks.set_defaults(handler=command_hooks)


def command_rules(args: argparse.Namespace) -> int:
    docs = rules()
    if args.format == "json":
        emit(json.dumps([{"id": r.id, "title": r.title, "severity": r.severity.label,
                          "phase": r.phase.value, "doc": r.doc} for r in docs], indent=2)
             + "\n", None)
        return ExitCode.GO
    width = max(len(r.title) for r in docs)
    lines = [f"{'ID':<6} {'PHASE':<9} {'SEVERITY':<8} {'WHAT':<{width}}".rstrip()]
    lines += [f"{r.id:<6} {r.phase.value:<9} {r.severity.label:<8} {r.title}" for r in docs]
    emit("\n".join(lines) + "\n\n`havengate explain ID` says why, what it reads and how to fix "
         "it.\n", None)
    return ExitCode.GO


def command_explain(args: argparse.Namespace) -> int:
    rule = explain(args.rule)
    emit(f"{rule.id} ({rule.phase.value}, {rule.severity.label}): {rule.title}\n\n{rule.doc}\n",
         None)
    return ExitCode.GO


def command_hooks(args: argparse.Namespace) -> int:
    from importlib import resources

    where = resources.files("havengate").joinpath("hooks")
    if args.path:
        emit(f"{where}\n", None)
        return ExitCode.GO
    names = sorted(entry.name for entry in where.iterdir() if not entry.name.startswith("."))
    emit(f"{where}\n" + "".join(f"  {name}\n" for name in names), None)
    return ExitCode.GO
