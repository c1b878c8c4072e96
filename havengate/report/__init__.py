"""Formatters are pure functions from a Report to text; their keys are the --format choices."""

from __future__ import annotations

from collections.abc import Callable

from havengate.model import Report
from havengate.report.json_format import render_json
from havengate.report.junit import render_junit
from havengate.report.prometheus import render_prometheus
from havengate.report.text import render_text

FORMATTERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "prometheus": render_prometheus,
}
