"""The import direction of DESIGN.md §3: console → schema, syncd → schema, never across."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "schema": {
        "console",
        "syncd",
        "textual",
        "httpx",
        "watchdog",
        "cryptography",
        "threading",
        "socket",
        "asyncio",
        "uvicorn",
        "starlette",
    },
    "console": {"syncd"},
    "syncd": {"console"},
}


def imported_modules(package: str) -> set[tuple[str, str]]:
    """(file, top-level module) for every import statement in ``package``."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(path.name, alias.name.split(".")[0]) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path.name, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    bad = sorted((f, m) for f, m in imported_modules(package) if m in FORBIDDEN[package])
    assert not bad, f"{package}/ imports what it must not: {bad}"


def test_importing_schema_loads_no_ui_network_or_crypto() -> None:
    code = (
        "import sys, schema, schema.desk, schema.inbound, schema.view, schema.fixture, "
        "schema.commandline\n"
        "bad = [m for m in ('textual', 'httpx', 'watchdog', 'cryptography', 'console', 'syncd') "
        "if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_desk_cli_does_not_load_the_daemon() -> None:
    code = "import sys, console.cli\nprint('syncd' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
