"""Facts files: ``havengate facts HOST -o FILE`` writes one, ``check --*-facts`` reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from havengate import __version__
from havengate.documents import encode, load, read_json, validate
from havengate.facts.model import NodeFacts

SCHEMA = "facts"
SCHEMA_ID = "havengate.facts/1"


def facts_document(node: NodeFacts) -> dict[str, Any]:
    document = {"schema": SCHEMA_ID, "tool": "havengate", "version": __version__,
                "node": encode(node)}
    validate(document, SCHEMA, "facts document")  # never write what we could not read back
    return document


def load_facts(path: Path) -> NodeFacts:
    document = read_json(path, SCHEMA)
    return load(NodeFacts, document["node"], str(path))
