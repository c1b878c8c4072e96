"""After a called hang: pin the container (journaled patch), SIGKILL its JVMs (they ignore
SIGTERM), restart it. Every step is bounded by the time the verify deadline has left."""

from __future__ import annotations

from collections.abc import Callable

from havengate.act.journal import Journal
from havengate.act.patch import Outcome, patch_container
from havengate.act.plan import PatchSettings
from havengate.facts.model import Container
from havengate.quoting import shell_command
from havengate.transport.base import Transport

MAX_STEP = 30.0  # seconds for the patch's lock and the kill; the restart gets what is left


def remediate_hang(transport: Transport, container: Container, settings: PatchSettings,
                   journal: Journal, *, budget: float,
                   vet: Callable[[bytes], None] | None = None) -> Outcome:
    """Pin, kill, restart. ``vet`` refuses values that would not fix the hang before any
    of it happens (nothing is killed for a fix that fixes nothing)."""
    ctid = container.ctid
    outcome = patch_container(transport, ctid, settings, journal, vzctl_version=None,
                              rule="HG101", lock_wait=min(MAX_STEP, budget / 3), vet=vet)
    pids = ([str(p.pid) for p in container.java_processes]
            if isinstance(container.java_processes, tuple) else [])
    if pids:
        transport.run(shell_command("vzctl", "exec2", ctid, "kill -9 " + " ".join(pids)),
                      timeout=min(MAX_STEP, budget / 3))
    restarted = transport.run(shell_command("vzctl", "restart", ctid), timeout=budget)
    outcome.notes.append(f"killed JVM pid(s) {', '.join(pids) or 'none'} with SIGKILL; "
                         f"vzctl restart exited {restarted.exited}")
    return outcome
