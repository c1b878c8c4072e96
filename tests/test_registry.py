"""One registry of rules for both phases, each documented; the README's table is generated."""

from __future__ import annotations

import json
import re
from pathlib import Path

from havengate.api.rules import REGISTRY, explain, markdown_table
from havengate.cli import main
from havengate.model import Phase

README = Path(__file__).parent.parent / "README.md"


def test_every_rule_is_one_documented_module_with_a_unique_id():
    ids = [rule.id for rule in REGISTRY]
    assert len(ids) == len(set(ids))
    assert {rule.phase for rule in REGISTRY} == {Phase.PRE_MOVE, Phase.POST_MOVE}
    for rule in REGISTRY:
        assert re.fullmatch(r"HG[01]\d\d", rule.id) and rule.title and callable(rule.check)
        doc = explain(rule.id).doc
        for part in ("Rationale", "Evidence", "Fix", "Example"):
            assert part in doc, (rule.id, part)


def test_rules_json_lists_both_phases(capsys):
    assert main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    ids = {rule["id"] for rule in listed}
    assert {f"HG{n:03d}" for n in range(1, 11)} <= ids
    assert {f"HG{n}" for n in range(100, 109)} <= ids


def test_explain_says_why_and_how_to_fix(capsys):
    assert main(["explain", "hg101"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HG101 (post-move, error)") and "vzctl set CTID --cpumask 0" in out
    assert main(["explain", "HG999"]) == 2


def test_the_readme_rules_table_is_the_registry():
    text = README.read_text()
    table = text[text.index("<!-- rules:begin -->") + 21:text.index("<!-- rules:end -->")]
    assert table.strip() == markdown_table(), "regenerate: python3 -c 'from havengate.api." \
        "rules import markdown_table; print(markdown_table())'"
