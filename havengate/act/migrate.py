"""Move one container: ``vzmigrate`` run on the source node, its output streamed line by
line, its exit code read as vzmigrate means it (reference/openvz.md §4.3).

vzmigrate has no hooks of its own: havengate runs the gate before it and the verification
after it (api.migrate). A vzmigrate already running is never killed half-way by havengate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from havengate.errors import UsageError
from havengate.quoting import shell_command, validate_ctid
from havengate.transport.address import validate_host
from havengate.transport.base import Transport

MIGRATE_TIMEOUT = 24 * 3600.0  # a big container's rsync takes hours; vzmigrate bounds itself

# MIG_ERR_* of vzmigrate (bin/vzmigrate.in, 3.0.x to 4.x)
MEANINGS = {
    0: "moved",
    1: "usage error (vzmigrate refused its arguments)",
    2: "the container is stopped: a live migration cannot move it",
    4: "cannot connect to the destination (ssh root@DEST)",
    6: "copying the container failed",
    7: "the container did not start (or restore) on the destination",
    8: "the container did not stop (or checkpoint) on the source",
    9: "the container already exists on the destination",
    10: "the container does not exist (or vz.conf is unreadable)",
    12: "the container's IP address is in use on the destination",
    13: "disk quota error",
    14: "OpenVZ is not running (or cpt/rst/ipv6 modules are missing)",
    15: "applying the configuration on the destination failed",
    16: "ploop is not supported on the destination",
    17: "the checkpoint image version is not supported on the destination",
    20: "the container is locked (another vzctl or vzmigrate works on it)",
}


@dataclass(frozen=True)
class Moved:
    exit_code: int
    meaning: str
    last_lines: tuple[str, ...]  # what vzmigrate said last, for the report

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


# vzmigrate runs detached from our SSH session: its output goes to a log on the node that
# the session follows, and it ignores SIGHUP and SIGPIPE. A havengate that is interrupted
# or killed (or a dropped connection) never kills a move half-way; vzmigrate finishes.
_DETACHED = r"""
log=$(mktemp /tmp/havengate-vzmigrate.XXXXXXXX) || exit 70
trap '' HUP PIPE
"$@" >"$log" 2>&1 &
child=$!
tail -n +1 -s 0.1 --pid="$child" -f "$log" 2>/dev/null &
follower=$!
wait "$child"
rc=$?
wait "$follower" || cat "$log"
rm -f "$log"
exit "$rc"
"""
# tail --pid (coreutils >= 5.3; lenny has 6.10) prints what is left and ends within 0.1 s of
# vzmigrate's exit: no fixed sleep per container. A tail without --pid fails at once; then
# the whole log is printed at the end instead of line by line.


def vzmigrate_command(ctid: str, destination: str, *, online: bool = False,
                      extra: tuple[str, ...] = ()) -> str:
    """``vzmigrate [--online] [extra...] DEST CTID``, detached from the session, every word
    quoted; the destination is a host (never an option), the CTID a number."""
    if destination.startswith("-"):
        raise UsageError(f"destination {destination!r} looks like an option")
    validate_host(destination)
    return shell_command("sh", "-c", _DETACHED, "havengate-vzmigrate", "vzmigrate",
                         *(["--online"] if online else []), *extra, destination,
                         validate_ctid(ctid))


def move(transport: Transport, ctid: str, destination: str, *, online: bool = False,
         extra: tuple[str, ...] = (), line: Callable[[str], None] = lambda _: None,
         timeout: float = MIGRATE_TIMEOUT) -> Moved:
    said: list[str] = []

    def each(text: str) -> None:
        said.append(text)
        line(text)

    result = transport.stream(vzmigrate_command(ctid, destination, online=online, extra=extra),
                              timeout=timeout, line=each)
    meaning = MEANINGS.get(result.exited, f"vzmigrate failed (exit {result.exited})")
    if result.exited == 127:
        meaning = "vzmigrate is not installed on the source"
    return Moved(result.exited, meaning, tuple(said[-5:]))
