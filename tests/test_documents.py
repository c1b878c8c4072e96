"""Facts documents round-trip exactly, so an offline check decides like the live one."""

from __future__ import annotations

import json

from factories import container, jvm, master, node

from havengate.documents import encode, validate
from havengate.facts.document import facts_document, load_facts
from havengate.facts.model import NodeFacts
from havengate.facts.probe import parse_probe_output
from havengate.model import Unknown

NONCE = "0123456789abcdef0123456789abcdef"


def roundtrip(facts: NodeFacts, tmp_path) -> NodeFacts:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts_document(facts)))
    return load_facts(path)


def test_recorded_probe_roundtrips(fixture_text, tmp_path):
    facts = parse_probe_output(fixture_text("probe_master_2624.txt"), NONCE, "master", "t")
    assert roundtrip(facts, tmp_path) == facts


def test_unknowns_roundtrip(tmp_path):
    facts = master(
        container("101", jvms=Unknown("vzctl exec2 101 failed (exit 8)"), cpus_seen=Unknown("x")),
        container("102", conf='CPUS="two"\nCPUMASK="0-1"\n', jvms=(jvm("-XX:+AssumeMP"),)),
        container("103", running=False, files=("path usr/bin/java",)),
    )
    assert roundtrip(facts, tmp_path) == facts
    broken = NodeFacts(host="x", collected_at="t", kernel=Unknown("uname failed"),
                       cpus=Unknown("nproc failed"), vzctl_version=Unknown("?"),
                       containers=Unknown("vzlist: exit 1"), errors=("a",))
    assert roundtrip(broken, tmp_path) == broken
    assert roundtrip(node(vzctl=None), tmp_path).vzctl_version is None


def test_report_schema_rejects_foreign_verdicts():
    import pytest

    from havengate.errors import DocumentError

    with pytest.raises(DocumentError, match=r"\$\.verdict"):
        validate({**encode({}), "schema": "havengate.report/1", "tool": "havengate",
                  "version": "0", "command": "check", "generated_at": "t", "policy": "block",
                  "verdict": "maybe", "exit_code": 0, "source": None, "target": None,
                  "containers": [], "errors": []}, "report")
