"""``havengate migrate`` as one library call: the gate for every container (one probe per
node), then, for each one that may go and in the order given, ``vzmigrate`` on the source
and ``verify`` on the target; one report for the wave.

Stopping is two-staged, because a move cut half-way is the one outcome worse than a hang:
``stop`` (the CLI sets it on the first Ctrl-C) ends the wave after the current container;
a KeyboardInterrupt (the second) ends it at once, and the report names the container that
was mid-move. vzmigrate itself runs detached on the source and is never killed by us.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from havengate import api
from havengate.act.token import DEFAULT_TTL
from havengate.api.config import Config
from havengate.api.nodes import NodeFailure, close_all, collector, gather, transport_for
from havengate.api.results import build_report, container_result, named_node
from havengate.api.settings import PatchPolicy, VerifySettings
from havengate.api.wave import WaveJournal
from havengate.decide import PolicyConfig
from havengate.errors import HavengateError, UsageError
from havengate.facts.model import NodeFacts
from havengate.facts.probe import Mode
from havengate.model import ContainerResult, Report, StepResult, Unknown, Verdict
from havengate.quoting import validate_ctid
from havengate.state import DEFAULT_STATE_DIR
from havengate.transport import NodeAccess, Transport

log = logging.getLogger("havengate")
MAY_MOVE = (Verdict.GO, Verdict.PATCHED)


@dataclass(frozen=True)
class Route:
    """Where the wave goes and how it gets there: fixed for the whole wave."""

    source: str
    target: str
    destination: str  # the target as vzmigrate on the source reaches it
    access: NodeAccess
    link: Transport  # one connection to the source for the gate and every move
    online: bool = False
    extra: tuple[str, ...] = ()


@dataclass
class _Progress:
    """What the wave did so far: enough to write its report at any moment, even when a
    second Ctrl-C cuts it short."""

    ctids: tuple[str, ...]
    steps: dict[str, list[StepResult]] = field(default_factory=dict)
    results: dict[str, ContainerResult] = field(default_factory=dict)
    gate: dict[str, ContainerResult] = field(default_factory=dict)
    stopped: str | None = None  # why the containers not yet attempted are skipped
    current: tuple[str | None, str] | None = None  # (CTID, phase) being worked on
    interrupted: str | None = None

    def step(self, ctid: str, step: StepResult) -> None:
        self.steps.setdefault(ctid, []).append(step)

    def finish(self, ctid: str, verdict: Verdict) -> None:
        base = self.gate.get(ctid) or container_result(ctid, verdict, ports=())
        steps = tuple(self.steps.get(ctid, ()))
        took = [step.seconds for step in steps if step.seconds is not None]
        self.results[ctid] = replace(base, verdict=verdict, steps=steps,
                                     duration_seconds=round(sum(took), 3) if took else None)


def migrate(ctids: tuple[str, ...], source: str, target: str, *,
            access: NodeAccess = NodeAccess(), policy: PolicyConfig = PolicyConfig(),
            patching: PatchPolicy = PatchPolicy(), settings: VerifySettings = VerifySettings(),
            config: Config = Config(), destination: str | None = None, online: bool = False,
            extra: tuple[str, ...] = (), keep_going: bool = False,
            state_dir: Path = DEFAULT_STATE_DIR, stop: threading.Event | None = None,
            progress: Callable[[str], None] = log.info) -> Report:
    """A wave from ``source`` to ``target``.

    A no-go or unknown container is never moved, nor anything when the gate could not
    read a node; the wave stops at the first container that fails to move or to verify
    (``keep_going``: goes on), the rest ``skipped``. Resumable: a container an earlier run
    moved is verified again on the target, and skipped if it is verified.
    """
    from havengate.transport.address import split_destination

    ctids = _wave_ctids(ctids)
    if source == target:
        raise UsageError(f"--source and --target are both {source}: nothing would move")
    journal = WaveJournal(state_dir, source, target)
    journal.check_writable()  # a move that happened must be journaled: fail before any
    # vzmigrate on the source wants a host it can reach as root, not our ssh:// or user@
    route = Route(source, target, destination or split_destination(
        target.removeprefix("ssh://")).host, access, transport_for(source, access), online,
        extra)
    try:
        return _wave(ctids, route, journal, policy, patching, settings, config, keep_going,
                     state_dir, stop or threading.Event(), progress)
    finally:
        route.link.close()


def _wave(ctids: tuple[str, ...], route: Route, journal: WaveJournal, policy: PolicyConfig,
          patching: PatchPolicy, settings: VerifySettings, config: Config, keep_going: bool,
          state_dir: Path, stop: threading.Event, progress) -> Report:
    wave = _Progress(ctids)
    errors: tuple[str, ...] = ()
    gate_report: Report | None = None
    source_facts: NodeFacts | NodeFailure | None = None
    try:
        todo = _reverify_earlier(wave, route, journal, settings, patching, config, state_dir,
                                 keep_going, stop, progress)
        if stop.is_set() and not wave.stopped:
            wave.stopped = "not attempted: the wave was asked to stop (Ctrl-C)"
        if todo and not wave.stopped:
            wave.current = (None, "gate")
            gate_report, source_facts = _run_gate(wave, route, todo, policy, patching,
                                                  state_dir)
            errors = gate_report.errors
        for ctid in todo:
            if stop.is_set() and not wave.stopped:
                wave.stopped = "not attempted: the wave was asked to stop (Ctrl-C)"
            _one(wave, ctid, route, journal, settings, patching, config, state_dir,
                 source_facts, keep_going, progress)
    except KeyboardInterrupt:
        close_all()
        _cut_short(wave, route)
    ordered = [wave.results.get(ctid) or _unattempted(wave, ctid) for ctid in ctids]
    notes = [f"stopped the wave: {wave.stopped.removeprefix('not attempted: ')}"] \
        if wave.stopped and not wave.interrupted else []
    if wave.interrupted:
        notes.insert(0, wave.interrupted)
    report = build_report("migrate", policy.policy.value, ordered,
                          source=gate_report.source if gate_report else named_node(route.source),
                          target=gate_report.target if gate_report else named_node(route.target),
                          errors=errors, notes=notes, complete=not errors)
    return replace(report, interrupted=wave.interrupted is not None)


def _wave_ctids(ctids: tuple[str, ...]) -> tuple[str, ...]:
    ctids = tuple(validate_ctid(ctid) for ctid in ctids)
    if not ctids:
        raise UsageError("name the containers to move (havengate migrate CTID... )")
    twice = sorted({ctid for ctid in ctids if ctids.count(ctid) > 1}, key=int)
    if twice:
        raise UsageError(f"CT {', '.join(twice)} named twice: a container moves once")
    return ctids


def _reverify_earlier(wave: _Progress, route: Route, journal: WaveJournal,
                      settings: VerifySettings, patching: PatchPolicy, config: Config,
                      state_dir: Path, keep_going: bool, stop: threading.Event,
                      progress) -> tuple[str, ...]:
    """Containers an earlier run moved are verified again; what is left to do is returned
    (a container moved back to the source by an HA failback goes through the gate again)."""
    earlier = journal.moved()
    for ctid in [c for c in wave.ctids if c in earlier]:
        if stop.is_set():
            break  # the rest are skipped: asked to stop
        wave.current = (ctid, "verify")
        verdict, step = _verify_moved(ctid, None, route, settings, patching, config,
                                      state_dir, None, progress, earlier_run=earlier[ctid])
        if verdict != Verdict.VERIFIED and _only_on(ctid, route) == route.source:
            progress(f"CT {ctid}: moved by an earlier run, but it is back on {route.source}: "
                     "it goes through the gate again")
            del earlier[ctid]
            continue
        wave.step(ctid, step)
        wave.finish(ctid, verdict)
        if verdict != Verdict.VERIFIED and not keep_going:
            wave.stopped = f"not attempted: CT {ctid}, moved by an earlier run, does not verify"
    wave.current = None
    return tuple(ctid for ctid in wave.ctids if ctid not in earlier)


def _run_gate(wave: _Progress, route: Route, todo: tuple[str, ...], policy: PolicyConfig,
              patching: PatchPolicy, state_dir: Path) -> tuple[Report, NodeFacts | NodeFailure]:
    started = time.monotonic()
    report, source_facts, _ = api._gate(
        route.source, route.target, todo, access=route.access, policy=policy,
        patching=patching, state_dir=state_dir, baselines=True, go_ttl=DEFAULT_TTL,
        go_dest=route.destination, link=route.link)
    wave.gate = {c.ctid: c for c in report.containers}
    took = round(time.monotonic() - started, 3)
    for ctid in todo:
        result = wave.gate.get(ctid)
        verdict = result.verdict if result else Verdict.UNKNOWN
        wave.step(ctid, StepResult("check", {Verdict.GO: "ok", Verdict.PATCHED: "ok",
                                             Verdict.NO_GO: "refused"}.get(verdict, "unknown"),
                                   took, verdict.value))
        if result is not None and result.patch is not None:
            wave.step(ctid, StepResult("patch", "ok" if verdict == Verdict.PATCHED
                                       else "failed", None, result.patch.status.value))
    wave.current = None
    if report.errors:  # a node not fully read may hide a blocker: nothing moves
        wave.stopped = "not moved: the gate could not read the nodes fully (see errors)"
    return report, source_facts


def _one(wave: _Progress, ctid: str, route: Route, journal: WaveJournal,
         settings: VerifySettings, patching: PatchPolicy, config: Config, state_dir: Path,
         source_facts, keep_going: bool, progress) -> None:
    """One container of the wave: moved and verified, or skipped with the reason."""
    result = wave.gate.get(ctid)
    if result is not None and result.verdict not in MAY_MOVE:
        wave.step(ctid, StepResult("migrate", "skipped", None,
                                   f"not moved: the gate said {result.verdict.value}"))
        return wave.finish(ctid, result.verdict)
    if wave.stopped or result is None:
        reason = wave.stopped or "not moved: not assessed"
        # skipped: the wave stopped before it (Ctrl-C, an earlier failure); unknown: the
        # gate could not judge it
        skipped = result is not None or reason.startswith("not attempted")
        wave.step(ctid, StepResult("migrate", "skipped", None, reason))
        return wave.finish(ctid, Verdict.SKIPPED if skipped else Verdict.UNKNOWN)
    if patching.dry_run:  # the plan only: nothing is moved
        wave.step(ctid, StepResult("migrate", "skipped", None,
                                   f"--dry-run: would run vzmigrate to {route.destination}"))
        return wave.finish(ctid, result.verdict)
    wave.current = (ctid, "migrate")
    verdict, step = _move_one(ctid, route, journal, progress)
    wave.step(ctid, step)
    if verdict is None:  # moved: does it come back on the target?
        wave.current = (ctid, "verify")
        verdict, step = _verify_moved(ctid, result, route, settings, patching, config,
                                      state_dir, source_facts, progress)
        wave.step(ctid, step)
        journal.record(ctid, "verified" if verdict == Verdict.VERIFIED else "unverified",
                       step.detail)
    wave.current = None
    wave.finish(ctid, verdict)
    if verdict != Verdict.VERIFIED and not keep_going:
        wave.stopped = f"not attempted: CT {ctid} did not move and verify"


def _cut_short(wave: _Progress, route: Route) -> None:
    """The second Ctrl-C: the report says where the wave was, and what goes on without us."""
    if wave.current is None:
        wave.interrupted = "interrupted (Ctrl-C twice) between containers: nothing was mid-move"
    elif wave.current[0] is None:
        wave.interrupted = "interrupted (Ctrl-C twice) during the gate: nothing was moved"
    else:
        ctid, phase = wave.current
        if phase == "migrate":
            detail = (f"interrupted while vzmigrate moved it: vzmigrate goes on, detached, on "
                      f"{route.source}; run the same command again to verify it")
        else:
            detail = f"interrupted during its {phase}"
        wave.step(ctid, StepResult(phase, "interrupted", None, detail))
        wave.finish(ctid, Verdict.UNKNOWN)
        wave.interrupted = f"interrupted (Ctrl-C twice): CT {ctid} was mid-{phase}; {detail}"
    wave.stopped = "not attempted: the wave was interrupted (Ctrl-C twice)"


def _unattempted(wave: _Progress, ctid: str) -> ContainerResult:
    wave.step(ctid, StepResult("migrate", "skipped", None,
                               wave.stopped or "not attempted"))
    wave.finish(ctid, Verdict.SKIPPED)
    return wave.results[ctid]


def _move_one(ctid: str, route: Route, journal: WaveJournal,
              progress) -> tuple[Verdict | None, StepResult]:
    """vzmigrate of one container on the source; (None, ok step) when it moved."""
    from havengate.act.migrate import move

    started = time.monotonic()
    progress(f"CT {ctid}: vzmigrate to {route.destination} ...")
    journal.record(ctid, "moving", f"vzmigrate to {route.destination}")
    try:
        moved = move(route.link, ctid, route.destination, online=route.online,
                     extra=route.extra,
                     line=lambda text: progress(f"CT {ctid} vzmigrate: {text}"))
    except HavengateError as exc:  # the session broke: vzmigrate may go on, detached
        detail = (f"lost the session with {route.source} during vzmigrate ({exc}); it runs "
                  "detached and may still be moving the container: run the same command again")
        journal.record(ctid, "lost", detail)
        return Verdict.UNKNOWN, StepResult("migrate", "unknown", _since(started), detail)
    except KeyboardInterrupt:
        journal.record(ctid, "interrupted", "havengate interrupted during vzmigrate")
        log.warning("CT %s: vzmigrate goes on on %s (detached); run the same command again "
                    "to verify it", ctid, route.source)
        raise
    if not moved.ok:
        detail = (f"vzmigrate exit {moved.exit_code}: {moved.meaning}"
                  + (f" ({moved.last_lines[-1]})" if moved.last_lines else ""))
        journal.record(ctid, "failed", detail)
        return Verdict.FAILED, StepResult("migrate", "failed", _since(started), detail)
    journal.record(ctid, "moved", moved.meaning)
    return None, StepResult("migrate", "ok", _since(started), moved.meaning)


def _only_on(ctid: str, route: Route) -> str | None:
    """The one node of the two that has the container, or None (both, neither, unknown)."""
    names = (route.source, route.target)
    gathered = gather({name: collector(name, Mode.NODE, (), route.access) for name in names})
    holders = [name for name, node in gathered.items()
               if isinstance(node, NodeFacts) and node.container(ctid) is not None]
    readable = all(isinstance(node, NodeFacts) and not isinstance(node.containers, Unknown)
                   for node in gathered.values())
    return holders[0] if readable and len(holders) == 1 else None


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _verify_moved(ctid: str, gate: ContainerResult | None, route: Route,
                  settings: VerifySettings, patching: PatchPolicy, config: Config,
                  state_dir: Path, source_facts, progress, *,
                  earlier_run: str | None = None) -> tuple[Verdict, StepResult]:
    """verify() of one moved container, from the baseline recorded before its move.

    A container that was not running before the move is verified by being on the target
    (nothing listened to check); one an earlier run moved is verified again now."""
    started = time.monotonic()
    since = f" (moved by an earlier run, {earlier_run})" if earlier_run else ""
    if gate is not None and gate.status != "running":
        return _on_target(ctid, route, started,
                          f"it was {gate.status} before the move: nothing listened to check")
    source_node = None
    if isinstance(source_facts, NodeFacts):
        source_node = source_facts.nodename or source_facts.host
    try:
        checked = api.verify((ctid,), route.target, access=route.access,
                             settings=replace(settings, source_node=source_node),
                             patching=patching, config=config, state_dir=state_dir,
                             progress=progress)
    except UsageError as exc:
        if gate is None and "nothing to verify" in str(exc):  # it was not running then
            return _on_target(ctid, route, started,
                              f"no baseline: nothing listened to check{since}")
        return Verdict.UNKNOWN, StepResult("verify", "unknown", _since(started),
                                           f"{exc}{since}")
    except HavengateError as exc:
        return Verdict.UNKNOWN, StepResult("verify", "unknown", _since(started),
                                           f"{exc}{since}")
    (result,) = checked.containers
    why = "; ".join(f"{f.rule} {f.message}" for f in result.findings) or \
        "; ".join(f"{c.kind} {c.target}: {c.detail}" for c in result.checks)
    outcome = {Verdict.VERIFIED: "ok", Verdict.FAILED: "failed"}.get(result.verdict, "unknown")
    return result.verdict, StepResult("verify", outcome, _since(started), why + since)


def _on_target(ctid: str, route: Route, started: float,
               why: str) -> tuple[Verdict, StepResult]:
    """A container with nothing to check is verified by being on the target."""
    try:
        present = api.facts(route.target, route.access, node_only=True).container(ctid)
    except HavengateError as exc:
        return Verdict.UNKNOWN, StepResult("verify", "unknown", _since(started), f"{exc}; {why}")
    if present is None:
        return Verdict.FAILED, StepResult("verify", "failed", _since(started),
                                          f"CT {ctid} is not on {route.target} after vzmigrate")
    return Verdict.VERIFIED, StepResult("verify", "ok", _since(started),
                                        f"on {route.target} ({present.status}); {why}")
