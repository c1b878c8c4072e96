"""The few fixed scripts that read and replace CTID.conf on a node, byte for byte.

Every value reaches them as a quoted argument; the scripts never change per call. Bytes
travel base64-encoded so nothing on the way (locale, shell, SSH) can alter them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from havengate.errors import ConcurrentChange, ProbeError, RemoteWriteError
from havengate.quoting import shell_command
from havengate.transport.base import Transport

COMMAND_TIMEOUT = 60.0

_READ = r"""
f=$1
if [ -L "$f" ]; then echo "$f is a symlink: havengate edits only a regular CTID.conf" >&2; exit 3; fi
[ -f "$f" ] || { echo "$f does not exist or is not a regular file" >&2; exit 14; }
stat -c '%a %u %g' "$f" || exit 3
echo ---
base64 <"$f" || exit 3
"""

# Write the new bytes beside the file (same filesystem, so the rename is atomic), with the
# old file's owner and mode, flushed to disk before anything else happens.
_STAGE = r"""
tmp=$1 mode=$2 uid=$3 gid=$4 data=$5
umask 077
rm -f "$tmp"
printf '%s' "$data" | base64 -d >"$tmp" || { rm -f "$tmp"; exit 3; }
chown "$uid:$gid" "$tmp" && chmod "$mode" "$tmp" || { rm -f "$tmp"; exit 3; }
sync "$tmp" 2>/dev/null || sync
"""

# Compare-and-swap: replace the file only if it still holds the bytes we read, and only
# with exactly the bytes we staged.
_COMMIT = r"""
tmp=$1 f=$2 expected=$3 staged=$4
current=$(sha256sum <"$f" | cut -d' ' -f1) || exit 3
if [ "$current" != "$expected" ] || [ -L "$f" ]; then
    rm -f "$tmp"
    echo "$f changed since havengate read it (sha256 now $current)" >&2
    exit 4
fi
if [ "$(sha256sum <"$tmp" | cut -d' ' -f1)" != "$staged" ]; then
    rm -f "$tmp"
    echo "the staged copy of $f is not what was sent" >&2
    exit 3
fi
mv -f "$tmp" "$f" || { rm -f "$tmp"; exit 3; }
sync "${f%/*}" 2>/dev/null || sync
"""

_DISCARD = r"""rm -f "$1" """


@dataclass(frozen=True)
class ConfFile:
    path: str
    data: bytes
    mode: str
    uid: int
    gid: int


def staging_path(path: str) -> str:
    directory, _, name = path.rpartition("/")
    return f"{directory}/.{name}.havengate-new"


def _run(transport: Transport, script: str, *args: str):
    return transport.run(shell_command("sh", "-c", script, "havengate", *args),
                         timeout=COMMAND_TIMEOUT)


def node_name(transport: Transport) -> str:
    """The node's own name (``uname -n``): the journal's key, whatever alias reached it.

    `local`, `master` and `root@master:22` are one node; keyed by the alias, revert would
    not find a patch made through another one.
    """
    result = transport.run("uname -n", timeout=COMMAND_TIMEOUT)
    name = result.stdout.strip()
    if result.exited != 0 or not name or len(name.split()) != 1:
        return transport.name
    return name


def read_conf(transport: Transport, path: str) -> ConfFile:
    result = _run(transport, _READ, path)
    if result.exited != 0:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exited}"]
        raise ProbeError(f"{transport.name}: cannot read {path}: {reason[0]}")
    head, _, body = result.stdout.partition("\n---\n")
    try:
        mode, uid, gid = head.split()
        data = base64.b64decode("".join(body.split()), validate=True)
        return ConfFile(path=path, data=data, mode=mode, uid=int(uid), gid=int(gid))
    except (ValueError, binascii.Error) as exc:
        raise ProbeError(f"{transport.name}: unreadable answer reading {path}: {exc}") from exc


def stage(transport: Transport, target: ConfFile, data: bytes) -> str:
    """Write ``data`` beside ``target`` (not yet in place); returns the staging path.

    The old mode is kept, but never with write access for group or others, nor setuid,
    setgid or sticky bits: vzmigrate and the init scripts source this file as root.
    """
    staged = staging_path(target.path)
    mode = f"{int(target.mode, 8) & 0o755:o}"
    result = _run(transport, _STAGE, staged, mode, str(target.uid), str(target.gid),
                  base64.b64encode(data).decode())
    if result.exited != 0:
        raise RemoteWriteError(
            f"{transport.name}: cannot write beside {target.path}: "
            f"{_last_line(result.stderr) or f'exit {result.exited}'}; the file is unchanged")
    return staged


def commit(transport: Transport, staged: str, target: ConfFile, expected_sha256: str,
           staged_sha256: str) -> None:
    """Rename the staged file over ``target`` if it still has ``expected_sha256``."""
    result = _run(transport, _COMMIT, staged, target.path, expected_sha256, staged_sha256)
    if result.exited == 4:
        raise ConcurrentChange(f"{transport.name}: {_last_line(result.stderr)}; not written")
    if result.exited != 0:
        raise RemoteWriteError(
            f"{transport.name}: cannot replace {target.path}: "
            f"{_last_line(result.stderr) or f'exit {result.exited}'}; the file is unchanged")


def discard(transport: Transport, path: str) -> None:
    """Remove a staging file an interrupted run left behind."""
    _run(transport, _DISCARD, staging_path(path))


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
