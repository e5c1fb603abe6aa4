"""An item signed off with no link is 待发送, not 已报送, until the next hop has it (issue 16):
in the console's outbox, the item view, the compose form and the desk CLI alike. 已报送 is the
stored state; 待发送 is what a desk is shown while the recipient's receipt has not come back."""

from __future__ import annotations

from pathlib import Path

from console.rows import InboxRows
from schema.desk import Desk, signoff, submit
from schema.network import add_units
from schema.state import mark_delivered, shown
from schema.store import Store
from schema.vocabulary import Role
from tests.cli_helpers import run
from tests.conftest import CITY, COUNTY, Ticking, draft
from tests.console.test_desk_cli import ROUTINE, init
from tests.console.test_desk_cli import submit as submit_file


def test_shown_only_changes_a_sent_edge_without_a_receipt() -> None:
    assert shown("已报送", None) == "待发送"
    assert shown("已报送", "2026-11-21T15:00:00+08:00") == "已报送"
    for other in ("待签发", "已接收", "已采用", "退回修改"):
        assert shown(other, None) == other


def test_the_console_outbox_says_pending_until_the_receipt(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "county.db")
    add_units(store, [CITY, COUNTY])
    desk = Desk(store, COUNTY, "李四", frozenset(Role), Ticking())
    item = submit(desk, draft(title="新荣区追回欠薪"))
    rows = InboxRows(store, COUNTY.id)
    rows.outgoing = True
    rows.reload()
    assert [r.state for i in range(len(rows)) if (r := rows.row(i))] == ["待签发"]
    signoff(desk, item.id)
    rows.reload()
    assert [r.state for i in range(len(rows)) if (r := rows.row(i))] == ["待发送"]
    mark_delivered(store, item.id, COUNTY.id, CITY.id, desk.clock())
    rows.reload()
    assert [r.state for i in range(len(rows)) if (r := rows.row(i))] == ["已报送"]


def test_the_cli_says_pending_until_the_receipt(tmp_path: Path) -> None:
    county = tmp_path / "county"
    init(county, "140212", "新荣区人民政府办公室", "county", "140200")
    item_id = submit_file(county, ROUTINE, tmp_path)
    assert run("xinbao", "signoff", item_id, home=county).code == 0
    listed = run("xinbao", "list", "--outbox", home=county).out
    assert "待发送" in listed and "已报送" not in listed
    flow = [x for x in run("xinbao", "show", item_id, home=county).out.splitlines() if "流转" in x]
    assert len(flow) == 1 and "：待发送（" in flow[0], flow
    as_json = run("xinbao", "--json", "list", "--outbox", home=county).json()
    assert [(r["state"], r["delivered_at"]) for r in as_json] == [("已报送", None)]  # stored
    store = Store.open(county / "store.db")
    try:
        mark_delivered(store, item_id, "140212", "140200", Ticking()())
    finally:
        store.close()
    listed = run("xinbao", "list", "--outbox", home=county).out
    assert "已报送" in listed and "待发送" not in listed
    flow = [x for x in run("xinbao", "show", item_id, home=county).out.splitlines() if "流转" in x]
    assert "：已报送" in flow[0] and "送达" in flow[0]
