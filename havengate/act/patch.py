"""Apply and revert the fix on a node: journaled, locked, atomic, verified by re-reading.

Order of a patch (each step survives a kill -9 of havengate):
  lock CT on the node -> read CTID.conf -> finish or close interrupted journal entries ->
  plan -> journal "started" (with the exact old bytes) -> vzctl set … --save, or stage the
  new bytes beside the file and rename them over it -> re-read and check the values ->
  journal "completed".
vzctl can exit 0 without saving anything (ENOSYS on 2.6.24, vzctl <= 3.1), so the file is
always re-read; if vzctl did not write the values, the file is written directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from havengate.act import remote
from havengate.act.journal import Entry, Journal
from havengate.act.plan import (
    Method,
    PatchPlan,
    PatchSettings,
    Strategy,
    conf_path,
    plan_patch,
    rewrite_conf,
    satisfied,
    sha256,
)
from havengate.errors import HavengateError, PatchFailed, RevertRefused
from havengate.model import PatchStatus, Unknown
from havengate.transport.base import Transport

log = logging.getLogger("havengate")

LOCK_DIR = "/var/lock/havengate"
DEFAULT_LOCK_WAIT = 30.0
CRASH_ENV = "HAVENGATE_CRASH_AT"  # fault injection for the crash tests: kill -9 at a step
CRASH_POINTS = ("before-journal", "after-journal", "during-write", "after-write")


@dataclass
class Outcome:
    """What happened to one container."""

    host: str
    ctid: str
    status: PatchStatus
    plan: PatchPlan | None = None
    method: str | None = None
    journal_id: str | None = None
    notes: list[str] = field(default_factory=list)
    diff: str = ""
    final: bytes = b""  # CTID.conf as it is after this step (re-read from the node)


def lock_path(ctid: str) -> str:
    return f"{LOCK_DIR}/{ctid}.lock"


def _crashpoint(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def patch_container(
    transport: Transport, ctid: str, settings: PatchSettings, journal: Journal, *,
    vzctl_version: tuple[int, ...] | Unknown | None, rule: str = "HG001", dry_run: bool = False,
    lock_wait: float = DEFAULT_LOCK_WAIT, vet: Callable[[bytes], None] | None = None,
) -> Outcome:
    """``vet`` judges the exact bytes about to be written (read under the lock) and raises
    to refuse them; nothing is journaled or written before it has passed."""
    host = remote.node_name(transport)
    path = conf_path(ctid)
    lock = contextlib.nullcontext() if dry_run else transport.lock(lock_path(ctid), lock_wait)
    with lock:
        current = remote.read_conf(transport, path)
        notes = [] if dry_run else _recover(transport, journal, host, ctid, current)
        plan = plan_patch(host, ctid, current.data, settings, vzctl_version)
        if not plan.needed:
            notes.append(f"{path} already holds {_values_text(settings.values())}: nothing to do")
            return Outcome(host, ctid, PatchStatus.ALREADY, plan, notes=notes, final=current.data)
        if vet is not None:
            vet(plan.intended)
        if dry_run:
            return Outcome(host, ctid, PatchStatus.PLANNED, plan, method=plan.method.value,
                           notes=notes, diff=describe(plan))
        _crashpoint("before-journal")
        patch_id = journal.start(
            node=host, ctid=ctid, path=path, rule=rule, strategy=settings.strategy.value,
            method=plan.method.value,
            changes=[{"key": c.key, "before": c.before, "after": c.after} for c in plan.changes],
            previous=current.data,
            intended_sha256=sha256(plan.intended), mode=current.mode, uid=current.uid,
            gid=current.gid,
        )
        _crashpoint("after-journal")
        try:
            method, final = _apply(transport, plan, current, settings, notes)
        except (remote.RemoteWriteError, remote.ConcurrentChange) as exc:
            _close_after_failure(transport, journal, patch_id, current, str(exc))
            raise
        _crashpoint("after-write")
        if not satisfied(final.data, ctid, settings):
            journal.record(patch_id, "failed", result_sha256=sha256(final.data),
                           note="values not in the file after writing")
            raise PatchFailed(f"{host}: {path} does not hold {_values_text(settings.values())} "
                              f"after the patch (journal {patch_id})")
        journal.record(patch_id, "completed", result_sha256=sha256(final.data),
                       note="; ".join(notes) or None)
        return Outcome(host, ctid, PatchStatus.PATCHED, plan, method=method, journal_id=patch_id,
                       notes=notes, final=final.data)


def _close_after_failure(transport: Transport, journal: Journal, patch_id: str,
                         before: remote.ConfFile, reason: str) -> None:
    """Our write failed; vzctl may still have changed the file before it. Say which."""
    try:
        now = remote.read_conf(transport, before.path)
    except HavengateError:
        return  # cannot tell: the entry stays "started" and the next run closes it
    if now.data == before.data:
        journal.record(patch_id, "abandoned", note=reason)  # old bytes: nothing to revert
    else:
        journal.record(patch_id, "failed", result_sha256=sha256(now.data), note=reason)


def _apply(transport: Transport, plan: PatchPlan, current: remote.ConfFile,
           settings: PatchSettings, notes: list[str]) -> tuple[str, remote.ConfFile]:
    if plan.method == Method.VZCTL:
        result = transport.run(plan.vzctl_command, timeout=remote.COMMAND_TIMEOUT)
        after = remote.read_conf(transport, plan.path)
        if satisfied(after.data, plan.ctid, settings):
            return Method.VZCTL.value, after
        notes.append(f"`{plan.vzctl_command}` exited {result.exited} but the file does not hold "
                     "the values: written directly instead")
        current = after
    values = {c.key: c.after for c in plan.changes}
    _write(transport, current, rewrite_conf(current.data, values))
    return Method.EDIT.value, remote.read_conf(transport, plan.path)


def _write(transport: Transport, current: remote.ConfFile, data: bytes) -> None:
    staged = remote.stage(transport, current, data)
    _crashpoint("during-write")
    remote.commit(transport, staged, current, sha256(current.data), sha256(data))


def _recover(transport: Transport, journal: Journal, host: str, ctid: str,
             current: remote.ConfFile) -> list[str]:
    """Close journal entries a crash left open, judging by the file's bytes now."""
    notes = []
    digest = sha256(current.data)
    for entry in journal.open_entries(host, ctid):
        if entry.state != "started":
            continue
        if digest == entry.intended_sha256:
            journal.record(entry.id, "completed", result_sha256=digest,
                           note="the write had happened before an interruption")
            notes.append(f"interrupted patch {entry.id} had been written: marked completed")
        elif digest == entry.previous_sha256:
            journal.record(entry.id, "abandoned", note="interrupted before the file changed")
            notes.append(f"interrupted patch {entry.id} had not been written: marked abandoned")
        else:
            # vzctl may have written other bytes than predicted: judge by what vzctl reads.
            done = _settings_of(entry)
            state = "completed" if done and satisfied(current.data, ctid, done) else "failed"
            journal.record(entry.id, state, result_sha256=digest,
                           note="closed after an interruption: the file had changed")
            notes.append(f"interrupted patch {entry.id}: the file changed since; marked {state} "
                         "(havengate revert restores the bytes from before it)")
    remote.discard(transport, current.path)
    return notes


def _settings_of(entry: Entry) -> PatchSettings | None:
    values = {c["key"]: c["after"] for c in entry.changes}
    if not values:
        return None
    strategy = Strategy(entry.strategy)
    return PatchSettings(strategy=strategy, cpumask=values.get("CPUMASK", "0"),
                         cpus=int(values.get("CPUS", "2")))


def revert_container(
    transport: Transport, ctid: str, journal: Journal, *, force: bool = False,
    dry_run: bool = False, lock_wait: float = DEFAULT_LOCK_WAIT,
) -> Outcome:
    host = remote.node_name(transport)
    with transport.lock(lock_path(ctid), lock_wait):
        entry = _last_patch(journal, host, ctid)
        if not dry_run:
            remote.discard(transport, entry.path)  # a staging file a killed write left behind
        current = remote.read_conf(transport, entry.path)
        digest = sha256(current.data)
        if digest == entry.previous_sha256:
            if not dry_run:
                journal.record(entry.id, "reverted", note="file already held its old bytes")
            return Outcome(host, ctid, PatchStatus.ALREADY, journal_id=entry.id,
                           notes=[f"{entry.path} already holds the bytes from before {entry.id}"])
        patched = {entry.intended_sha256, entry.result_sha256} - {None}
        if digest not in patched and not force:
            raise RevertRefused(
                f"{host}: {entry.path} changed since patch {entry.id} (sha256 {digest[:12]}…); "
                "not reverting: --force restores the bytes from before the patch anyway")
        # The journal vouches for the bytes (their sha256), not for an owner or a mode: the
        # file keeps the ones it has now, so an edited journal cannot hand it to a user.
        restore = current
        if dry_run:
            return Outcome(host, ctid, PatchStatus.PLANNED, journal_id=entry.id,
                           diff=_diff(entry.path, current.data, entry.previous))
        _write(transport, restore, entry.previous)
        final = remote.read_conf(transport, entry.path)
        if final.data != entry.previous:
            raise PatchFailed(f"{host}: {entry.path} does not hold its old bytes after revert")
        journal.record(entry.id, "reverted", result_sha256=sha256(final.data),
                       note="forced" if digest not in patched else None)
        return Outcome(host, ctid, PatchStatus.REVERTED, journal_id=entry.id)


def _last_patch(journal: Journal, host: str, ctid: str) -> Entry:
    entries = [e for e in journal.open_entries(host, ctid)
               if e.state == "started"  # interrupted: may or may not have written
               or (e.state in ("completed", "failed") and e.result_sha256 != e.previous_sha256)]
    if not entries:
        raise RevertRefused(f"no patch of CT {ctid} on {host} to revert in {journal.path}")
    return entries[-1]


def describe(plan: PatchPlan) -> str:
    """Exactly what a patch would do: the command and/or the edit, as a unified diff."""
    lines = [f"# on {plan.host}, CT {plan.ctid}: " + ", ".join(
        f"{c.key} {c.before if c.before is not None else '(unset)'} -> {c.after}"
        for c in plan.changes)]
    if plan.method == Method.VZCTL:
        lines.append(f"would run: {plan.vzctl_command}")
        lines.append("then re-read the file; if the values are not there, write this edit:")
    else:
        lines.append(f"would edit {plan.path} atomically (this node's vzctl is older than "
                     "3.0.26 or not known to have --cpumask):")
    lines.append(_diff(plan.path, plan.previous, plan.intended))
    return "\n".join(lines)


def _diff(path: str, before: bytes, after: bytes) -> str:
    import difflib

    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, fromfile=f"{path} (now)",
                                        tofile=f"{path} (after)")).rstrip("\n")


def _values_text(values: dict[str, str]) -> str:
    return " ".join(f'{key}="{value}"' for key, value in values.items())
