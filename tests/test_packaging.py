"""What `pip install .` (not editable) ships: every package and the data files it reads."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_code_directory_is_a_package_that_find_packages_ships():
    """A directory without __init__.py is left out of the wheel (an editable install hides it)."""
    found = set(find_packages(str(ROOT), include=["havengate", "havengate.*"]))
    code_dirs = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "havengate").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert code_dirs <= found, f"not shipped: {sorted(code_dirs - found)}"


def test_package_data_is_declared():
    setup_cfg = (ROOT / "setup.cfg").read_text()
    assert "schemas/*.json" in setup_cfg and "facts/*.sh" in setup_cfg
    assert (ROOT / "havengate" / "schemas").resolve() == (ROOT / "schemas").resolve()


def test_the_hooks_ship_in_the_wheel(tmp_path):
    """`pip install .` carries hooks/ (the node-side vzmigrate gate, the runbook scripts):
    `havengate hooks --path` prints where."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("havengate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"havengate/hooks/vzmigrate", "havengate/hooks/pre-migrate",
            "havengate/hooks/post-migrate"} <= names
