"""The library under the CLI: the README's Python API example runs as written."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_python_api_example_runs():
    text = README.read_text()
    block = text[text.index("<!-- api-example:begin -->"):text.index("<!-- api-example:end -->")]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 6  # five lines and an import
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(README.parent)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(here)
    printed = out.getvalue().strip()
    assert printed == ("no-go {'101': 'no-go', '102': 'go', '103': 'no-go', '104': 'go', "
                       "'105': 'go', '106': 'go'}")
    assert f"prints `{printed}`" in text


def test_importing_the_api_needs_no_node():
    import havengate.api as api

    assert callable(api.check) and callable(api.verify) and api.Report
