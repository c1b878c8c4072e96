"""What a patch will change, decided without touching a node (pure, so --dry-run is exact).

The fix for HG001 goes into the CTID.conf that travels with the container. It is written
the way ``vzctl set … --save`` writes it (reference/openvz.md §1.1 item 8): the *first*
line that starts exactly with ``KEY=`` is replaced by ``KEY="value"``, or the line is
appended; every other byte of the file stays as it was.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from havengate.assess.rules.common import CPUMASK_MIN_VZCTL
from havengate.errors import UsageError
from havengate.facts.cpumask import MaskError, parse_cpumask
from havengate.facts.ctconf import parse_ctid_conf
from havengate.model import Unknown
from havengate.quoting import shell_command, validate_ctid

CONF_DIR = "/etc/vz/conf"
MAX_CONF_BYTES = 64 * 1024  # a CTID.conf is a few KiB; anything larger is not one
MAX_CPUS = 4096  # as schemas/config.schema.json bounds "cpus"


class Strategy(str, enum.Enum):
    CPUMASK = "cpumask"  # pin to one CPU: CPUMASK="0" (default)
    CPUS = "cpus"  # let it see two CPUs: CPUS="2"
    BOTH = "both"  # CPUS="2" and CPUMASK="0", as the field report did for busy containers


class Method(str, enum.Enum):
    VZCTL = "vzctl"  # vzctl set CTID … --save, then verified by re-reading the file
    EDIT = "edit"  # the file rewritten as vzctl would write it (old vzctl, or vzctl lied)


@dataclass(frozen=True)
class PatchSettings:
    strategy: Strategy = Strategy.CPUMASK
    cpumask: str = "0"
    cpus: int = 2

    def validated(self, node_cpus: int | None) -> PatchSettings:
        """Refuse a fix that cannot work before anything is written."""
        if not 1 <= self.cpus <= MAX_CPUS:
            raise UsageError(f"--cpus {self.cpus}: a container needs at least 1 CPU "
                             f"(and at most {MAX_CPUS})")
        try:
            mask = parse_cpumask(self.cpumask)
        except MaskError as exc:
            raise UsageError(f"--cpumask {self.cpumask!r}: {exc}") from exc
        if self.strategy != Strategy.CPUS and node_cpus is not None and mask.cpus is not None:
            absent = [cpu for cpu in mask.cpus if cpu >= node_cpus]
            if absent:
                raise UsageError(f"--cpumask {self.cpumask}: CPU(s) {','.join(map(str, absent))} "
                                 f"do not exist on the target (CPUs 0-{node_cpus - 1})")
        return self

    def values(self) -> dict[str, str]:
        """The CTID.conf values this fix writes."""
        if self.strategy == Strategy.CPUMASK:
            return {"CPUMASK": self.cpumask}
        if self.strategy == Strategy.CPUS:
            return {"CPUS": str(self.cpus)}
        return {"CPUS": str(self.cpus), "CPUMASK": self.cpumask}


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None  # the value vzctl reads now (first occurrence); None when unset
    after: str


@dataclass(frozen=True)
class PatchPlan:
    host: str
    ctid: str
    path: str
    changes: tuple[Change, ...]  # empty: already patched, nothing to do
    method: Method
    previous: bytes
    intended: bytes  # the file after the patch, byte for byte

    @property
    def needed(self) -> bool:
        return bool(self.changes)

    @property
    def vzctl_command(self) -> str:
        return vzctl_set_command(self.ctid, {c.key: c.after for c in self.changes})


def conf_path(ctid: str) -> str:
    return f"{CONF_DIR}/{validate_ctid(ctid)}.conf"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vzctl_set_command(ctid: str, values: dict[str, str]) -> str:
    options = []
    for key in ("CPUS", "CPUMASK"):
        if key in values:
            options += [f"--{key.lower()}", values[key]]
    return shell_command("vzctl", "set", validate_ctid(ctid), *options, "--save")


def rewrite_conf(previous: bytes, values: dict[str, str]) -> bytes:
    """The file as ``vzctl set --save`` writes it: first ``KEY=`` line replaced, else appended.

    One deliberate difference: vzctl's parser skips leading blanks, but ``--save`` only
    matches a line that *starts* with ``KEY=``; after an indented ``  KEY=...`` it appends a
    line the parser then ignores as a duplicate. The line vzctl reads is the one replaced here.
    """
    lines = previous.split(b"\n")
    trailing_newline = previous.endswith(b"\n") or not previous
    if lines and lines[-1] == b"":
        lines.pop()
    for key, value in values.items():
        if '"' in value or "\n" in value or "\\" in value:
            raise UsageError(f"{key} value {value!r} cannot be written into CTID.conf")
        new_line = f'{key}="{value}"'.encode()
        prefix = f"{key}=".encode()
        for index, line in enumerate(lines):
            if line.lstrip(b" \t").startswith(prefix):
                lines[index] = new_line + (b"\r" if line.endswith(b"\r") else b"")
                break
        else:
            lines.append(new_line)
            trailing_newline = True
    return b"\n".join(lines) + (b"\n" if trailing_newline else b"")


def plan_patch(host: str, ctid: str, previous: bytes, settings: PatchSettings,
               vzctl_version: tuple[int, ...] | Unknown | None) -> PatchPlan:
    """Compare what vzctl reads now with what the fix needs; the plan says what changes."""
    if len(previous) > MAX_CONF_BYTES:
        raise UsageError(f"{conf_path(ctid)} is {len(previous)} bytes: not a CTID.conf")
    conf = parse_ctid_conf(previous.decode("utf-8", "replace"), ctid)
    wanted = settings.values()
    changes = tuple(
        Change(key=key, before=conf.values.get(key), after=value)
        for key, value in wanted.items()
        if not _already(conf, key, value)
    )
    intended = rewrite_conf(previous, {c.key: c.after for c in changes}) if changes else previous
    return PatchPlan(
        host=host, ctid=ctid, path=conf_path(ctid), changes=changes,
        method=_method(vzctl_version, tuple(c.key for c in changes)),
        previous=previous, intended=intended,
    )


def _already(conf, key: str, value: str) -> bool:
    """Is the value vzctl would read already the one we want (also for a rejected line)?"""
    if key == "CPUS":
        return isinstance(conf.cpus, int) and str(conf.cpus) == value
    current = conf.cpumask
    if current is None or isinstance(current, Unknown):
        return False
    return current.cpus == parse_cpumask(value).cpus


def _method(version: tuple[int, ...] | Unknown | None, keys: tuple[str, ...]) -> Method:
    """vzctl where it knows every option; otherwise the file is edited directly."""
    if not isinstance(version, tuple):
        return Method.EDIT
    if "CPUMASK" in keys and version < CPUMASK_MIN_VZCTL:
        return Method.EDIT
    return Method.VZCTL


def satisfied(current: bytes, ctid: str, settings: PatchSettings) -> bool:
    """Does the file, as vzctl reads it, now hold every value of the fix?"""
    conf = parse_ctid_conf(current.decode("utf-8", "replace"), ctid)
    return all(_already(conf, key, value) for key, value in settings.values().items())
