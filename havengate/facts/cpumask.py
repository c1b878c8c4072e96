"""CPUMASK values as vzctl's ``bitmap_parse()`` accepts them (reference/openvz.md §1.2)."""

from __future__ import annotations

import re

from havengate.facts.model import CpuMask

MAX_CPUS = 4096  # vzctl >= 4.7 bitmap size; larger numbers are rejected (ERANGE)
_GRAMMAR = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*,?$")


class MaskError(ValueError):
    """A CPUMASK vzctl would reject."""


def parse_cpumask(text: str) -> CpuMask:
    """``all`` or ``0``, ``0-3``, ``0,2,4-6`` (a trailing comma is accepted, as vzctl does)."""
    if text == "all":
        return CpuMask(text=text, cpus=None)
    if text == "auto":
        raise MaskError("'auto' needs NODEMASK and vzctl >= 4.8; havengate cannot tell its CPUs")
    if not _GRAMMAR.fullmatch(text):
        raise MaskError("not 'all' nor a list of CPU numbers and ranges like 0,2-3")
    cpus: set[int] = set()
    for item in filter(None, text.split(",")):
        first, _, last = item.partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise MaskError(f"range {item} runs backwards")
        if high >= MAX_CPUS:
            raise MaskError(f"CPU {high} is beyond the {MAX_CPUS}-bit mask vzctl keeps")
        cpus.update(range(low, high + 1))
    return CpuMask(text=text, cpus=tuple(sorted(cpus)))

