"""``havengate verify``: after the move, did the Java ports really open? If not, why."""

from __future__ import annotations

import argparse
from pathlib import Path

from havengate.act.journal import Journal
from havengate.act.patch import Outcome as PatchOutcome
from havengate.act.patch import patch_container
from havengate.act.vet import file_vetter
from havengate.cli.options import (
    act_on,
    cpu_count,
    host_argument,
    log,
    output_group,
    patch_flags,
    positive_float,
    render,
    ssh_group,
    state_group,
    transport_for,
)
from havengate.config import load_config
from havengate.facts.ctconf import on_node, setting_text
from havengate.facts.model import Container, NodeFacts
from havengate.gate import build_report, named_node, node_summary
from havengate.quoting import shell_command, validate_ctid
from havengate.report.model import ContainerResult, PatchSummary, Port
from havengate.transport import Transport
from havengate.verify.evaluate import HANG_AFTER
from havengate.verify.expect import load_expectations
from havengate.verify.run import DEFAULT_DEADLINE, Outcome, Remediator, verify

EPILOG = """\
Expected ports come from the baseline `havengate check` recorded before the move
(STATE_DIR/baselines/CTID.json, or --baseline FILE) and from --config (tcp ports, http
checks). For each port: a JVM in the container listens on it (/proc/net/tcp and tcp6),
and the target node can connect to the container's address; then the HTTP checks.

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
    parser = commands.add_parser(
        "verify", parents=[ssh_group(probe=False), output_group(), state_group()],
        help="after the move: the ports opened again? if not, why (futex-hang diagnosis)",
        description="Check, on the target, that each container's listening ports (Java and "
                    "not) opened again, and say why when they did not.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ctids", nargs="*", metavar="CTID",
                        help="containers to verify (default: every baseline in STATE_DIR)")
    parser.add_argument("--target", required=True, type=host_argument, metavar="HOST",
                        help="the node the containers moved to")
    parser.add_argument("--baseline", type=Path, action="append", default=[], metavar="FILE",
                        help="a baseline document to use instead of STATE_DIR's (repeatable)")
    parser.add_argument("--from", dest="source_node", metavar="NODE",
                        help="the source the containers moved from (its uname -n), when "
                             "STATE_DIR holds baselines of the same CTID from several sources")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="JSON config: extra tcp ports and http checks per container")
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
    ctids = tuple(validate_ctid(ctid) for ctid in args.ctids)
    config = load_config(args.config)
    expectations = load_expectations(ctids, args.state_dir, tuple(args.baseline), config.verify,
                                     args.source_node)
    remediate = _remediator(args, config) if args.remediate else None
    transport = transport_for(args.target, args)
    try:
        log.info("verifying %s on %s (deadline %g s) ...",
                 ", ".join(e.ctid for e in expectations), args.target, args.timeout)
        run = verify(transport, expectations, deadline=args.timeout, hang_after=args.hang_after,
                     remediate=remediate, progress=log.info)
    finally:
        transport.close()

    results = [_result(outcome, run.node) for outcome in run.outcomes.values()]
    target = (node_summary(run.node) if run.node is not None
              else named_node(args.target, run.error))
    report = build_report("verify", "remediate" if args.remediate else "verify", results,
                          source=None, target=target, errors=[run.error] if run.error else [],
                          complete=run.node is not None and not run.stopped)
    return render(report, args)


def _result(outcome: Outcome, node: NodeFacts | None) -> ContainerResult:
    state, container = outcome.state, outcome.container
    cpus = cpumask = "?"
    if container is not None and node is not None:  # as vzctl applies them on the target
        conf = on_node(container.conf, node.vz_conf, container.ctid)
        cpus, cpumask = setting_text(conf, "CPUS"), setting_text(conf, "CPUMASK")
    findings = state.findings if state else ()
    return ContainerResult(
        ctid=outcome.expect.ctid,
        hostname=container.hostname if container else None,
        status=container.status if container else None,
        java=None, cpus_seen_now=None,
        cpus_seen_after=container.cpus_seen if container and isinstance(container.cpus_seen, int)
        else None,
        cpus=cpus, cpumask=cpumask,
        verdict=state.status if state else "unknown",
        findings=findings,
        fix=next((f.remediation for f in findings if f.remediation), None),
        java_ports=tuple(Port(family="tcp", address="*", port=p) for p in outcome.expect.ports),
        patch=outcome.remediation,
        checks=state.checks if state else (),
        duration_seconds=outcome.seconds,
    )


def _remediator(args: argparse.Namespace, config) -> Remediator:
    """Pin (journaled), SIGKILL the hung JVMs, restart the container: act/ does the writing."""
    journal = Journal(args.state_dir)
    journal.entries()  # a corrupt journal stops us before anything is touched

    def remediate(container: Container, node: NodeFacts, time_left: float) -> PatchSummary:
        ctid = container.ctid
        budget = time_left  # every step stays within the verify deadline
        # The fix must fit this node's CPUs and must fix the hang (HG001/HG002 on the
        # bytes about to be written), or nothing is killed or restarted.
        vet = file_vetter(node, node, container, force=False)
        node_cpus = node.cpus if isinstance(node.cpus, int) else None

        def step(transport: Transport) -> PatchOutcome:
            settings = config.patch_settings(ctid, patch_flags(args)).validated(node_cpus)
            outcome = patch_container(transport, ctid, settings, journal, vzctl_version=None,
                                      rule="HG101", lock_wait=min(30.0, budget / 3), vet=vet)
            pids = [str(p.pid) for p in container.java_processes] \
                if isinstance(container.java_processes, tuple) else []
            if pids:
                transport.run(shell_command("vzctl", "exec2", ctid, "kill -9 " + " ".join(pids)),
                              timeout=min(30.0, budget / 3))
            restarted = transport.run(shell_command("vzctl", "restart", ctid), timeout=budget)
            outcome.notes.append(f"killed JVM pid(s) {', '.join(pids) or 'none'} with SIGKILL; "
                                 f"vzctl restart exited {restarted.exited}")
            return outcome

        return act_on(args.target, args, step)[1]

    return remediate
