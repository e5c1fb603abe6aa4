"""The README's main-job command (``xinbao demo``) runs to the end and cleans up."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli_helpers import run


def test_demo_walks_an_item_from_county_to_city() -> None:
    done = run("xinbao", "demo")
    assert done.code == 0, done.err
    assert "已签发" in done.out and "已接收" in done.out
    assert "已报送 → 已采用" in done.out  # the city's decision reached the county
    root = re.search(r"节点目录：(\S+?)（", done.out)
    assert root is not None
    assert not Path(root.group(1)).exists()
