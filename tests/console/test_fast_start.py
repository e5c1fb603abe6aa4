"""A desk command starts fast (issue 19): ``xinbao --help`` and a usage error parse without the
store, the desk operations or python-docx; ``list`` runs without python-docx. Checked by what a
fresh interpreter has imported (speed itself is measured in tests/bench/bench_start.py)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlite_utils", "schema.store", "schema.desk", "docx", "textual", "openpyxl")


def imported(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_parsing_the_command_line_loads_nothing_heavy() -> None:
    loaded = imported(
        "from console.cli import build_parser\nbuild_parser().parse_args(['list', '--inbox'])"
    )
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY]


def test_the_schema_package_loads_its_names_on_first_use() -> None:
    loaded = imported("import schema.clock")
    assert "schema.desk" not in loaded and "schema.store" not in loaded
    loaded = imported("import schema\nschema.Store")
    assert "schema.store" in loaded and "schema.desk" not in loaded


def test_listing_the_inbox_leaves_the_document_code_unloaded() -> None:
    loaded = imported("import console.commands")
    assert "docx" not in loaded and "textual" not in loaded and "openpyxl" not in loaded


def test_the_daemon_s_command_line_parses_without_its_engine() -> None:
    loaded = imported("from syncd.cli import build_parser\nbuild_parser().parse_args(['status'])")
    assert "syncd.engine" not in loaded and "syncd.daemon" not in loaded
    assert "uvicorn" not in loaded and "httpx" not in loaded and "sqlite_utils" not in loaded


def test_a_short_item_is_stored_without_numpy() -> None:
    """numpy (issue 19: a long item's sketch and search tokens) loads only for long texts:
    a desk storing a short item, or listing the inbox, does without its start-up."""
    code = (
        "from datetime import UTC, datetime\n"
        "from schema import item\n"
        "from schema.itemfile import parse_item\n"
        "from schema.store import Store\n"
        "d = parse_item({'title': '煤矿透水', 'body': '井下发生透水，2人受伤。', "
        "'category': '经验做法', 'author': '张三'})\n"
        "item.insert(Store.memory(), 'x-1', '140212', d, editor='a', at=datetime.now(UTC))"
    )
    assert "numpy" not in imported(code)
    assert "numpy" not in imported("import console.commands")
