"""What the console shows, as SVG snapshots at 80×24 and 120×36, with Chinese punctuation in
view (pytest-textual-snapshot; `pytest --snapshot-update` after an intended change)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import DeskApp
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, T0, Fixed, Ticking, draft, incident_draft

TITLES = [
    "新荣区“煤改电”用户冬季取暖：电价补贴全部到位",
    "关于加快解决城区老旧供热管网“跑冒滴漏”问题的建议",
    "新荣区一天内为15名农民工追回欠薪38.6万元",
]


def desk_app(tmp_path: Path) -> DeskApp:
    store = Store.open(tmp_path / "store.db")
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    for title in TITLES:
        item = submit(county, draft(title=title))
        signoff(county, item.id)
    emergency = submit(county, incident_draft())
    signoff(county, emergency.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    clock = Fixed(T0 + timedelta(hours=1))
    return DeskApp(Desk(store, CITY, "王五", frozenset(Role), clock), Attachments(tmp_path / "a"))


async def settled(pilot: Pilot[None]) -> None:
    """Every worker done (the id list, the owed deadlines that put their rows first)."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_inbox(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    # the default order: the 特急 first report owed upward first, its time left shown
    assert snap_compare(desk_app(tmp_path), terminal_size=size, press=["j"], run_before=settled)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_an_item(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    # the first row: the 特急 item with a first report owed upward
    assert snap_compare(desk_app(tmp_path), terminal_size=size, press=["enter"], run_before=settled)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_emergency_board(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(desk_app(tmp_path), terminal_size=size, press=["e"])


# -- the 80×24 points of issue 16, each as a picture ------------------------------------------


def test_the_help(snap_compare: Any, tmp_path: Path) -> None:
    # each key once (e/2 紧急), no name repeated as its description, the box edge to edge
    assert snap_compare(
        desk_app(tmp_path), terminal_size=(80, 24), press=["question_mark"], run_before=settled
    )


def test_the_command_palette(snap_compare: Any, tmp_path: Path) -> None:
    # Chinese prompt, each action once, no cursor moves
    assert snap_compare(
        desk_app(tmp_path), terminal_size=(80, 24), press=["ctrl+p"], run_before=settled
    )


def test_a_return_needs_a_reason(snap_compare: Any, tmp_path: Path) -> None:
    # Enter on an empty reason keeps the dialog open and says why
    assert snap_compare(
        desk_app(tmp_path), terminal_size=(80, 24), press=["r", "enter"], run_before=settled
    )


def test_the_outbox_says_pending(snap_compare: Any, tmp_path: Path) -> None:
    # signed off with no link: 待发送 (not 已报送) until the city's receipt; columns apart
    store = Store.open(tmp_path / "county.db")
    add_units(store, [CITY, COUNTY])
    county = Desk(store, COUNTY, "李四", frozenset(Role), Ticking())
    signoff(county, submit(county, draft(title=TITLES[2])).id)
    returned = submit(county, draft(title=TITLES[0]))
    signoff(county, returned.id)
    store.db.execute("UPDATE edge SET state = '退回修改' WHERE item_id = ?", (returned.id,))
    submit(county, draft(title=TITLES[1]))
    app = DeskApp(
        replace(county, clock=Fixed(T0 + timedelta(hours=1))), Attachments(tmp_path / "a")
    )
    assert snap_compare(app, terminal_size=(80, 24), press=["o"], run_before=settled)
