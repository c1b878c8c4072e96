"""pytest fixtures of the lab; a test module or conftest imports them::

from lab.fixtures import lab  # noqa: F401  (the fixture is found by name)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .core import Lab


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh, empty lab under tmp_path, closed by a finalizer even when the test fails."""
    instance = Lab(tmp_path / "lab")
    request.addfinalizer(instance.close)
    yield instance
