"""The pipeline's direction holds in the imports: a module imports only from its own layer
or earlier ones (lazy imports inside functions included). No exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "havengate"
LAYERS = ["errors", "model", "quoting documents state inventory", "transport", "facts", "assess", "decide",
          "act", "verify", "api", "report", "cli"]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names.split()}
TOP = {"__init__": -1, "__main__": len(LAYERS)}  # the version string; the entry point


def layer_of(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "havengate":
        raise ValueError(module)
    if len(parts) == 1:
        return TOP["__init__"]
    return TOP.get(parts[1], RANK.get(parts[1], -2))


def imports(path: Path) -> list[tuple[int, str]]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "havengate":
            # `from havengate import api` imports havengate.api; `__version__` is the top's
            found += [(node.lineno, f"havengate.{alias.name}" if alias.name != "__version__"
                       else "havengate") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = module.rsplit(".", node.level)[0]
            found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "havengate"]


def test_every_module_belongs_to_a_layer():
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        assert layer_of(module) != -2, f"{module}: not in a layer of {LAYERS}"


def test_no_module_imports_a_later_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = layer_of(module)
        for line, name in imports(path):
            if layer_of(name) > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The test itself can fail: an act module that imports the report layer is caught."""
    fake = tmp_path / "havengate"
    (fake / "act").mkdir(parents=True)
    (fake / "act" / "bad.py").write_text("from havengate.report import FORMATTERS\n"
                                         "def f():\n    from havengate import cli\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake, raising=False)
    found = [name for _, name in imports(fake / "act" / "bad.py")]
    assert [layer_of(name) > layer_of("havengate.act.bad") for name in found] == [True, True]


def test_the_command_line_starts_without_heavy_libraries():
    """Every move runs havengate: SSH, HTTP and schema libraries load only when used."""
    import subprocess
    import sys

    heavy = ("paramiko", "fabric", "invoke", "requests", "jsonschema", "cryptography", "yaml")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, havengate.cli; "
         f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True, timeout=60)
    assert probe.stdout.strip() == ""
