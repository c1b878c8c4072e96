"""Go tokens: what the node-side `vzmigrate` gate (hooks/vzmigrate) needs to let a move
through. Written over SSH on the source by ``check`` (and ``migrate``) for each container
that is go or patched: /var/lib/havengate/go/CTID with the destination, an expiry, the
sha256 of CTID.conf as it is now, and the report's id. A fixed script; values quoted."""

from __future__ import annotations

from havengate.act.plan import conf_path
from havengate.errors import RemoteWriteError
from havengate.quoting import shell_command, validate_ctid
from havengate.transport.base import Transport

GO_DIR = "/var/lib/havengate/go"
DEFAULT_TTL = 3600  # seconds a go stays good: the conf may change, the target too

_WRITE = r"""
dir=$1 ctid=$2 dest=$3 ttl=$4 report=$5 conf=$6
umask 022
mkdir -p "$dir" || exit 3
sha=$(sha256sum <"$conf" | cut -d' ' -f1) && [ -n "$sha" ] || exit 3
expires=$(( $(date +%s) + ttl ))
tmp="$dir/.$ctid.new"
printf 'dest=%s\nexpires=%s\nconf_sha256=%s\nreport=%s\n' "$dest" "$expires" "$sha" \
    "$report" >"$tmp" && mv -f "$tmp" "$dir/$ctid" || { rm -f "$tmp"; exit 3; }
"""


def write_go_token(transport: Transport, ctid: str, destination: str, report_id: str, *,
                   ttl: int = DEFAULT_TTL) -> None:
    if "\n" in destination or "=" in report_id or "\n" in report_id:
        raise ValueError("a go token's values are single lines")
    result = transport.run(shell_command(
        "sh", "-c", _WRITE, "havengate-go", GO_DIR, validate_ctid(ctid), destination,
        str(int(ttl)), report_id, conf_path(ctid)), timeout=60)
    if result.exited != 0:
        last = (result.stderr.strip().splitlines() or [f"exit {result.exited}"])[-1]
        raise RemoteWriteError(f"{transport.name}: cannot write the go token of CT {ctid}: "
                               f"{last}")
