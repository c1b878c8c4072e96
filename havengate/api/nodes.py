"""Reaching nodes for the library: probes gathered concurrently, an act step over its own
connection, and the open transports closed at once when the operator interrupts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from havengate.errors import HavengateError, UsageError
from havengate.facts.collect import collect_node
from havengate.facts.model import NodeFacts
from havengate.transport import NodeAccess, Transport, open_transport

log = logging.getLogger("havengate")
T = TypeVar("T")
_OPEN: list[Transport] = []  # closed at once on Ctrl-C, whatever they are doing


@dataclass(frozen=True)
class NodeFailure:
    """A node whose facts could not be had, and why (unreachable, refused, unreadable)."""

    host: str
    reason: str


NodeResult = NodeFacts | NodeFailure


Job = tuple[str, Callable[[], NodeFacts]]  # (host as the operator named it, collect it)


def gather(jobs: dict[str, Job], *, forks: int | None = None,
           finished: Callable[[str, NodeResult], None] | None = None,
           strict: bool = True) -> dict[str, NodeResult]:
    """Run each node's collection concurrently, at most ``forks`` at a time (None: all at
    once); a HavengateError becomes a NodeFailure. ``finished`` hears of each node as it
    ends (progress), from the worker's thread. ``strict``: a usage error (a host the ssh
    config cannot serve) stops everything; else (a fleet scan) only that node fails."""

    def attempt(name: str, job: Callable[[], NodeFacts]) -> NodeResult:
        try:
            return job()
        except UsageError as exc:
            if strict:
                raise
            return NodeFailure(host=name, reason=str(exc))
        except HavengateError as exc:
            return NodeFailure(host=name, reason=str(exc))
        except Exception as exc:  # a bug while reading one node must not hide the other
            return NodeFailure(host=name, reason=f"internal error: {type(exc).__name__}: {exc}")

    # Daemon threads, not a pool: Ctrl-C must not wait for a probe that hangs on a silent
    # node (a pool's shutdown and its atexit hook join every worker). The interrupted
    # probes die with the process; their SSH sessions close, and the probe cleans up.
    results: dict[str, NodeResult | BaseException] = {}
    queue = list(jobs.items())
    lock = threading.Lock()
    done = threading.Event()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                key, (name, job) = queue.pop(0)
            try:
                result: NodeResult | BaseException = attempt(name, job)
                if finished is not None:
                    finished(key, result)
            except BaseException as exc:  # handed to the caller's thread
                result = exc
            with lock:
                results[key] = result
                if len(results) == len(jobs):
                    done.set()

    for number in range(min(forks or len(jobs), len(jobs))):
        threading.Thread(target=work, name=f"probe {number}", daemon=True).start()
    while jobs and not done.wait(0.2):
        pass
    for value in results.values():
        if isinstance(value, BaseException):
            raise value
    return {key: results[key] for key in jobs}  # type: ignore[misc]


def transport_for(host: str, access: NodeAccess) -> Transport:
    """A transport for ``host`` (validated, its ssh config read); nothing contacted yet."""
    transport = open_transport(host, access)
    _OPEN.append(transport)
    return transport


def collector(host: str, mode: str, ctids: tuple[str, ...], access: NodeAccess, *,
              transport: Transport | None = None, eager: bool = True) -> Job:
    """A probe of ``host`` to hand to gather(). With ``transport`` given, the caller keeps
    the connection for more work on the node and closes it; else the probe closes its own.
    ``eager``: the transport is made now, so a node the ssh config cannot serve is refused
    before any probe (check); else in the worker, where it fails alone (a fleet scan)."""
    given = transport
    made = None if given is not None or not eager else transport_for(host, access)

    def collect() -> NodeFacts:
        link = given or made or transport_for(host, access)
        log.info("probing %s ...", host)
        try:
            return collect_node(link, mode, ctids, timeout=access.probe_timeout,
                                step_timeout=access.command_timeout)
        finally:
            if given is None:
                link.close()

    return host, collect


def over_connection(host: str, access: NodeAccess, step: Callable[[Transport], T]) -> T:
    """Run one act step (patch, revert, remediation) over a connection of its own."""
    transport = transport_for(host, access)
    try:
        return step(transport)
    finally:
        transport.close()


def close_all(within: float = 1.0) -> None:
    """Ctrl-C: close every SSH session (the nodes see the session end and their probes
    clean up), giving up after ``within`` seconds rather than making the operator wait."""
    closer = threading.Thread(target=lambda: [t.close() for t in list(_OPEN)], daemon=True)
    closer.start()
    closer.join(within)
