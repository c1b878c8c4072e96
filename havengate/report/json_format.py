"""The JSON report: one document, valid against schemas/report.schema.json."""

from __future__ import annotations

import json

from havengate.documents import encode, validate
from havengate.model import ContainerResult, Report

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
