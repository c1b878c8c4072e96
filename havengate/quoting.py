"""Quote in one place: every value that reaches a remote shell passes through here."""

from __future__ import annotations

import re
import shlex

from havengate.errors import UsageError

# vzctl takes numeric CTIDs (names are resolved by vzlist); 0 is the host itself.
_CTID = re.compile(r"^[1-9][0-9]{0,9}$")


def validate_ctid(ctid: str) -> str:
    """A CTID as vzctl accepts it; anything else is refused before it reaches a shell."""
    if not isinstance(ctid, str) or not _CTID.fullmatch(ctid) or int(ctid) > 2**32 - 1:
        raise UsageError(f"invalid CTID {ctid!r}: expected a container number such as 101")
    return ctid


def shell_command(*argv: str) -> str:
    """A command line whose words reach the program exactly as given."""
    return " ".join(shlex.quote(arg) for arg in argv)
