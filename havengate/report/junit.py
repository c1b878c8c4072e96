"""JUnit XML for CI dashboards (Jenkins, GitLab): the Jenkins/Ant schema (junit-10.xsd).

One ``<testsuites>`` root and one suite per command. A test case per container (no-go and
failed fail, unknown errs, skipped is skipped with its reason); for verify, a case per
check (listen, connect, HTTP) besides; a case per node error and a skipped case per note,
so "nothing was assessed" never reads as an empty green run. Names are unique: GitLab
merges cases that share one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from havengate.model import CheckResult, ContainerResult, Report

# XML 1.0 has no place for these; a lone surrogate (JSON allows "\udc80") cannot be encoded
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FAILED = ("no-go", "failed")


def render_junit(report: Report) -> str:
    cases: list[ET.Element] = []
    names: set[str] = set()
    classname = f"havengate.{report.command}"
    for prefix, container in _containers(report):
        cases.append(_container_case(report, container,
                                     _unique(prefix + _title(container), names)))
        for check in container.checks:
            cases.append(_check_case(classname, container, check,
                                     _unique(f"CT {container.ctid} {check.kind} {check.target}",
                                             names)))
    for index, error in enumerate(report.errors, start=1):
        case = _case(classname, _unique(f"could not assess #{index}", names), None)
        ET.SubElement(case, "error", {"message": error, "type": "unknown"}).text = error
        cases.append(case)
    for note in report.notes:
        case = _case(classname, _unique(f"note: {note}", names), None)
        ET.SubElement(case, "skipped", {"message": note})
        cases.append(case)

    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(c.find("failure") is not None for c in cases)),
        "errors": str(sum(c.find("error") is not None for c in cases)),
    }
    time = _time(report.duration_seconds)
    root = ET.Element("testsuites", {"name": f"havengate {report.command}", **counts,
                                     "time": time})
    suite = ET.SubElement(root, "testsuite", {
        "name": f"havengate {report.command}", **counts,
        "skipped": str(sum(c.find("skipped") is not None for c in cases)),
        "time": time, "timestamp": report.generated_at,
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("verdict", report.verdict), ("exit_code", str(report.exit_code)),
                        ("policy", report.policy),
                        ("source", report.source.host if report.source else ""),
                        ("target", report.target.host if report.target else ""),
                        *(("note", note) for note in report.notes)):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    suite.extend(cases)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    return _XML_INVALID.sub("?", text)  # node data (argv, hostnames) may hold control bytes


def _containers(report: Report) -> list[tuple[str, ContainerResult]]:
    """Every container of the report; a scan's named by their pair ("a -> b: CT 101")."""
    if report.pairs:
        return [(f"{pair.source.host} -> {pair.target.host}: ", container)
                for pair in report.pairs for container in pair.containers]
    return [("", container) for container in report.containers]


def _title(container: ContainerResult) -> str:
    return f"CT {container.ctid} ({container.hostname or '-'})"


def _unique(name: str, seen: set[str]) -> str:
    candidate, number = name, 2
    while candidate in seen:
        candidate, number = f"{name} #{number}", number + 1
    seen.add(candidate)
    return candidate


def _case(classname: str, name: str, seconds: float | None) -> ET.Element:
    return ET.Element("testcase", {"classname": classname, "name": name,
                                   "time": _time(seconds)})


def _container_case(report: Report, container: ContainerResult, name: str) -> ET.Element:
    case = _case(f"havengate.{report.command}", name, container.duration_seconds)
    lines = [f"{f.rule} {f.severity.label}: {f.message}" for f in container.findings]
    lines += [f"  - {line}" for f in container.findings for line in f.evidence]
    if container.fix:
        lines.append(f"fix: {container.fix}")
    patch = container.patch
    if patch is not None:
        lines.append(f"patch: {patch.status}" + (f" by {patch.method}" if patch.method else "")
                     + (f", journal {patch.journal_id}" if patch.journal_id else "")
                     + f" on {patch.host}")
        lines += [f"  {c.key}: {c.before or '(unset)'} -> {c.after}" for c in patch.changes]
        lines += [f"  note: {note}" for note in patch.notes]
        if patch.diff:
            lines.append(patch.diff)
    text = "\n".join(lines)
    first = next((f.message for f in container.findings), container.verdict)
    if container.verdict in _FAILED:
        ET.SubElement(case, "failure", {"message": first, "type": container.verdict}).text = text
    elif container.verdict == "unknown":
        ET.SubElement(case, "error", {"message": first, "type": "unknown"}).text = text
    elif container.verdict == "skipped":
        ET.SubElement(case, "skipped", {"message": first})
    if text:
        ET.SubElement(case, "system-out").text = text
    return case


def _check_case(classname: str, container: ContainerResult, check: CheckResult,
                name: str) -> ET.Element:
    case = _case(f"{classname}.{check.kind}", name, container.duration_seconds)
    if check.ok is False:
        ET.SubElement(case, "failure", {"message": check.detail, "type": check.kind})
    elif check.ok is None:
        ET.SubElement(case, "error", {"message": check.detail, "type": "unknown"})
    ET.SubElement(case, "system-out").text = f"{check.target}: {check.detail}"
    return case


def _time(seconds: float | None) -> str:
    """Seconds as the schema's SUREFIRE_TIME wants them: at most three decimals."""
    return f"{max(seconds or 0.0, 0.0):.3f}"
