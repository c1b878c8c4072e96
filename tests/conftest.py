"""Shared fixtures: recorded text under fixtures/, the lab (real sshd + Java) from lab/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite never reads the operator's own config: no $HAVENGATE_CONFIG, and the default
# places (~/.config/havengate, /etc/havengate) pointed at nothing (test_config covers them).
os.environ.pop("HAVENGATE_CONFIG", None)


@pytest.fixture(autouse=True)
def _no_default_config(monkeypatch, tmp_path_factory):
    from havengate.api import config

    nowhere = tmp_path_factory.getbasetemp() / "no-config-here"
    monkeypatch.setattr(config, "USER_FILE", nowhere / "user.yaml")
    monkeypatch.setattr(config, "SYSTEM_FILE", nowhere / "system.yaml")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_text():
    def read(name: str) -> str:
        return (FIXTURES / name).read_text()

    return read
