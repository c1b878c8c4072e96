"""What a library call is told: frozen settings, built by the CLI (or any caller) once.

NodeAccess (how nodes are reached) lives with the transports; PolicyConfig (what findings
mean) with decide; the rest is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from havengate.act.patch import DEFAULT_LOCK_WAIT
from havengate.act.plan import PatchSettings
from havengate.api.config import Config
from havengate.verify.evaluate import HANG_AFTER
from havengate.verify.run import DEFAULT_DEADLINE


@dataclass(frozen=True)
class PatchPolicy:
    """Which fix to write and how: built-in defaults < the config's defaults < the values
    given (``flags``) < the config's entry for the container."""

    config: Config = field(default_factory=Config)
    flags: Mapping[str, Any] = field(default_factory=dict)  # strategy, cpumask, cpus
    dry_run: bool = False
    lock_wait: float = DEFAULT_LOCK_WAIT
    force: bool = False  # write values the rules say leave the container at risk

    def settings_for(self, ctid: str) -> PatchSettings:
        return self.config.patch_settings(ctid, dict(self.flags))


@dataclass(frozen=True)
class VerifySettings:
    timeout: float = DEFAULT_DEADLINE  # one deadline for everything
    hang_after: float = HANG_AFTER
    remediate: bool = False
    baselines: tuple[Path, ...] = ()  # documents to use instead of the state directory's
    source_node: str | None = None  # which source's baselines (several recorded a CTID)
