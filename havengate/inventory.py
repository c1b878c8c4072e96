"""Ansible inventories read without Ansible: INI, YAML and ``ansible-inventory --list`` JSON.

``havengate scan --inventory FILE --limit PATTERN`` probes the nodes an operator already
lists for Ansible, so the hosts, groups and variables must be the ones Ansible finds: this
follows ansible-core's code (the ini, yaml and script plugins, InventoryData,
InventoryManager) where it and the docs disagree. What Ansible only warns about and skips
(a misspelt key in a YAML group) is an error here: a node left out is a node not checked.
"""

from __future__ import annotations

import ast
import fnmatch
import ipaddress
import json
import re
import shlex
import stat
import string
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from havengate.errors import DocumentError

MAX_INVENTORY_BYTES = 64 * 1024 * 1024
MAX_RANGE_HOSTS = 100_000  # www[0:99999999] is a typo, not a fleet
YAML_SUFFIXES = (".yml", ".yaml", ".json")  # Ansible's yaml plugin reads .json files too


class InventoryError(DocumentError):
    """The inventory cannot be read, or a --limit pattern selects no host (exit 2)."""


class _Bad(Exception):
    """A problem found below the parsers, which add the file and the line."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    address: str  # the last set of ansible_host, ansible_ssh_host (the ssh plugin's order)
    port: int | None  # likewise ansible_port, ansible_ssh_port
    user: str | None  # likewise ansible_user, ansible_ssh_user
    groups: tuple[str, ...]  # ancestors, "all" and "ungrouped" included; sorted
    vars: Mapping[str, Any] = field(hash=False)  # all < parent < child groups < the host
    identity_file: str | None = None  # ansible_private_key_file, ansible_ssh_private_key_file


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[InventoryHost, ...]  # in order of first appearance, each once
    groups: Mapping[str, tuple[str, ...]] = field(hash=False)  # descendants' hosts included
    source: str

    def host(self, name: str) -> InventoryHost | None:
        return next((host for host in self.hosts if host.name == name), None)

    def select(self, pattern: str | None) -> tuple[InventoryHost, ...]:
        """The hosts ``--limit PATTERN`` keeps, in inventory order, as InventoryManager does:
        unions (``a:b``, ``a,b``), then intersections (``&b``), then exclusions (``!b``),
        whatever their written order. A term is a host, a group, a glob or a ``~regex``
        (matched from the start), with an optional ``[i]``/``[i:j]`` subscript. A term that
        matches nothing only makes Ansible warn; a pattern that keeps no host is an error."""
        if not pattern or not pattern.strip():
            return self.hosts
        terms = _split_pattern(pattern)
        ordered = ([t for t in terms if t[0] not in "&!"] or ["all"]) + \
            [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
        known, chosen = {host.name for host in self.hosts}, dict[str, None]()
        for term in ordered:
            if term in known:  # Ansible's shortcut: a host wins over a group of that name
                chosen[term] = None
                continue
            matched = set(self._match(term[1:] if term[0] in "&!" else term, pattern))
            if term[0] in "&!":
                chosen = {name: None for name in chosen if (name in matched) == (term[0] == "&")}
            else:
                chosen.update(dict.fromkeys(matched))
        if selected := tuple(host for host in self.hosts if host.name in chosen):
            return selected
        raise InventoryError(f"--limit {pattern} matches no host in {self.source}")

    def _match(self, expr: str, pattern: str) -> list[str]:
        subscript = None if expr.startswith("~") else _SUBSCRIPT.fullmatch(expr)
        expr = subscript[1] if subscript else expr
        try:
            regex = re.compile(expr[1:] if expr.startswith("~") else fnmatch.translate(expr))
        except re.error as exc:
            raise InventoryError(f"--limit {pattern}: invalid host pattern {expr!r} ({exc})") from None
        groups = [group for group in self.groups if regex.match(group)]
        found = [name for group in groups for name in self.groups[group]]
        if not groups or expr.startswith("~") or any(c in expr for c in ".?*["):
            found += [host.name for host in self.hosts if regex.match(host.name)]
        found = list(dict.fromkeys(found))
        if not subscript or not found:
            return found
        index, start, _, end = subscript.groups()[1:]
        if index is None:  # as Ansible: [i:] runs to the end and, oddly, [i:0] means [i]
            last = int(end) if end else len(found) - 1
            return found[int(start):(last or int(start)) + 1]
        try:
            return [found[int(index)]]
        except IndexError:
            raise InventoryError(f"--limit {pattern}: no hosts matched the subscripted pattern "
                                 f"{expr}[{index}]") from None


_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]")
_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?")
_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:\w|{_RANGE})(?:[\w-]|{_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.IGNORECASE)  # IPv4 addresses too
_PORTS = (re.compile(r"\[(.+)\]:([0-9]+)"), re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)"))
_DIGITS = re.compile(r"[0-9]+")


def _split_pattern(pattern: str) -> list[str]:
    """Ansible's split_host_pattern: at commas if there is one, else at colons outside
    brackets, unless the whole pattern is one address (``host:port``, an IPv6 address)."""
    if "," in pattern:
        terms = pattern.split(",")
    else:
        terms = [pattern] if _address(pattern) else re.findall(r"(?:[^\s:\[\]]|\[[^\]]*\])+", pattern)
    return [term.strip() for term in terms if term.strip()]


def _address(text: str) -> tuple[str, int | None] | None:
    """Ansible's parse_address: (host, port) of ``host``, ``host:22`` or ``[addr]:22``, or
    None unless the host is a hostname (ranges allowed), an IPv4 or an IPv6 address."""
    address, port = text, None
    for regex in _PORTS:
        if found := regex.fullmatch(address):
            address, port = found[1], int(found[2])
    if not _HOSTNAME.fullmatch(address):
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return None
    return address, port


def _expand(pattern: str) -> list[str]:
    """Ansible's inclusive host ranges: ``www[01:50]`` (widths kept), ``db-[a:f]``, strides
    ``[01:50:2]``, several per name. For ``[05:01]`` Ansible silently makes no host; that
    is a typo, so it is an error here, as Ansible makes it for letters."""
    if "[" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("[")
    inner, closed, tail = rest.partition("]")
    bounds = inner.split(":")
    if not closed or len(bounds) not in (2, 3):
        raise _Bad(f"host range in {pattern!r} must be [begin:end] or [begin:end:step]")
    begin, end, step = bounds[0] or "0", bounds[1], bounds[2] if len(bounds) == 3 else "1"
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    letters = string.ascii_letters
    if not end:
        raise _Bad(f"host range [{inner}] must specify an end value")
    if width and len(end) != width:
        raise _Bad(f"host range [{inner}] must give begin and end with equal widths")
    if not _DIGITS.fullmatch(step) or int(step) < 1:
        raise _Bad(f"host range [{inner}]: the step must be a positive integer")
    if len(begin) == len(end) == 1 and begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
    elif _DIGITS.fullmatch(begin) and _DIGITS.fullmatch(end):
        first, last = int(begin), int(end)
    else:
        raise _Bad(f"host range [{inner}] must be letters (a:f) or digits (01:50), not a mix")
    if first > last:
        raise _Bad(f"host range [{inner}] must have begin <= end")
    if (last - first) // int(step) >= MAX_RANGE_HOSTS:
        raise _Bad(f"host range [{inner}] makes more than {MAX_RANGE_HOSTS} hosts")
    values = (letters[first:last + 1:int(step)] if begin in letters
              else [str(n).zfill(width) for n in range(first, last + 1, int(step))])
    names: list[str] = []
    for value in values:  # checked as it grows: [0:99999][0:99999] must not fill the memory
        names += _expand(head + value + tail)
        if len(names) > MAX_RANGE_HOSTS:
            raise _Bad(f"host range {pattern!r} makes more than {MAX_RANGE_HOSTS} hosts")
    return names


def _name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise _Bad(f"invalid {kind} name {name!r}: a {kind} name is a non-empty string")
    return name


class _Builder:
    """Hosts and groups as Ansible's InventoryData holds them, flattened per host at the end."""

    def __init__(self) -> None:
        self.hostvars: dict[str, dict[str, Any]] = {}
        self.member: dict[str, list[str]] = {}  # host -> the groups it was put in
        self.groupvars: dict[str, dict[str, Any]] = {"all": {}, "ungrouped": {}}
        self.parents: dict[str, list[str]] = {"all": [], "ungrouped": []}
        self.priority: dict[str, int] = {}  # ansible_group_priority, default 1

    def add_group(self, name: Any) -> str:
        self.groupvars.setdefault(_name("group", name), {})
        self.parents.setdefault(name, [])
        return name

    def add_host(self, name: Any, group: str, port: int | None = None) -> dict[str, Any]:
        if _name("host", name) not in self.hostvars:  # as Ansible: a port given later is ignored
            self.hostvars[name], self.member[name] = ({"ansible_port": port} if port else {}), []
        self.member[name] += [group] if group not in self.member[name] else []
        return self.hostvars[name]

    def add_hosts(self, pattern: str, group: str, variables: Mapping[str, Any]) -> None:
        """An INI or YAML host entry: ``www[01:50].example.com:2222`` and its variables."""
        address, port = _address(pattern) or (pattern, None)
        for name in _expand(address):
            self.add_host(name, group, port).update(variables)

    def set_group_var(self, group: str, key: Any, value: Any) -> None:
        if key != "ansible_group_priority":
            self.groupvars[group][key] = value
            return
        try:
            self.priority[group] = int(value)
        except (TypeError, ValueError):
            raise _Bad(f"ansible_group_priority of {group!r} is not an integer: {value!r}") from None

    def add_child(self, parent: str, child: str) -> None:
        if child == parent:
            raise _Bad(f"group {child!r} cannot be its own child")
        if child == "all" or child in self._ancestors([parent]):
            raise _Bad(f"group {child!r} cannot be a child of {parent!r}: that makes a cycle")
        self.parents[child] += [parent] if parent not in self.parents[child] else []

    def _ancestors(self, groups: list[str]) -> set[str]:
        seen: set[str] = set()
        while groups:
            if (group := groups.pop()) not in seen:
                seen.add(group)
                groups += self.parents[group]
        return seen

    def build(self, source: str) -> Inventory:
        """Ansible's reconcile_inventory, then each host's variables merged as its
        get_group_vars does: groups sorted by (depth, ansible_group_priority, name)."""
        for group, parents in self.parents.items():
            parents += ["all"] if group != "all" and not parents else []
        depth: dict[str, int] = {}
        for start in self.parents:  # a group's depth: the longest path down to it from all
            stack = [start]
            while stack:
                if waiting := [p for p in self.parents[stack[-1]] if p not in depth]:
                    stack += waiting
                    continue
                group = stack.pop()
                depth[group] = max((depth[p] + 1 for p in self.parents[group]), default=0)
        closure = {host: self._ancestors([g for g in groups if g not in ("all", "ungrouped")]
                                         or ["ungrouped"]) for host, groups in self.member.items()}
        hosts = []
        for name, own in self.hostvars.items():
            merged: dict[str, Any] = {}
            for group in sorted(closure[name], key=lambda g: (depth[g], self.priority.get(g, 1), g)):
                merged.update(self.groupvars[group])
            hosts.append(_host(name, tuple(sorted(closure[name])), merged | own, source))
        groups = {g: tuple(h for h in self.hostvars if g in closure[h]) for g in self.groupvars}
        return Inventory(tuple(hosts), MappingProxyType(groups), source)


def _host(name: str, groups: tuple[str, ...], merged: dict[str, Any], source: str) -> InventoryHost:
    found = {setting: (var, merged[var]) for setting, var in (
        ("address", "ansible_host"), ("address", "ansible_ssh_host"), ("port", "ansible_port"),
        ("port", "ansible_ssh_port"), ("user", "ansible_user"), ("user", "ansible_ssh_user"),
        ("key", "ansible_private_key_file"), ("key", "ansible_ssh_private_key_file"))
        if merged.get(var) is not None}
    for var, value in found.values():
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            raise InventoryError(f"{source}: host {name!r}: {var} is a Jinja template ({value!r}); "
                                 "havengate does not evaluate templates")
    port = found.get("port", (None, None))[1]
    if port is not None:
        number = port if type(port) is int else int(port) if _DIGITS.fullmatch(str(port).strip()) else 0
        if not 0 < number < 65536:
            raise InventoryError(f"{source}: host {name!r}: ansible_port {port!r} is not a TCP port number")
        port = number
    user, key = found.get("user", (None, None))[1], found.get("key", (None, None))[1]
    return InventoryHost(name, str(found.get("address", (None, name))[1]), port,
                         None if user is None else str(user), groups, MappingProxyType(merged),
                         None if key is None else str(key))


def load_inventory(path: Path) -> Inventory:
    """An inventory file in whichever format it is: JSON shaped like ``ansible-inventory
    --list`` (``_meta``, or lists of hosts or children) as such; ``.yml``, ``.yaml`` and
    other ``.json`` files as YAML (as Ansible's yaml plugin), ``.ini`` files as INI; any
    other file as YAML if it parses as a YAML mapping or starts with ``---``, else INI."""
    text, source, suffix = _read(path), str(path), path.suffix.lower()
    if text.startswith("#!"):
        raise InventoryError(f"{source}:1: an inventory script; havengate does not run it: "
                             f"give it the output of `{source} --list` instead")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and ("_meta" in data or any(isinstance(group, list) or (
                isinstance(group, dict) and any(isinstance(group.get(key), list) for key in
                                                ("hosts", "children"))) for group in data.values())):
            return parse_list_json(text, source)
    if suffix in YAML_SUFFIXES or (suffix != ".ini" and _looks_like_yaml(text)):
        return parse_yaml(text, source)
    return parse_ini(text, source)


def _read(path: Path) -> str:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise InventoryError(f"{path} is not a regular file; an inventory is one file")
        with open(path, "rb") as stream:
            data = stream.read(MAX_INVENTORY_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_INVENTORY_BYTES:
        raise InventoryError(f"{path} is larger than {MAX_INVENTORY_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from None


def _looks_like_yaml(text: str) -> bool:
    import yaml  # only when an inventory is read: the command line starts fast

    try:
        return isinstance(yaml.compose(text, Loader=yaml.SafeLoader), yaml.MappingNode)
    except yaml.YAMLError:
        return text.lstrip().startswith("---")


def parse_ini(text: str, source: str) -> Inventory:
    """An INI inventory as ansible-core's ini plugin reads it, quirks included: values go
    through ``ast.literal_eval`` on host lines *and* in ``[group:vars]`` (the docs say
    strings there; the code has evaluated them since 2013), and a ``:vars`` value is all
    after ``=``, a ``# comment`` included unless it follows a literal. A group named by
    ``[x:vars]`` or in ``[y:children]`` must be declared by ``[x]`` or ``[x:children]``."""
    builder, group, state = _Builder(), "ungrouped", "hosts"
    pending: dict[str, tuple[str, int, list[str]]] = {}  # group -> (section, line, parents)
    for lineno, line in enumerate((raw.strip() for raw in text.splitlines()), 1):
        if not line or line[0] in "#;":
            continue
        try:
            if section := _SECTION.fullmatch(line):
                group, state = section[1], section[2] or "hosts"
                if state not in ("hosts", "children", "vars"):
                    raise _Bad(f"Section [{group}:{state}] has unknown type: {state}")
                if group not in builder.groupvars and state == "vars":
                    pending.setdefault(group, ("vars", lineno, []))
                builder.add_group(group)
                if state != "vars":  # a declaration a [group:vars] or a child was waiting for
                    for parent in pending.pop(group, ("", 0, []))[2]:
                        builder.add_child(parent, group)
            elif line.startswith("[") and line.endswith("]"):
                raise _Bad(f"Invalid section entry: {line!r}: no spaces or other invalid "
                           "characters in a section name")
            elif state == "hosts":
                _ini_hosts(builder, line, group)
            elif state == "vars":
                key, equals, value = line.partition("=")
                if not equals:
                    raise _Bad(f"Expected key=value, got: {line}")
                builder.set_group_var(group, key.strip(), _ini_value(value.strip()))
            elif not (child := _GROUP_NAME.fullmatch(line)):
                raise _Bad(f"Expected group name, got: {line}")
            elif child[1] in builder.groupvars:
                builder.add_child(group, child[1])
            else:
                pending.setdefault(child[1], ("children", lineno, []))[2].append(group)
        except _Bad as exc:
            raise InventoryError(f"{source}:{lineno}: {exc}") from None
    for name, (how, lineno, parents) in pending.items():
        raise InventoryError(f"{source}:{lineno}: " + (
            f"Section [{name}:vars] not valid for undefined group: {name}" if how == "vars"
            else f"Section [{parents[0]}:children] includes undefined group: {name}"))
    return builder.build(source)


def _ini_hosts(builder: _Builder, line: str, group: str) -> None:
    try:
        pattern, *assignments = shlex.split(line, comments=True)
    except ValueError as exc:
        raise _Bad(f"Error parsing host definition {line!r}: {exc}") from None
    if pattern.endswith(":") and (_address(pattern) or (pattern, None))[1] is None:
        raise _Bad(f"Invalid host pattern {pattern!r}: a trailing ':' must be followed by a port")
    if pattern == "---":
        raise _Bad("Invalid host pattern '---': this looks like a YAML file")
    variables = {}
    for token in assignments:
        key, equals, value = token.partition("=")
        if not equals:
            raise _Bad(f"Expected key=value host variable assignment, got: {token}")
        variables[key] = _ini_value(value)
    builder.add_hosts(pattern, group, variables)


def _ini_value(text: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return _plain(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text
    except (TypeError, MemoryError, RecursionError) as exc:  # Ansible fails the file too
        raise _Bad(f"cannot read the value {text!r} ({type(exc).__name__})") from None


def _plain(value: Any) -> Any:
    """As the ini plugin keeps values: tuples and sets become lists, bytes become text."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return "..." if value is Ellipsis else str(value) if isinstance(value, complex) else value


def parse_yaml(text: str, source: str) -> Inventory:
    """A YAML inventory as ansible-core's yaml plugin reads it (YAML 1.1, as PyYAML), its
    errors at the line of their node. Ansible's own tags (``!vault``, ``!unsafe``) are
    refused."""
    import yaml  # only when a YAML inventory is read: the command line starts fast

    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}: not YAML: {exc}") from None
    try:
        root = loader.get_single_node()
        if _null(root) or (isinstance(root, yaml.MappingNode) and not root.value):
            raise InventoryError(f"{source}: the YAML inventory is empty")
        if not isinstance(root, yaml.MappingNode):
            raise _at(root, "a YAML inventory is a mapping of group names", source)
        groups = _pairs(loader, root)
        if plugin := next((node for key, node, _ in groups if key == "plugin"), None):
            raise _at(plugin, "an inventory plugin's configuration, not an inventory: give "
                      "havengate the output of `ansible-inventory -i FILE --list`", source)
        builder = _Builder()
        for key, key_node, value in groups:
            _yaml_group(loader, builder, key, key_node, value, source)
        return builder.build(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(f"{source}{f':{mark.line + 1}' if mark else ''}: not YAML: "
                             f"{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}: not YAML: {exc}") from None
    except RecursionError:  # a group nested a thousand deep, or a recursive &anchor
        raise InventoryError(f"{source}: groups nested too deeply (or recursively)") from None
    finally:
        loader.dispose()


_NULL, _STR = "tag:yaml.org,2002:null", "tag:yaml.org,2002:str"


def _yaml_group(loader: Any, builder: _Builder, name: Any, at: Any, node: Any, source: str) -> None:
    import yaml

    try:
        builder.add_group(name)
    except _Bad as exc:
        raise _at(at, str(exc), source) from None
    if not _null(node) and not isinstance(node, yaml.MappingNode):
        raise _at(node, f"group {name!r} must be a mapping of hosts, children and vars", source)
    for key, key_node, value in [] if _null(node) else _pairs(loader, node):
        if key not in ("hosts", "children", "vars"):
            raise _at(key_node, f"unexpected key {key!r} in group {name!r}: only hosts, children "
                      "and vars are valid (Ansible would skip it)", source)
        if isinstance(value, yaml.MappingNode):
            entries = _pairs(loader, value)
        elif isinstance(value, yaml.ScalarNode) and value.tag in (_NULL, _STR):
            entries = [] if value.tag == _NULL else [(value.value, value, None)]  # hosts: node01
        else:
            raise _at(value, f"{key} of group {name!r} must be a mapping", source)
        for entry, entry_node, entry_value in entries:
            try:
                if key == "children":
                    _yaml_group(loader, builder, entry, entry_node, entry_value, source)
                    builder.add_child(name, entry)
                    continue
                content = None if _null(entry_value) else loader.construct_object(entry_value, deep=True)
                if key == "vars":
                    builder.set_group_var(name, entry, content)
                elif not isinstance(entry, str):
                    raise _Bad(f"host pattern {entry!r} must be a string: quote it")
                elif not isinstance(content or {}, Mapping):
                    raise _Bad(f"host {entry!r}: its variables must be a mapping")
                else:
                    builder.add_hosts(entry, name, content or {})
            except _Bad as exc:
                raise _at(entry_node, str(exc), source) from None


def _pairs(loader: Any, node: Any) -> list[tuple[Any, Any, Any]]:
    loader.flatten_mapping(node)  # `<<: *anchor` merge keys, as Ansible's loader does
    return [(loader.construct_object(key, deep=True), key, value) for key, value in node.value]


def _null(node: Any) -> bool:
    return node is None or node.tag == _NULL


def _at(node: Any, message: str, source: str) -> InventoryError:
    return InventoryError(f"{source}:{node.start_mark.line + 1}: {message}")


def parse_list_json(text: str, source: str) -> Inventory:
    """What ``ansible-inventory --list`` (or an inventory script's ``--list``) prints, read
    as ansible-core's script plugin does: a group is ``{"hosts": [...], "vars": {...},
    "children": [...]}`` or a bare list of hosts, and ``_meta.hostvars`` gives each host
    listed in a group its variables (merged already, as ansible-inventory prints them)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{source}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise InventoryError(f"{source}: not JSON havengate reads ({exc})") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{source}:1: ansible-inventory --list output is a JSON object")
    builder, meta = _Builder(), data.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
    if not isinstance(hostvars, dict):
        raise InventoryError(f"{source}:{_line_of(text, '_meta')}: _meta must be "
                             '{"hostvars": {host: {variables}}}')
    for name, group in data.items():
        if name == "_meta":
            continue
        try:
            builder.add_group(name)
            if not isinstance(group, dict):
                group = {"hosts": group}
            elif not any(key in group for key in ("hosts", "vars", "children")):
                group = {"hosts": [name], "vars": group}  # the script plugin's shorthand
            for what, kind in (("hosts", list), ("vars", dict), ("children", list)):
                if not isinstance(group.setdefault(what, kind()), kind):
                    raise _Bad(f"group {name!r}: {what} must be a JSON "
                               f"{'object' if kind is dict else 'array'}")
            for host in group["hosts"]:
                builder.add_host(host, name)
            for key, value in group["vars"].items():
                builder.set_group_var(name, key, value)
            for child in group["children"]:
                builder.add_child(name, builder.add_group(child))
        except _Bad as exc:
            raise InventoryError(f"{source}:{_line_of(text, name)}: {exc}") from None
    for host, own in builder.hostvars.items():
        if not isinstance(found := hostvars.get(host, {}), dict):
            raise InventoryError(f"{source}:{_line_of(text, host)}: the variables of host {host!r} "
                                 "must be an object")
        own.update(found)
    return builder.build(source)


def _line_of(text: str, key: str) -> int:
    """JSON has no node marks: an error names the line where its key first appears."""
    found = re.search(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:", text)
    return text.count("\n", 0, found.start()) + 1 if found else 1
