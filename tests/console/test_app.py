"""The console (console/app.py) driven with Textual's Pilot: the windowed inbox, the item
view, the Chinese filter and live refresh from another connection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual import events

from console.app import DeskApp, InboxList, InboxScreen, ItemScreen
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Ticking, draft

pytestmark = pytest.mark.anyio
TITLES = ["新荣区煤改电运行平稳", "新荣区追回农民工欠薪38.6万元", "新荣区秸秆综合利用"]


def send(county: Desk, store: Store, title: str) -> str:
    item = submit(county, draft(title=title))
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    outbox.mark_shipped(county.store, [q.seq for q in outbox.pending(county.store)], county.clock())
    return item.id


@pytest.fixture
def city(tmp_path: Path) -> tuple[Desk, Desk, Path]:
    path = tmp_path / "store.db"
    store = Store.open(path)
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    for title in TITLES:
        send(county, store, title)
    return Desk(store, CITY, "王五", frozenset(Role), Ticking()), county, path


def inbox(app: DeskApp) -> InboxList:
    return app.screen.query_one(InboxList)


async def test_the_inbox_opens_moves_and_shows_an_item(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
        box = inbox(app)
        assert len(box.rows) == 3 and box.cursor == 0
        assert box.current() is not None and box.current().title == TITLES[-1]  # newest first
        await pilot.press("j", "j")
        assert box.cursor == 2 and box.current().title == TITLES[0]  # type: ignore[union-attr]
        await pilot.press("j")  # stays on the last row
        assert box.cursor == 2
        await pilot.press("k")
        assert box.cursor == 1
        await pilot.press("space")
        assert len(box.marked) == 1 and box.cursor == 2
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ItemScreen)
        text = str(app.screen.query_one("#item").render())
        assert text.splitlines()[0] == "内部　平急"  # markings first
        assert TITLES[0] in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen) and inbox(app).cursor == 2


async def test_the_filter_takes_chinese_and_escape_clears_it(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        filter_box = app.screen.query_one("#filter")
        assert filter_box.has_focus
        filter_box.post_message(events.Paste("欠薪"))  # pilot.press drops Chinese
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        box = inbox(app)
        assert len(box.rows) == 1 and box.current().title == TITLES[1]  # type: ignore[union-attr]
        assert "筛选“欠薪”" in str(app.screen.query_one("#status").render())
        await pilot.press("escape")
        await pilot.pause()
        assert len(inbox(app).rows) == 3


async def test_a_record_applied_by_another_process_appears_keeping_the_cursor(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, county, path = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("j")
        box = inbox(app)
        here = box.current()
        assert here is not None
        other = Store.open(path)  # the daemon's connection
        try:
            send(county, other, "新荣区新增特急信息")
        finally:
            other.close()
        started = time.monotonic()
        while len(box.rows) < 4 and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        seen = time.monotonic() - started
        assert len(box.rows) == 4, "the new item did not appear"
        assert seen < 1.5  # refreshed every half second
        assert box.current() == here  # the cursor stayed on the same item
        assert box.rows.row(0).title == "新荣区新增特急信息"  # type: ignore[union-attr]
