"""The inbox's default order (issue 16): first reports still owed, nearest deadline first, then
urgency (特急 > 加急 > 平急), then newest first, the edge id breaking every tie — read from an
index on the edge's urgency (kept by triggers, also when an item's urgency is revised), the same
on every run, and named in the status line."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

from console.app import DeskApp
from console.rows import SORTS, InboxRows
from console.screen.inbox import InboxList, owed_deadlines
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Fixed, Ticking, draft, incident_draft

pytestmark = pytest.mark.anyio
OCCURRED = datetime.fromisoformat("2026-11-21T14:00:00+08:00")
OWED = "新荣区某煤矿发生透水事故"


def send(county: Desk, store: Store, item_draft: object) -> str:
    item = submit(county, item_draft)  # type: ignore[arg-type]
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    outbox.mark_shipped(county.store, [q.seq for q in outbox.pending(county.store)], county.clock())
    return item.id


@pytest.fixture
def city(tmp_path: Path) -> Desk:
    """A city whose oldest item is a 特急 first report it still owes the province (4:19 left),
    then a newer 特急, a 加急 and routine items (two received in the same minute)."""
    store = Store.open(tmp_path / "store.db")
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    data = {"severity": "较大", "occurred_at": OCCURRED.isoformat(), "place": "某煤矿"}
    send(county, store, incident_draft(incident=data))
    send(county, store, draft(title="新荣区平急一"))
    send(county, store, draft(title="新荣区特急：某路段积雪封闭", urgency="特急"))
    send(county, store, draft(title="新荣区加急：供暖管网抢修", urgency="加急"))
    send(county, store, draft(title="新荣区平急二"))
    send(county, store, draft(title="新荣区平急三"))
    # equal times: the tie is the edge id's, not the store's whim
    store.db.execute("UPDATE edge SET updated_at = (SELECT MAX(updated_at) FROM edge)")
    store.db.execute("UPDATE audit SET at = (SELECT MAX(at) FROM audit)")
    clock = Fixed(OCCURRED + timedelta(minutes=41))  # the province's 5 h: 4:19 left
    return Desk(store, CITY, "王五", frozenset(Role), clock)


EXPECTED = [
    OWED,
    "新荣区特急：某路段积雪封闭",
    "新荣区加急：供暖管网抢修",
    "新荣区平急三",
    "新荣区平急二",
    "新荣区平急一",
]


def titles(rows: InboxRows) -> list[str]:
    return [r.title for i in range(len(rows)) if (r := rows.row(i))]


def test_owed_deadlines_come_first_then_urgency_then_newest(city: Desk) -> None:
    deadlines = owed_deadlines(city.store, city, city.clock())
    assert len(deadlines) == 1
    for _ in range(3):  # a fresh read each time: the same order every run
        rows = InboxRows(city.store, city.node.id)
        assert rows.set_owed(sorted(deadlines, key=lambda i: (deadlines[i][0], i)))
        rows.reload()
        assert titles(rows) == EXPECTED
        first = rows.row(0)
        assert first is not None and first.urgency == "特急"
    rows = InboxRows(city.store, city.node.id)  # no deadlines known yet: urgency, then newest
    assert titles(rows)[:3] == ["新荣区特急：某路段积雪封闭", OWED, "新荣区加急：供暖管网抢修"]
    rows.sort = SORTS.index("最新")
    rows.reload()
    assert titles(rows) == [
        "新荣区平急三",
        "新荣区平急二",
        "新荣区加急：供暖管网抢修",
        "新荣区特急：某路段积雪封闭",
        "新荣区平急一",
        OWED,
    ]


def test_first_paint_has_the_same_order_as_the_full_read(city: Desk) -> None:
    deadlines = owed_deadlines(city.store, city, city.clock())
    rows = InboxRows(city.store, city.node.id)
    for owed in ([], list(deadlines)):
        rows.set_owed(owed)
        rows.reload()
        full = list(rows.ids)
        for limit in range(1, len(full) + 2):
            rows.reload(limit=limit)
            assert rows.ids == full[:limit]
            assert rows.complete == (limit > len(full))
    assert titles(rows)[:2] == EXPECTED[:2]
    rows.outgoing = True  # the outbox: nothing sent from the city
    rows.reload(limit=3)
    assert rows.ids == [] and rows.complete


async def test_the_console_opens_on_the_urgent_item_owed_and_names_the_order(
    city: Desk, tmp_path: Path
) -> None:
    seen = []
    for _ in range(2):
        app = DeskApp(replace(city), Attachments(tmp_path / "att"))
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            box = app.screen.query_one(InboxList)
            assert box.cursor == 0
            line = "".join(s.text for s in box.render_line(0))
            assert "剩4:19" in line and "透水" in line
            status = str(app.screen.query_one("#status", Static).render())
            assert "排序：时限→紧急→时间" in status
            seen.append(titles(box.rows))
    assert seen[0] == seen[1] == EXPECTED


def test_a_revised_urgency_moves_the_item(city: Desk) -> None:
    """The edge's rank follows its item: a 平急 item made 特急 (a revision, or a record from
    below) jumps up; made 平急 again it drops back."""
    rows = InboxRows(city.store, city.node.id)
    city.store.db.execute("UPDATE item SET urgency = '特急' WHERE title = '新荣区平急一'")
    rows.reload()
    assert titles(rows)[:2] == ["新荣区特急：某路段积雪封闭", "新荣区平急一"]
    city.store.db.execute("UPDATE item SET urgency = '平急' WHERE title = '新荣区平急一'")
    rows.reload()
    assert titles(rows)[-2:] == ["新荣区平急一", OWED] or titles(rows)[-1] == "新荣区平急一"


def test_a_filter_keeps_the_default_order(city: Desk) -> None:
    rows = InboxRows(city.store, city.node.id)
    deadlines = owed_deadlines(city.store, city, city.clock())
    rows.set_owed(list(deadlines))
    rows.set_filter("新荣区")
    assert titles(rows) == EXPECTED
    rows.set_filter("平急")
    assert titles(rows) == ["新荣区平急三", "新荣区平急二", "新荣区平急一"]
    rows.set_filter("，")  # nothing to search for: no rows, no error
    assert titles(rows) == []
    rows.reload(limit=10)
    assert rows.ids == [] and rows.complete


@pytest.mark.parametrize("sort", ["时限→紧急→时间", "最新"])
def test_new_rows_go_in_place_without_reading_the_box_again(
    city: Desk, tmp_path: Path, sort: str
) -> None:
    """Another process's records are put where a full read would put them (by bisection on
    the edge's urgency), the owed first reports still first."""
    deadlines = owed_deadlines(city.store, city, city.clock())
    rows = InboxRows(city.store, city.node.id)
    rows.sort = SORTS.index(sort)
    rows.set_owed(list(deadlines))
    rows.reload()
    assert rows.take_new() == 0
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking(OCCURRED))
    for _ in range(6):  # the numbers the fixture's county already used
        submit(county, draft())
    outbox.mark_shipped(county.store, [q.seq for q in outbox.pending(county.store)], OCCURRED)
    other = Store.open(tmp_path / "store.db")  # the daemon, in another process
    try:
        for title, urgency in (
            ("新荣区加急：二", "加急"),
            ("新荣区平急四", "平急"),
            ("新荣区特急：三", "特急"),
        ):
            send(county, other, draft(title=title, urgency=urgency))
    finally:
        other.close()
    assert rows.changed()
    assert rows.take_new() == 3
    placed = list(rows.ids)
    rows.reload()  # what a full read gives
    assert placed == rows.ids
    assert titles(rows)[0] == (OWED if sort == SORTS[0] else "新荣区特急：三")
    rows.set_filter("新荣区")  # a filter is read again, never patched
    assert rows.take_new() == 0
