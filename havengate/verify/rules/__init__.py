"""Post-move rules (HG1xx): why a container did not come back after the move.

Each is a small module (``id``, ``title``, ``severity``, ``phase``, a docstring with the
rationale, evidence, fixes and an example, one ``check(PostMove)``), listed in one
explicit tuple; ``havengate rules`` lists them with the pre-move ones.
"""

from havengate.verify.rules import (
    hg100_unassessable,
    hg101_futex_hang,
    hg102_no_jvm,
    hg103_other_port,
    hg104_loopback_only,
    hg105_no_connect,
    hg106_http,
    hg107_container_missing,
    hg108_no_port,
)

RULES = (
    hg100_unassessable,
    hg101_futex_hang,
    hg102_no_jvm,
    hg103_other_port,
    hg104_loopback_only,
    hg105_no_connect,
    hg106_http,
    hg107_container_missing,
    hg108_no_port,
)
