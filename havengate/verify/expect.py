"""What must be true after the move: the ports a container's JVMs listened on before it
(the baseline ``check`` recorded), plus the TCP and HTTP checks of the config file."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from havengate.documents import read_json
from havengate.errors import UsageError
from havengate.quoting import validate_ctid
from havengate.verify.baseline import node_directory

LOOPBACK = ("127.", "::1", "::ffff:127.")


@dataclass(frozen=True)
class HttpCheck:
    url: str
    status: tuple[int, int] = (200, 399)  # accepted range, inclusive
    body: str | None = None  # a substring the body must contain
    timeout: float = 5.0


@dataclass(frozen=True)
class Expectation:
    ctid: str
    ports: tuple[int, ...]  # TCP ports something must listen on again, reachable from outside
    addresses: tuple[str, ...]  # the container's IPs, for connects from the node
    http: tuple[HttpCheck, ...]
    source: str  # where it came from, said in the report
    local_ports: tuple[int, ...] = ()  # listened on loopback only before: same again is fine
    programs: tuple[tuple[int, str], ...] = ()  # port -> who listened there before the move
    java_ports: tuple[int, ...] = ()  # the ports a JVM held before: a hang is diagnosed there

    def program(self, port: int) -> str | None:
        return dict(self.programs).get(port)

    def java_port(self, port: int) -> bool:
        """Held by a JVM before the move, or by nobody we know of (a --config port): a
        port a JVM should open, where a missing JVM or a hang is the diagnosis."""
        return port in self.java_ports or port not in dict(self.programs)


def load_expectations(ctids: tuple[str, ...], state_dir: Path, baselines: tuple[Path, ...],
                      config: dict[str, Any], source_node: str | None = None) -> list[Expectation]:
    """One expectation per container; a container with nothing to check is a usage error."""
    documents = {doc["ctid"]: (doc, str(path)) for path in baselines
                 for doc in [read_json(path, "baseline")]}
    configured = config.get("containers", {})
    found = _baselines_in(state_dir, source_node)
    if not ctids:
        ctids = tuple(sorted(set(documents) | set(configured) | set(found), key=int))
        if not ctids:
            raise UsageError(f"nothing to verify: no baselines in {state_dir / 'baselines'} and "
                             "no containers in --config (run `havengate check` before the move)")
    expectations = []
    for ctid in ctids:
        document, origin = documents.get(ctid, (None, ""))
        if document is None and ctid in found:
            path = _one(ctid, found[ctid])
            document, origin = read_baseline(path), str(path)
        checks = configured.get(ctid, {})
        if document is None and not checks:
            raise UsageError(f"CT {ctid}: no baseline in {state_dir / 'baselines'} and no checks "
                             "in --config: nothing to verify (run `havengate check` before the "
                             "move)")
        expectations.append(_expectation(ctid, document, origin, checks))
    return expectations


def _expectation(ctid: str, document: dict[str, Any] | None, origin: str,
                 checks: dict[str, Any]) -> Expectation:
    # Baselines since every port was recorded have "ports"; older ones only "java_ports".
    recorded = (document.get("ports", document["java_ports"]) if document else [])
    java = {p["port"] for p in recorded if p.get("java", "ports" not in (document or {}))}
    local = {p["port"] for p in recorded} - {
        p["port"] for p in recorded if not p["address"].startswith(LOOPBACK)}
    ports = ({p["port"] for p in recorded} - local) | set(checks.get("tcp", []))
    addresses = [a.split("/")[0] for a in (document or {}).get("ip_addresses", [])]
    addresses += checks.get("addresses", [])
    programs = {p["port"]: p.get("program") or ("java" if p["port"] in java else "?")
                for p in recorded}
    return Expectation(
        ctid=ctid,
        ports=tuple(sorted(ports)),
        local_ports=tuple(sorted(local - ports)),
        addresses=tuple(dict.fromkeys(_normal(a) for a in addresses if _normal(a))),
        http=tuple(HttpCheck(url=h["url"], status=tuple(h.get("status", (200, 399))),
                             body=h.get("body"), timeout=float(h.get("timeout", 5.0)))
                   for h in checks.get("http", [])),
        source=" + ".join(filter(None, [origin, "config" if checks else ""])),
        programs=tuple(sorted(programs.items())),
        java_ports=tuple(sorted(java)),
    )


def _baselines_in(state_dir: Path, source_node: str | None) -> dict[str, list[Path]]:
    """CTID -> its baseline files: STATE_DIR/baselines/NODE/CTID.json, and the older
    STATE_DIR/baselines/CTID.json (read as before)."""
    root = state_dir / "baselines"
    if source_node is not None:
        paths = list((root / node_directory(source_node)).glob("*.json"))
    else:
        paths = [*root.glob("*.json"), *root.glob("*/*.json")]
    found: dict[str, list[Path]] = {}
    for path in sorted(paths):
        if not path.name.startswith("."):
            found.setdefault(_ctid_of(path), []).append(path)
    return found


def _one(ctid: str, paths: list[Path]) -> Path:
    if len(paths) == 1:
        return paths[0]
    sources = ", ".join(p.parent.name if p.parent.name != "baselines" else "(old layout)"
                        for p in paths)
    raise UsageError(f"CT {ctid} has baselines from several sources ({sources}): name the one "
                     "it moved from with --from NODE, or give --baseline FILE")


def _ctid_of(path: Path) -> str:
    """A baseline in the state directory is named CTID.json, CTID as vzctl writes it."""
    try:
        return validate_ctid(path.stem)
    except UsageError:
        raise UsageError(f"{path}: not a baseline name havengate writes (CTID.json, e.g. "
                         "101.json); move it out of the baselines directory") from None


def read_baseline(path: Path) -> dict[str, Any]:
    """A state-directory baseline; the CT it names must be the CT of its file name."""
    document = read_json(path, "baseline")
    if document["ctid"] != _ctid_of(path):
        raise UsageError(f"{path}: records CT {document['ctid']}, not CT {path.stem}: "
                         "it would check the wrong container; move it aside")
    return document


def _normal(text: str) -> str | None:
    """The address as the probe will name it (``2001:DB8::5`` -> ``2001:db8::5``)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
