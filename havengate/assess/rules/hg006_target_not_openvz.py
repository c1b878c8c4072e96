"""HG006: the target is not an OpenVZ node (no vzctl).

Rationale: vzmigrate needs vzctl on the destination to register and start the container.

Evidence: the target's vzctl (not installed) and kernel.

Fix: install OpenVZ on the target, or name the right node.

Example: a plain Debian host as target -> error.
"""

from __future__ import annotations

from havengate.facts.model import Container, KernelFamily, NodeFacts
from havengate.model import Finding, Phase, Severity, Unknown

id = "HG006"
title = "target is not an OpenVZ node"
severity = Severity.ERROR
phase = Phase.PRE_MOVE


def check(source: NodeFacts, target: NodeFacts, container: Container) -> list[Finding]:
    if isinstance(target.vzctl_version, Unknown):
        return [Finding(
            ctid=container.ctid, rule=id, severity=Severity.UNKNOWN,
            message=f"vzctl on the target could not be asked: {target.vzctl_version.reason}",
            missing=("target-facts",),
        )]
    if target.vzctl_version is not None:
        return []
    kernel = target.kernel
    kernel_words = (
        "" if isinstance(kernel, Unknown) or kernel.family != KernelFamily.UNRECOGNISED
        else f" and its kernel {kernel.release} is not an OpenVZ kernel"
    )
    return [Finding(
        ctid=container.ctid, rule=id, severity=severity,
        message=f"target {target.host} has no vzctl{kernel_words}: it cannot run the container",
    )]
