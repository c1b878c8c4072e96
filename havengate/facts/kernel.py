"""Kernel release strings (``uname -r``) to an OpenVZ family and CPU-visibility regime.

Patterns come from real uname outputs (reference/openvz.md §6.1). A release that matches
none of them is UNRECOGNISED: the gate never assumes an unknown kernel is safe.
"""

from __future__ import annotations

import re

from havengate.facts.model import CpuVisibility, Kernel, KernelFamily

# Proxmox KREL -> OpenVZ build, from the pve-kernel-2.6.32 Makefile history. A -pve
# release string does not carry the OpenVZ version itself.
PVE_2632_OPENVZ_BUILD = {
    6: "042stab029.1-045.1",
    7: "042stab046.1-049.6",
    10: "042stab049.6",
    11: "042stab053.5",
    12: "042stab055.4/055.10",
    13: "042stab055.16/057.1",
    14: "042stab059.7-061.9",
    16: "042stab062.2/063.2",
    17: "042stab068.8",
    18: "042stab072.10",
    19: "042stab075.2",
    20: "042stab076.7",
    21: "042stab078.x",
    22: "042stab078.x",
    26: "042stab081.3",
    30: "042stab090.5",
    34: "042stab094.8",
    37: "042stab105.14",
    42: "042stab111.12",
}

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_RHEL6_042STAB = re.compile(r"^2\.6\.32-(042stab\d+\.\d+)")
_RHEL5_028STAB = re.compile(r"^2\.6\.18-(?:[\d.]+\.el5\.)?(028stab\d+\.\d+)")
_OVZ_NEW_STYLE = re.compile(r"^2\.6\.(\d+)-(ovz\d+\.\d+)")
_PVE = re.compile(r"^2\.6\.(18|24|32)-(\d+)-pve$")
_DEBIAN_OPENVZ = re.compile(r"^2\.6\.(\d+)-\d+-openvz-(amd64|686)$")

_FAMILY_BY_MINOR = {
    18: (KernelFamily.OVZ_2618, CpuVisibility.VIRTUAL_CPUS),
    24: (KernelFamily.OVZ_2624, CpuVisibility.ALL_HOST_CPUS),
    32: (KernelFamily.OVZ_2632, CpuVisibility.CPUS_LIMITED),
}


def parse_kernel_release(text: str) -> Kernel:
    """Classify a kernel release; unknown strings give UNRECOGNISED, never an exception."""
    release = text.strip()
    version = _base_version(release)

    if match := _RHEL6_042STAB.match(release):
        return _openvz(release, version, 32, match.group(1), "OpenVZ RHEL6 kernel")
    if match := _RHEL5_028STAB.match(release):
        return _openvz(release, version, 18, match.group(1), "OpenVZ RHEL5 kernel")
    if match := _PVE.fullmatch(release):
        minor, krel = int(match.group(1)), int(match.group(2))
        build = PVE_2632_OPENVZ_BUILD.get(krel) if minor == 32 else None
        return _openvz(release, version, minor, build, f"Proxmox VE kernel {release}")
    if match := _DEBIAN_OPENVZ.fullmatch(release):
        minor = int(match.group(1))
        if minor in _FAMILY_BY_MINOR:
            return _openvz(release, version, minor, None, f"Debian OpenVZ kernel {release}")
    if match := _OVZ_NEW_STYLE.match(release):
        minor = int(match.group(1))
        if minor in _FAMILY_BY_MINOR:
            return _openvz(release, version, minor, match.group(2), "OpenVZ kernel")

    return Kernel(
        release=release,
        family=KernelFamily.UNRECOGNISED,
        visibility=CpuVisibility.UNKNOWN,
        version=version,
        openvz_build=None,
        flavour="not a kernel havengate recognises as OpenVZ",
    )


def _openvz(
    release: str,
    version: tuple[int, int, int] | None,
    minor: int,
    build: str | None,
    flavour: str,
) -> Kernel:
    family, visibility = _FAMILY_BY_MINOR[minor]
    return Kernel(
        release=release,
        family=family,
        visibility=visibility,
        version=version,
        openvz_build=build,
        flavour=flavour,
    )


def _base_version(release: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(release)
    if not match:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)
