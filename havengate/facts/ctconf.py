"""CTID.conf read the way vzctl 3.1+ reads it, with the oddities an operator must hear about.

vzctl's ``parse_line()`` (reference/openvz.md §1.1): backslashes dropped, ``#`` starts a
comment only at the start of a line, the key is everything before the first ``=`` (not
trimmed), a quoted value ends at the *last* ``"`` of the line, the first occurrence of a
key wins except IP_ADDRESS which accumulates. vzmigrate also *sources* the file as sh, so
lines that sh would read differently are reported as problems.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace

from havengate.facts.cpumask import MaskError, parse_cpumask
from havengate.facts.model import ConfProblem, CpuMask, CtConf
from havengate.model import Unknown

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VEID_REF = re.compile(r"\$VEID|\$\{VEID\}")
_ACCUMULATING_KEYS = frozenset({"IP_ADDRESS"})
GLOBAL_CONF_VEID = "$VEID"  # vz.conf is parsed with $VEID left as it is


def parse_ctid_conf(text: str, ctid: str) -> CtConf:
    """Parse CTID.conf text; never raises on odd content, reports it as problems."""
    values: dict[str, str] = {}
    unreadable: dict[str, str] = {}  # keys whose first line vzctl 3.1+ rejects, and why
    trailing: list[str] = []
    problems: list[ConfProblem] = []

    for number, raw in enumerate(text.split("\n"), start=1):
        if "\x00" in raw or any(ord(ch) < 32 and ch not in "\t\r" for ch in raw):
            problems.append(ConfProblem(number, "binary or control characters; line ignored"))
            key = raw.split("=", 1)[0].strip(" \t")
            if "=" in raw and key in ("CPUS", "CPUMASK") and key not in values:
                # vzctl may well read this line (it trims \f, \v): its value is not known.
                unreadable.setdefault(key, f"line {number} has control characters")
            continue
        line = raw.replace("\\", "").strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            problems.append(ConfProblem(number, "no '=' on the line; vzctl skips it"))
            continue
        key, value = line.split("=", 1)
        if not _KEY.fullmatch(key):
            problems.append(
                ConfProblem(number, f"key {key!r} is not a plain name (spaces around '='?); "
                            "vzctl ignores it and sh fails on it")
            )
            continue
        value, value_problem, rejected = _unquote(value)
        if value_problem:
            problems.append(ConfProblem(number, f"{key}: {value_problem}"))
        if rejected:
            if key not in values:
                unreadable.setdefault(key, f"line {number}: {value_problem}")
            continue
        if value_problem and key not in values:
            trailing.append(key)
        problem = _sh_problem(raw)
        if problem:
            problems.append(ConfProblem(number, f"{key}: {problem}"))
        if key in values and key not in _ACCUMULATING_KEYS:
            problems.append(
                ConfProblem(number, f"duplicate {key}; vzctl keeps the first ({values[key]!r})")
            )
            continue
        values[key] = f"{values[key]} {value}".strip() if key in values else value

    return CtConf(
        values=values,
        cpus=_unreadable("CPUS", unreadable) or _cpus(values.get("CPUS")),
        cpumask=_unreadable("CPUMASK", unreadable) or _cpumask(values.get("CPUMASK")),
        ve_private=_expand_veid(values.get("VE_PRIVATE"), ctid),
        ve_root=_expand_veid(values.get("VE_ROOT"), ctid),
        problems=tuple(problems),
        trailing_text=tuple(trailing),
        text=text,
    )


CPU_KEYS = ("CPUS", "CPUMASK")


def on_node(conf: CtConf | Unknown, vz_conf: CtConf | Unknown | None, ctid: str) -> CtConf | Unknown:
    """The container's CPU settings as vzctl applies them on a node: vz.conf, then CTID.conf.

    vzctl parses /etc/vz/vz.conf first and CTID.conf second; ``merge_cpu()`` keeps a
    vz.conf value the container's file does not set. vzmigrate copies only CTID.conf, so
    after a move the *target's* vz.conf fills the gaps, never the source's.
    """
    if isinstance(conf, Unknown):
        return conf
    if conf.inherited:  # merged for another node already: start again from the file's own
        conf = replace(conf, **{name: None for key, name in zip(CPU_KEYS, ("cpus", "cpumask"),
                                                                 strict=True)
                                if key in conf.inherited},
                       inherited=(), trailing_text=tuple(k for k in conf.trailing_text
                                                         if k not in conf.inherited))
    if vz_conf is None:
        return conf
    fields: dict[str, object] = {}
    inherited: list[str] = []
    trailing = list(conf.trailing_text)
    for key, name in zip(CPU_KEYS, ("cpus", "cpumask"), strict=True):
        if _sets(conf, key, name):
            continue  # the container's own line (or its unreadable one) decides
        if isinstance(vz_conf, Unknown):
            fields[name] = Unknown(f"{key} is not in {ctid}.conf and the node's /etc/vz/vz.conf, "
                                   f"which would supply it, is unknown: {vz_conf.reason}")
            continue
        if key in vz_conf.values or isinstance(getattr(vz_conf, name), Unknown):
            fields[name] = getattr(vz_conf, name)
            inherited.append(key)
            if key in vz_conf.trailing_text:
                trailing.append(key)
    if not fields:
        return conf
    return replace(conf, **fields, inherited=tuple(inherited), trailing_text=tuple(trailing))


def _sets(conf: CtConf, key: str, name: str) -> bool:
    """Does the container's own file set ``key`` as vzctl reads it? An empty CPUMASK is an
    invalid value vzctl skips (vz.conf's then applies); an empty CPUS means 0, all CPUs."""
    if isinstance(getattr(conf, name), Unknown):
        return True
    return key in conf.values and (key != "CPUMASK" or conf.values[key] != "")


def setting_text(conf: CtConf | Unknown, key: str) -> str:
    """A CPU setting as an operator reads it: ``1``, ``unset``, ``?``, ``0 (vz.conf)``."""
    if isinstance(conf, Unknown):
        return "?"
    value = conf.cpus if key == "CPUS" else conf.cpumask
    if isinstance(value, Unknown):
        return "?"
    if value is None:
        text = "unset" if key == "CPUMASK" or "CPUS" not in conf.values else conf.values["CPUS"]
    else:
        text = str(value) if key == "CPUS" else value.text
    return f"{text} (vz.conf)" if key in conf.inherited else text


def _unreadable(key: str, unreadable: dict[str, str]) -> Unknown | None:
    """A key whose first line vzctl rejects: its effective value cannot be told."""
    return Unknown(f"{key} {unreadable[key]}") if key in unreadable else None


def _unquote(value: str) -> tuple[str, str | None, bool]:
    """vzctl 3.1+: a value starting with '"' ends at the last '"' on the line.

    Returns (value, problem, rejected): vzctl 3.1+ refuses a line whose quote never closes.
    """
    if not value.startswith('"'):
        return value, None, False
    end = value.rfind('"')
    if end == 0:
        return value[1:], "unbalanced quote (vzctl rejects the line)", True
    trailing = value[end + 1 :].strip()
    note = (
        f"text after the closing quote ({trailing!r}): vzctl >= 3.1 ignores it, "
        "vzctl <= 3.0 keeps it in the value"
        if trailing
        else None
    )
    return value[1:end], note, False


def _sh_problem(raw: str) -> str | None:
    """Would ``. CTID.conf`` (vzmigrate) choke on or misread this line?"""
    try:
        words = shlex.split(raw, comments=True, posix=True)
    except ValueError as exc:
        return f"sh cannot read this line ({exc}); vzmigrate sources the file"
    if "$(" in raw or "`" in raw:
        return "command substitution: sh would run it when vzmigrate sources the file"
    if len(words) > 1:
        return "sh reads more than one word here (unquoted space?); vzmigrate sources the file"
    return None


def _cpus(text: str | None) -> int | Unknown | None:
    if text is None or text == "":
        return None
    if not text.isdigit():
        return Unknown(f"CPUS={text!r} is not an unsigned integer")
    count = int(text)
    return None if count == 0 else count


def _cpumask(text: str | None) -> CpuMask | Unknown | None:
    if text is None or text == "":
        return None
    try:
        return parse_cpumask(text)
    except MaskError as exc:
        return Unknown(f"CPUMASK={text!r}: {exc}")


def _expand_veid(path: str | None, ctid: str) -> str | None:
    """subst_VEID(): the first $VEID / ${VEID} is replaced, trailing '/' stripped."""
    if path is None:
        return None
    return _VEID_REF.sub(ctid, path, count=1).rstrip("/") or "/"
