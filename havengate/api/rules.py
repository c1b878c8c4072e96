"""One registry of every rule, both phases: pre-move (HG0xx, ``assess``) and post-move
(HG1xx, ``verify``). Each rule is a small module; its docstring is its documentation."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from havengate.assess.rules import RULES as PRE_MOVE
from havengate.errors import UsageError
from havengate.model import Phase, Severity
from havengate.verify.rules import RULES as POST_MOVE

REGISTRY: tuple[ModuleType, ...] = (*PRE_MOVE, *POST_MOVE)


@dataclass(frozen=True)
class RuleDoc:
    id: str
    title: str
    severity: Severity
    phase: Phase
    doc: str  # rationale, evidence, fixes, example

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0].split(": ", 1)[-1].rstrip(".")


def rules() -> list[RuleDoc]:
    return [_doc(rule) for rule in REGISTRY]


def explain(rule_id: str) -> RuleDoc:
    wanted = rule_id.strip().upper()
    for rule in REGISTRY:
        if rule.id == wanted:
            return _doc(rule)
    known = ", ".join(rule.id for rule in REGISTRY)
    raise UsageError(f"no rule {rule_id!r}: havengate knows {known}")


def _doc(rule: ModuleType) -> RuleDoc:
    import inspect

    return RuleDoc(id=rule.id, title=rule.title, severity=rule.severity, phase=rule.phase,
                   doc=inspect.cleandoc(rule.__doc__ or ""))


def markdown_table() -> str:
    """The README's rules table, generated (a test fails when the README drifts)."""
    lines = ["| id | phase | severity | what |", "|---|---|---|---|"]
    lines += [f"| {r.id} | {r.phase.value} | {r.severity.label} | {r.title} |" for r in rules()]
    return "\n".join(lines)
