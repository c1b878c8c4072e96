"""The configuration file: defaults for the options, per-container overrides, node access.

Looked up in order: ``--config FILE``, ``$HAVENGATE_CONFIG``, ``~/.config/havengate/config.yaml``,
``/etc/havengate/config.yaml``; YAML or JSON, validated against schemas/config.schema.json
before anything runs (an error names the file, the line and the key path).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from havengate.act.plan import PatchSettings, Strategy
from havengate.documents import read_yaml_or_json
from havengate.errors import DocumentError
from havengate.transport.address import NodeEntry

ENVIRONMENT = "HAVENGATE_CONFIG"
USER_FILE = Path("~/.config/havengate/config.yaml")
SYSTEM_FILE = Path("/etc/havengate/config.yaml")


@dataclass(frozen=True)
class Config:
    patch_defaults: dict[str, Any] = field(default_factory=dict)
    patch_containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)  # {"containers": {CTID: checks}}
    defaults: dict[str, Any] = field(default_factory=dict)  # option name -> value
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> access
    source: Path | None = None  # the file it came from (None: built-in defaults only)

    def patch_settings(self, ctid: str, flags: dict[str, Any]) -> PatchSettings:
        """Built-in defaults < config defaults < flags given < the container's own entry."""
        settings = PatchSettings()
        for layer in (self.patch_defaults, flags, self.patch_containers.get(ctid, {})):
            settings = replace(settings, **{key: Strategy(value) if key == "strategy" else value
                                            for key, value in layer.items() if value is not None})
        return settings

    def node_entries(self) -> Mapping[str, NodeEntry]:
        """Node access for the transports (address, user, port, key) by the operator's names."""
        return {name: NodeEntry(address=entry.get("address"), user=entry.get("user"),
                                port=entry.get("port"), identity_file=entry.get("identity-file"))
                for name, entry in self.nodes.items()}

    def vzmigrate_dest(self, target: str) -> str | None:
        return self.nodes.get(target, {}).get("vzmigrate-dest")


def find_config(explicit: Path | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The file to read: the one named, else the first of the usual places that exists.

    A file named by ``--config`` or ``$HAVENGATE_CONFIG`` must exist (a typo must not
    silently run on built-in defaults); the two usual places are optional."""
    if explicit is not None:
        return explicit
    named = environ.get(ENVIRONMENT)
    if named:
        if not Path(named).is_file():
            raise DocumentError(f"${ENVIRONMENT}={named}: no such file")
        return Path(named)
    for candidate in (USER_FILE.expanduser(), SYSTEM_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    document = read_yaml_or_json(path, "config")
    patch = dict(document.get("patch", {}))
    containers = patch.pop("containers", {})
    return Config(patch_defaults=patch, patch_containers=containers,
                  verify=document.get("verify", {}), defaults=document.get("defaults", {}),
                  nodes=document.get("nodes", {}), source=path)
