"""Policy turns findings into a verdict per container, an overall verdict and the exit code.

Rules say how bad a finding is; only this module says what that means for the move.
The exit code is computed here once; formatters only render it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from havengate.model import ExitCode, Finding, Severity, Verdict


class Policy(str, enum.Enum):
    BLOCK = "block"  # an error finding stops the move (default)
    WARN = "warn"  # error findings are reported as warnings; the move goes on
    PATCH = "patch"  # fix what HG001 blocks (act/), then judge the container again


class UnrecognisedKernel(str, enum.Enum):
    """What a target kernel havengate does not recognise means (never "safe")."""

    UNKNOWN = "unknown"  # the container's verdict is unknown (exit 3)
    WARN = "warn"  # a warning; the verdict follows the other findings


@dataclass(frozen=True)
class PolicyConfig:
    policy: Policy = Policy.BLOCK
    unrecognised_kernel: UnrecognisedKernel = UnrecognisedKernel.UNKNOWN


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    findings: tuple[Finding, ...]  # with the severities policy gave them


def effective_severity(finding: Finding, config: PolicyConfig) -> Severity:
    if finding.severity == Severity.ERROR and config.policy == Policy.WARN:
        return Severity.WARNING
    if (
        finding.severity == Severity.UNKNOWN
        and finding.missing
        and set(finding.missing) <= {"target-kernel"}
        and config.unrecognised_kernel == UnrecognisedKernel.WARN
    ):
        return Severity.WARNING
    return finding.severity


def decide(findings: tuple[Finding, ...], config: PolicyConfig) -> Decision:
    judged = tuple(replace(f, severity=effective_severity(f, config)) for f in findings)
    worst = max((f.severity for f in judged), default=Severity.INFO)
    if worst == Severity.ERROR:
        verdict = Verdict.NO_GO
    elif worst == Severity.UNKNOWN:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.GO
    return Decision(verdict=verdict, findings=judged)


def overall(verdicts: list[Verdict], *, complete: bool) -> Verdict:
    """no-go if anything is blocked; unknown if anything (or a node) could not be assessed."""
    for blocking in (Verdict.NO_GO, Verdict.FAILED):
        if blocking in verdicts:
            return blocking
    if Verdict.SKIPPED in verdicts:  # not moved: the wave did not finish
        return Verdict.SKIPPED
    if Verdict.UNKNOWN in verdicts or not complete:
        return Verdict.UNKNOWN
    if Verdict.PATCHED in verdicts:
        return Verdict.PATCHED
    if verdicts and set(verdicts) == {Verdict.VERIFIED}:
        return Verdict.VERIFIED
    return Verdict.GO


EXIT_CODES = {
    Verdict.GO: ExitCode.GO,
    Verdict.PATCHED: ExitCode.GO,
    Verdict.NO_GO: ExitCode.NO_GO,
    Verdict.UNKNOWN: ExitCode.UNKNOWN,
    Verdict.VERIFIED: ExitCode.GO,
    Verdict.FAILED: ExitCode.NO_GO,
    Verdict.USAGE_ERROR: ExitCode.USAGE,
    Verdict.SKIPPED: ExitCode.NO_GO,
}
