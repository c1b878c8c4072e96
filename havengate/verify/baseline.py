"""Baselines: every TCP port a container listened on before the move, with its program,
recorded by ``check`` on the control host and expected again by ``verify``."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from havengate import __version__
from havengate.documents import validate
from havengate.errors import StateError
from havengate.facts.model import Container, NodeFacts, OpenPort
from havengate.model import Unknown
from havengate.state import write_json_atomically

BASELINE_SCHEMA_ID = "havengate.baseline/1"


def baseline_document(source_host: str, container: Container, ports: tuple[OpenPort, ...],
                      source_node: str | None = None) -> dict[str, Any]:
    conf = container.conf
    addresses = (conf.values.get("IP_ADDRESS", "").split()
                 if not isinstance(conf, Unknown) else [])
    document = {
        "schema": BASELINE_SCHEMA_ID,
        "tool": "havengate",
        "version": __version__,
        "ctid": container.ctid,
        "source_host": source_host,
        "source_node": source_node,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hostname": container.hostname,
        "ip_addresses": addresses,
        "cpus_seen": None if isinstance(container.cpus_seen, Unknown) else container.cpus_seen,
        "ports": [{"family": p.family, "address": p.address, "port": p.port,
                   "program": p.program, "java": p.java} for p in ports],
        "java_ports": [{"family": p.family, "address": p.address, "port": p.port}
                       for p in ports if p.java],
    }
    validate(document, "baseline", f"baseline of CT {container.ctid}")
    return document


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def node_directory(name: str) -> str:
    """A node's name as one directory name (never a path, never hidden)."""
    return name if _SAFE_NAME.fullmatch(name) else re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")


def baseline_path(state_dir: Path, node: str, ctid: str) -> Path:
    """STATE_DIR/baselines/NODE/CTID.json: two sources with a CT 101 never collide."""
    return state_dir / "baselines" / node_directory(node) / f"{ctid}.json"


def record_baselines(state_dir: Path, source: NodeFacts, containers: list[Container]) -> list[Path]:
    """One baseline per running container whose listening ports were read; returns the files.

    Keyed by the source's own name (uname -n), else by the name it was reached by."""
    written = []
    node = source.nodename or source.host
    for container in containers:
        ports = container.listening
        path = baseline_path(state_dir, node, container.ctid)
        if not container.running or isinstance(ports, Unknown):
            # "no ports" must never stand for "ports unknown"; nor may an older baseline
            # stand for this run's: verify then has nothing to go on, and says so
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StateError(f"cannot remove the stale baseline {path}: "
                                 f"{exc.strerror or exc}") from exc
            continue
        write_json_atomically(path, baseline_document(source.host, container, ports,
                                                      source.nodename))
        written.append(path)
    return written


