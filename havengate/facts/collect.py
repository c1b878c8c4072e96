"""Ask a node for its facts: one probe round trip, retried afresh on transient failures."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from havengate.errors import TransportError
from havengate.facts.model import NodeFacts
from havengate.facts.probe import DEFAULT_STEP_TIMEOUT, Mode, parse_probe_output, probe_command

PROBE_TIMEOUT = 300.0  # the whole probe; each step that may hang has its own bound
CONNECT_ATTEMPTS = 3


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, TransportError) and exc.transient


def collect_node(
    transport, mode: str = Mode.FULL, ctids: tuple[str, ...] = (), *,
    timeout: float = PROBE_TIMEOUT, step_timeout: int = DEFAULT_STEP_TIMEOUT,
    attempts: int = CONNECT_ATTEMPTS, connects: tuple[tuple[str, int], ...] = (),
) -> NodeFacts:
    """Facts of the node behind ``transport`` (anything with ``run()`` and ``name``).

    Raises TransportError when the node could not be asked, ProbeError when its answer
    cannot be read; each attempt uses a fresh nonce and starts from nothing.
    """
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    retrying = Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=4),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            nonce = secrets.token_hex(16)
            collected_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            command = probe_command(nonce, mode, ctids, step_timeout, connects)
            result = transport.run(command, timeout=timeout)
            return parse_probe_output(result.stdout, nonce, transport.name, collected_at)
    raise AssertionError("unreachable: tenacity reraises the last error")
