"""The post-move wait: one deadline, tenacity between samples, facts re-read every time.

Each attempt is one probe round trip to the target (JVMs, their sockets and threads,
connects from the node) plus the HTTP checks from here. A container is final when it is
verified, when the futex-hang signature is clear (that does not resolve by waiting), or
when the deadline comes; then the last sample is judged once more and diagnosed.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from havengate.errors import HavengateError
from havengate.facts.collect import collect_node
from havengate.facts.model import Container, NodeFacts
from havengate.facts.probe import Mode
from havengate.model import CheckResult, PatchSummary
from havengate.transport.base import Transport
from havengate.verify.evaluate import HANG_AFTER, State, evaluate
from havengate.verify.expect import Expectation

DEFAULT_DEADLINE = 120.0
STEP_TIMEOUT = 5  # seconds for one command on the node (a connect, vzctl exec2)
FINAL = ("verified", "failed")  # unknown and suspect are sampled again until the deadline
SUSPECT_WINDOWS = 2  # the hang signature in this many windows in a row is a verdict
MIN_SAMPLE = 0.5  # seconds: less than this left before the deadline, no new sample starts

# Fixes a hung container (journaled patch, SIGKILL of the JVM, restart) within the seconds
# left before the deadline; the CLI builds it from act/.
Remediator = Callable[[Container, NodeFacts, float], PatchSummary]


@dataclass
class Outcome:
    expect: Expectation
    state: State | None = None
    container: Container | None = None
    remediation: PatchSummary | None = None
    suspicions: int = 0  # windows in a row that showed the futex-hang signature
    seconds: float | None = None  # from the start of verify until its verdict was final


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    node: NodeFacts | None = None
    error: str | None = None  # the last reason the target could not be asked
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped: bool = False  # a permanent error ended the sampling before the deadline


def verify(transport: Transport, expectations: list[Expectation], *,
           deadline: float = DEFAULT_DEADLINE, hang_after: float = HANG_AFTER,
           remediate: Remediator | None = None,
           progress: Callable[[str], None] = lambda line: None) -> Run:
    run = Run(outcomes={e.ctid: Outcome(e) for e in expectations})
    end = run.started + deadline

    def attempt() -> bool:
        """One sample; True while something is still pending."""
        left = end - time.monotonic()
        if left <= MIN_SAMPLE:
            return True  # no time for another sample: the deadline's judgement follows
        run.attempts += 1
        pending = [o for o in run.outcomes.values() if not _final(o)]
        try:
            node = collect_node(
                transport, Mode.VERIFY, tuple(o.expect.ctid for o in pending),
                timeout=left, step_timeout=max(1, min(STEP_TIMEOUT, int(left))),
                connects=_connects(pending), attempts=1)
        except HavengateError as exc:
            run.error = str(exc)
            if getattr(exc, "permanent", False):
                run.stopped = True  # a host key or an auth refusal does not heal by waiting
                return False
            return True
        if node.vzctl_version is None:
            run.error = f"{node.host} has no vzctl: it is not an OpenVZ node"
            run.stopped = True
            return False
        run.node, run.error = node, None
        for outcome in pending:
            _judge(outcome, node, end, hang_after, deadline_reached=False)
            if remediate and outcome.remediation is None and _hung(outcome) \
                    and end - time.monotonic() > MIN_SAMPLE:
                progress(f"CT {outcome.expect.ctid}: futex hang called — remediating "
                         "(patch, kill -9, restart)")
                outcome.remediation = remediate(outcome.container, node, end - time.monotonic())
                outcome.state, outcome.container = None, None  # judge the new JVM afresh
            if _final(outcome):
                outcome.seconds = round(time.monotonic() - run.started, 3)
        return any(not _final(o) for o in run.outcomes.values())

    def report_progress(retry_state) -> None:
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        for outcome in run.outcomes.values():
            if _final(outcome):
                continue
            what = (outcome.state.waiting_for if outcome.state else "") or run.error or "waiting"
            progress(f"CT {outcome.expect.ctid}: {what} — attempt {run.attempts}, "
                     f"next in {wait:.1f} s")

    from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay

    retrying = Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_delay(max(0.0, deadline)),
        wait=lambda state: min(backoff(state.attempt_number), max(0.0, end - time.monotonic())),
        before_sleep=report_progress,
        reraise=True,
    )
    with contextlib.suppress(RetryError):  # the deadline stopped the sampling
        retrying(attempt)
    # The deadline: what is still pending is judged on the last sample, and diagnosed.
    for outcome in run.outcomes.values():
        if not _final(outcome) and run.node is not None and not run.stopped:
            _judge(outcome, run.node, end, hang_after, deadline_reached=True)
        if outcome.seconds is None or not _final(outcome):
            outcome.seconds = round(time.monotonic() - run.started, 3)
    return run


def _judge(outcome: Outcome, node: NodeFacts, end: float, hang_after: float, *,
           deadline_reached: bool) -> None:
    before = outcome.container
    container = node.container(outcome.expect.ctid)
    http: tuple[CheckResult, ...] = ()
    if deadline_reached:  # no time is left to ask again: the last answers stand
        http = tuple(c for c in (outcome.state.checks if outcome.state else ()) if c.kind == "http")
        if outcome.expect.http and not http:
            http = tuple(CheckResult("http", check.url, None, "not checked before the deadline")
                         for check in outcome.expect.http)
    elif container is not None and container.running and outcome.expect.http:
        from havengate.verify.http import http_check  # requests only for HTTP checks

        http = tuple(http_check(check, end - time.monotonic()) for check in outcome.expect.http)
    state = evaluate(outcome.expect, node, before, http,
                     deadline_reached=deadline_reached, hang_after=hang_after)
    outcome.suspicions = outcome.suspicions + 1 if state.status == "suspect" else 0
    if outcome.suspicions >= SUSPECT_WINDOWS:
        state = replace(state, status="failed")
    outcome.state, outcome.container = state, container


def _final(outcome: Outcome) -> bool:
    return outcome.state is not None and outcome.state.status in FINAL


def _hung(outcome: Outcome) -> bool:
    """A called hang: the signature in SUSPECT_WINDOWS windows in a row (one suspect window
    never kills a JVM)."""
    state = outcome.state
    return (state is not None and outcome.container is not None and state.status == "failed"
            and any(f.rule == "HG101" for f in state.findings))


def backoff(attempt: int) -> float:
    """Seconds before the next sample: 0.2, 0.4, 0.8, then 1 s, with up to 0.2 s of jitter
    (several verifies against one node do not sample in step)."""
    return min(1.0, 0.2 * 2 ** max(attempt - 1, 0)) + random.uniform(0.0, 0.2)  # noqa: S311


def _connects(pending: list[Outcome]) -> tuple[tuple[str, int], ...]:
    return tuple((address, port) for outcome in pending
                 for address in outcome.expect.addresses for port in outcome.expect.ports)
