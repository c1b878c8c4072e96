"""The JSON report: one document, valid against schemas/report.schema.json."""

from __future__ import annotations

import json

from havengate.documents import encode, validate
from havengate.model import Report

SCHEMA_ID = "havengate.report/1"


def report_document(report: Report) -> dict:
    document = {"schema": SCHEMA_ID, **encode(report)}
    # Findings carry an IntEnum severity; the document spells it as a word.
    for container, result in zip(document["containers"], report.containers, strict=True):
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
    validate(document, "report", "report")
    return document


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, sort_keys=False) + "\n"
