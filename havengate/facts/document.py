"""Facts files: ``havengate facts HOST -o FILE`` writes one, ``check --*-facts`` reads it.

A facts file is input, not truth: its derived fields (a kernel's family, a container's
CPUS and CPUMASK, a JVM's options) are derived again, with the probe's own parsers, from
the raw values beside them. A file whose derived copy says something else is refused, so
a hand-edited ``"family": "2.6.24-openvz"`` next to a 2.6.32 release can never give *go*.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from havengate import __version__
from havengate.documents import encode, load, read_json, validate
from havengate.errors import DocumentError
from havengate.facts.ctconf import GLOBAL_CONF_VEID, parse_ctid_conf
from havengate.facts.java import jvm_options
from havengate.facts.kernel import parse_kernel_release
from havengate.facts.model import Container, CtConf, NodeFacts
from havengate.model import Unknown

SCHEMA = "facts"
SCHEMA_ID = "havengate.facts/1"


def facts_document(node: NodeFacts) -> dict[str, Any]:
    document = {"schema": SCHEMA_ID, "tool": "havengate", "version": __version__,
                "node": encode(node)}
    validate(document, SCHEMA, "facts document")  # never write what we could not read back
    return document


def load_facts(path: Path) -> NodeFacts:
    document = read_json(path, SCHEMA)
    node, disagreements = rederive(load(NodeFacts, document["node"], str(path)))
    if disagreements:
        field, said, derived = disagreements[0]
        more = f" (and {len(disagreements) - 1} more)" if len(disagreements) > 1 else ""
        raise DocumentError(
            f"{path}: {field} says {said}, but its raw values give {derived}{more}: the file was "
            "edited or is corrupt; collect it again with `havengate facts HOST -o FILE`")
    return node


Disagreement = tuple[str, str, str]  # (JSON path, what the file says, what the raw values give)

# The derived fields a verdict rests on: any disagreement there refuses the file. The rest
# (a kernel's flavour, a conf's problem list) is simply taken from the raw values again.
_KERNEL_FIELDS = ("family", "visibility", "version")
_CONF_FIELDS = ("values", "cpus", "cpumask", "trailing_text", "inherited")


def rederive(node: NodeFacts) -> tuple[NodeFacts, list[Disagreement]]:
    """The node with every derived field parsed again from its raw values, and each
    decision-bearing field the file said otherwise."""
    found: list[Disagreement] = []
    kernel = node.kernel
    if not isinstance(kernel, Unknown):
        kernel = parse_kernel_release(node.kernel.release)
        found += _compare("$.node.kernel", node.kernel, kernel, _KERNEL_FIELDS)
    vz_conf = node.vz_conf
    if isinstance(vz_conf, CtConf):
        vz_conf = _conf("$.node.vz_conf", vz_conf, GLOBAL_CONF_VEID, found)
    containers = node.containers
    if isinstance(containers, tuple):
        containers = tuple(_container(f"$.node.containers[{index}]", container, found)
                           for index, container in enumerate(containers))
    return replace(node, kernel=kernel, vz_conf=vz_conf, containers=containers), found


def _container(where: str, container: Container, found: list[Disagreement]) -> Container:
    conf = container.conf
    if isinstance(conf, CtConf):
        conf = _conf(f"{where}.conf", conf, container.ctid, found)
    processes = container.java_processes
    if isinstance(processes, tuple):
        for index, process in enumerate(processes):
            options = jvm_options(process.argv, process.java_env or {})
            if options != process.jvm_options:
                note = "" if process.java_env is not None else " (the file records no java_env)"
                found.append((f"{where}.java_processes[{index}].jvm_options",
                              _show(process.jvm_options), _show(options) + note))
    return replace(container, conf=conf)


def _conf(where: str, conf: CtConf, ctid: str, found: list[Disagreement]) -> CtConf:
    if conf.text is None:
        # Without the file's text its values could say anything (a CPUS line deleted reads
        # as "all CPUs"): such a file is from an older havengate, or edited. Collect again.
        found.append((f"{where}.text", "null", "the file's text (kept since havengate "
                      "re-derives facts; an older facts file must be collected again)"))
        return conf
    derived = parse_ctid_conf(conf.text, ctid)
    found += _compare(where, conf, derived, _CONF_FIELDS)
    return derived


def _compare(where: str, said: Any, derived: Any, names: tuple[str, ...]) -> list[Disagreement]:
    found = []
    for name in names:
        value, expected = getattr(said, name), getattr(derived, name)
        if isinstance(value, Unknown) and isinstance(expected, Unknown):
            continue  # reasons may be worded anew; both say "not known"
        if value != expected:
            found.append((f"{where}.{name}", _show(value), _show(expected)))
    return found


def _show(value: Any) -> str:
    return repr(encode(value))[:120]
