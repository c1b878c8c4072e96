"""Formatters render; they never decide, and never let node data drive a terminal."""

from __future__ import annotations

from dataclasses import replace

from factories import container, jvm, master, node

from havengate.api.gate import run_check
from havengate.api.nodes import NodeFailure
from havengate.decide import PolicyConfig
from havengate.report import FORMATTERS
from havengate.report.json_format import report_document


def test_control_characters_from_nodes_are_neutralised():
    hostile = replace(container(jvms=(jvm(),)), hostname="evil\x1b[2J\x07name")
    report, _ = run_check(master(hostile), node(), (), PolicyConfig())
    text = FORMATTERS["text"](report)
    assert "\x1b" not in text and "\x07" not in text and "evil?[2J?name" in text


def test_unreachable_target_makes_every_container_unknown():
    report, _ = run_check(master(container(jvms=()), container("102", jvms=(jvm(),))),
                          NodeFailure("slave", "slave: cannot connect: refused"), (), PolicyConfig())
    assert (report.verdict, report.exit_code) == ("unknown", 3)
    assert {c.verdict for c in report.containers} == {"unknown"}
    document = report_document(report)
    assert document["target"]["error"] == "slave: cannot connect: refused"
    assert "UNAVAILABLE" in FORMATTERS["text"](report)


def test_unreachable_source_is_unknown_even_without_containers():
    report, _ = run_check(NodeFailure("master", "master: timed out"), node(), (), PolicyConfig())
    assert (report.verdict, report.exit_code, report.containers) == ("unknown", 3, ())
