"""The JSON report: one document, valid against schemas/report.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

from havengate.documents import decode, encode, read_json, validate
from havengate.errors import DocumentError
from havengate.model import ContainerResult, Report, Severity

SCHEMA_ID = "havengate.report/1"


def report_document(report: Report) -> dict:
    document = {"schema": SCHEMA_ID, **encode(report)}
    _spell_severities(document["containers"], report.containers)
    for pair, result in zip(document["pairs"], report.pairs, strict=True):
        _spell_severities(pair["containers"], result.containers)
    validate(document, "report", "report")
    return document


def _spell_severities(documents: list[dict], results: tuple[ContainerResult, ...]) -> None:
    """Findings carry an IntEnum severity; the document spells it as a word."""
    for container, result in zip(documents, results, strict=True):
        container["findings"] = [
            {
                "rule": f.rule,
                "severity": f.severity.label,
                "message": f.message,
                "evidence": list(f.evidence),
                "remediation": f.remediation,
            }
            for f in result.findings
        ]


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, sort_keys=False) + "\n"


def read_report(path: Path) -> Report:
    """A JSON report read back (``report merge``): validated, then decoded field by field."""
    document = read_json(path, "report")
    if document.get("schema") != SCHEMA_ID:
        raise DocumentError(f"{path}: schema {document.get('schema')!r}, not {SCHEMA_ID}")
    document.pop("schema")
    for containers in [document["containers"],
                       *(pair["containers"] for pair in document.get("pairs", []))]:
        for container in containers:
            container["findings"] = [{**f, "ctid": container["ctid"],
                                      "severity": Severity[f["severity"].upper()].value}
                                     for f in container["findings"]]
    try:
        return decode(Report, document)
    except (TypeError, ValueError, KeyError) as exc:
        raise DocumentError(f"{path}: not a report havengate reads ({exc})") from None
