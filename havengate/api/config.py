"""The --config file: validated against schemas/config.schema.json before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from havengate.act.plan import PatchSettings, Strategy
from havengate.documents import read_json


@dataclass(frozen=True)
class Config:
    patch_defaults: dict[str, Any] = field(default_factory=dict)
    patch_containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)  # {"containers": {CTID: checks}}

    def patch_settings(self, ctid: str, flags: dict[str, Any]) -> PatchSettings:
        """Built-in defaults < config defaults < flags given < the container's own entry."""
        settings = PatchSettings()
        for layer in (self.patch_defaults, flags, self.patch_containers.get(ctid, {})):
            settings = replace(settings, **{key: Strategy(value) if key == "strategy" else value
                                            for key, value in layer.items() if value is not None})
        return settings


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    document = read_json(path, "config")
    patch = dict(document.get("patch", {}))
    containers = patch.pop("containers", {})
    return Config(patch_defaults=patch, patch_containers=containers,
                  verify=document.get("verify", {}))
