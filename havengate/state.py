"""The state directory: baselines now (journal later), written so nothing is half-written."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from havengate import __version__
from havengate.documents import validate
from havengate.errors import HavengateError
from havengate.facts.model import Container, Unknown

DEFAULT_STATE_DIR = Path("/var/lib/havengate")
BASELINE_SCHEMA_ID = "havengate.baseline/1"


class StateError(HavengateError):
    """The state directory cannot be written."""

    exit_code = 2


def baseline_document(source_host: str, container: Container,
                      ports: tuple[tuple[str, str, int], ...]) -> dict[str, Any]:
    conf = container.conf
    addresses = (conf.values.get("IP_ADDRESS", "").split()
                 if not isinstance(conf, Unknown) else [])
    document = {
        "schema": BASELINE_SCHEMA_ID,
        "tool": "havengate",
        "version": __version__,
        "ctid": container.ctid,
        "source_host": source_host,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hostname": container.hostname,
        "ip_addresses": addresses,
        "cpus_seen": None if isinstance(container.cpus_seen, Unknown) else container.cpus_seen,
        "java_ports": [{"family": family, "address": address, "port": port}
                       for family, address, port in ports],
    }
    validate(document, "baseline", f"baseline of CT {container.ctid}")
    return document


def record_baselines(state_dir: Path, source_host: str, containers: list[Container]) -> list[Path]:
    """One baseline per running container whose ports were read; returns the files."""
    written = []
    for container in containers:
        ports = container.java_ports()
        if not container.running or isinstance(ports, Unknown):
            continue  # "no ports" must never stand for "ports unknown"
        path = state_dir / "baselines" / f"{container.ctid}.json"
        write_json_atomically(path, baseline_document(source_host, container, ports))
        written.append(path)
    return written


def write_json_atomically(path: Path, document: Any) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
    try:
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=2)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror or exc}") from exc
