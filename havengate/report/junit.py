"""JUnit XML for CI dashboards: one test case per container; no-go fails, unknown errs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from havengate.report.model import Report

# XML 1.0 has no place for these; a lone surrogate (JSON allows "\udc80") cannot be encoded
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_junit(report: Report) -> str:
    failures = sum(c.verdict in ("no-go", "failed") for c in report.containers)
    errors = sum(c.verdict == "unknown" for c in report.containers) + len(report.errors)
    suite = ET.Element("testsuite", {
        "name": f"havengate {report.command}",
        "tests": str(len(report.containers) + len(report.errors)),
        "failures": str(failures),
        "errors": str(errors),
        "timestamp": report.generated_at,
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("verdict", report.verdict), ("exit_code", str(report.exit_code)),
                        ("policy", report.policy),
                        ("source", report.source.host if report.source else ""),
                        ("target", report.target.host if report.target else "")):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for container in report.containers:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"havengate.{report.command}",
            "name": f"CT {container.ctid} ({container.hostname or '-'})",
        })
        lines = [f"{f.rule} {f.severity.label}: {f.message}" for f in container.findings]
        text = "\n".join(lines + ([f"fix: {container.fix}"] if container.fix else []))
        if container.verdict in ("no-go", "failed"):
            ET.SubElement(case, "failure", {"message": _first(container, "error"),
                                            "type": container.verdict}).text = text
        elif container.verdict == "unknown":
            ET.SubElement(case, "error", {"message": _first(container, "unknown"),
                                          "type": "unknown"}).text = text
        if lines:
            ET.SubElement(case, "system-out").text = text
    for error in report.errors:
        case = ET.SubElement(suite, "testcase", {"classname": f"havengate.{report.command}",
                                                 "name": "node facts"})
        ET.SubElement(case, "error", {"message": error, "type": "unknown"})
    ET.indent(suite)
    text = ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
    return _XML_INVALID.sub("?", text)  # node data (argv, hostnames) may hold control bytes


def _first(container, label: str) -> str:
    return next((f.message for f in container.findings if f.severity.label == label),
                container.verdict)
