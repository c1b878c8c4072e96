"""The only step that changes a node: patch and revert CTID.conf, journaled."""

from __future__ import annotations

from havengate.act.patch import Outcome
from havengate.model import ChangeSummary, PatchStatus, PatchSummary


def summarise(outcome: Outcome) -> PatchSummary:
    plan = outcome.plan
    changes = tuple(ChangeSummary(c.key, c.before, c.after) for c in plan.changes) if plan else ()
    return PatchSummary(
        host=outcome.host, status=outcome.status, method=outcome.method,
        journal_id=outcome.journal_id, changes=changes, notes=tuple(outcome.notes),
        diff=outcome.diff,
    )


def failed(host: str, reason: str) -> PatchSummary:
    return PatchSummary(host=host, status=PatchStatus.FAILED, method=None, journal_id=None, changes=(),
                        notes=(reason,), diff="")
