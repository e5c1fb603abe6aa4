"""The console (console/app.py) driven with Textual's Pilot: the windowed inbox, the item
view, the Chinese filter and live refresh from another connection."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, Static

from console.app import DeskApp, terminal_theme
from console.screen.desk import TABS
from console.screen.dialog import Choose, CommandLine
from console.screen.inbox import InboxList, InboxScreen
from console.screen.item import ItemScreen
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Fixed, Ticking, draft, incident_draft

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


async def test_triage_on_marked_rows_asks_a_reason_and_confirms_a_rejection(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = inbox(app)
        await pilot.press("space", "space")  # mark the two newest
        await pilot.press("a")
        await pilot.pause()
        states = {
            r["item_id"]: r["state"]
            for r in desk.store.query("SELECT item_id, state FROM edge WHERE to_unit = '140200'")
        }
        assert sorted(states.values()) == ["已接收", "已采用", "已采用"]
        assert not box.marked
        # return the remaining one: a reason is asked (typed in Chinese)
        await pilot.press("G", "r")
        await pilot.pause()
        answer = app.screen.query_one("#answer")
        answer.post_message(events.Paste("请补充具体数字"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        row = desk.store.one(
            "SELECT state, note FROM edge WHERE item_id = ? AND to_unit = '140200'",
            (box.current().item_id,),  # type: ignore[union-attr]
        )
        assert row == {"state": "退回修改", "note": "请补充具体数字"}
        # a rejection asks first; n leaves it alone
        await pilot.press("g", "d")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert "退稿" not in {r["state"] for r in desk.store.query("SELECT state FROM edge")}
        # an adopted item cannot be rejected: the desk is told, nothing changes
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "退稿" not in {r["state"] for r in desk.store.query("SELECT state FROM edge")}


async def test_the_emergency_board_counts_down(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, county, _ = city
    item = submit(
        county,
        incident_draft(
            incident={
                "severity": "较大",
                "occurred_at": "2026-11-21T14:00:00+08:00",
                "place": "某煤矿",
            }
        ),
    )
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(desk.store, q.record, CITY.id, county.clock)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        board = str(app.screen.query_one("#board").render())
        # the city owes the province the county's report: 5 h after the event
        assert "新荣区某煤矿发生透水事故" in board and "山西" not in board
        assert "书面" in board and ("待报" in board or "超时" in board)
        # the incidents of the last days with their reports, late ones flagged
        assert "近期事件（1）" in board and "报告：首报" in board
        assert ("迟报：新荣区" in board) == bool(desk.store.query("SELECT 1 FROM incident_mark"))
        # Enter picks one of the board's reports and opens it (it did nothing)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Choose)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == item.id


async def test_help_and_the_command_palette_reach_the_desk_s_actions(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        shown = str(app.screen.query_one(Static).render())
        assert "退回，须写明理由" in shown and "Ctrl+P" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"采用", "退回", "备用", "退稿", "紧急", "筛选", "帮助"} <= set(titles)
        adopt = next(c for c in app.get_system_commands(app.screen) if c.title == "采用")
        adopt.callback()  # as the palette runs it
        await pilot.pause()
        rows = desk.store.query("SELECT state FROM edge WHERE to_unit = '140200' ORDER BY id")
        assert [r["state"] for r in rows].count("已采用") == 1


async def test_the_command_line_runs_any_action_by_name_with_an_argument(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()

        async def command(text: str) -> None:
            await pilot.press("colon")
            await pilot.pause()
            app.screen.query_one(Input).post_message(events.Paste(text))
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()

        await command("筛选 欠薪")  # an argument goes straight to the filter
        assert inbox(app).rows.filter == "欠薪" and len(inbox(app).rows) == 1
        await command("采用")
        adopted = desk.store.query("SELECT item_id FROM edge WHERE state = '已采用'")
        assert [r["item_id"] for r in adopted] == [inbox(app).current().item_id]  # type: ignore[union-attr]
        await command("紧急")  # another tab by its name
        assert app.current_mode == "emergency"
        await command("不存在的命令")  # refused with a notice, the line stays open
        assert isinstance(app.screen, CommandLine)
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "emergency" and not isinstance(app.screen, CommandLine)


async def test_tabs_switch_by_number_and_escape_comes_back_to_the_inbox(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for key, mode in zip("12345678", [t[1] for t in TABS], strict=True):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
            assert "[" not in str(app.screen.query_one(".tabs", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "inbox"


async def test_sort_orders_the_inbox_and_keeps_counting(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, county, _ = city
    send(county, desk.store, "新荣区特急：某路段积雪封闭")
    desk.store.db.execute(
        "UPDATE item SET urgency = '特急' WHERE title = '新荣区特急：某路段积雪封闭'"
    )
    desk.store.db.execute("UPDATE item SET urgency = '加急' WHERE title = ?", (TITLES[0],))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = inbox(app)
        status = app.screen.query_one("#status")
        titles = [box.rows.row(i).title for i in range(len(box.rows))]  # type: ignore[union-attr]
        # the default: 特急, then 加急, then the rest newest first
        assert titles == ["新荣区特急：某路段积雪封闭", TITLES[0], TITLES[2], TITLES[1]]
        assert "排序：时限→紧急→时间" in str(status.render())
        await pilot.press("s")  # 最新
        await pilot.pause()
        titles = [box.rows.row(i).title for i in range(len(box.rows))]  # type: ignore[union-attr]
        assert titles == ["新荣区特急：某路段积雪封闭", TITLES[2], TITLES[1], TITLES[0]]
        assert "排序：最新" in str(status.render())
        for _ in range(3):  # 来源单位, 状态, and round to the default again
            await pilot.press("s")
        await pilot.pause()
        titles = [box.rows.row(i).title for i in range(len(box.rows))]  # type: ignore[union-attr]
        assert titles == ["新荣区特急：某路段积雪封闭", TITLES[0], TITLES[2], TITLES[1]]
        assert "排序：时限→紧急→时间" in str(status.render())


async def test_the_deadline_column_counts_down_a_first_report_owed_upward(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, county, _ = city
    occurred = datetime.fromisoformat("2026-11-21T14:00:00+08:00")
    data = {"severity": "较大", "occurred_at": occurred.isoformat(), "place": "某煤矿"}
    item = submit(county, incident_draft(incident=data))
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(desk.store, q.record, CITY.id, county.clock)
    clock = Fixed(occurred + timedelta(hours=4, minutes=50))  # the province's 5 h: 10 min left
    app = DeskApp(replace(desk, clock=clock), Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        box = inbox(app)
        line = "".join(s.text for s in box.render_line(0))
        assert "剩0:10" in line and "透水" in line
        assert "剩" not in "".join(s.text for s in box.render_line(1))  # routine: no deadline
        clock.now = occurred + timedelta(hours=5, minutes=12)
        box.tick()
        await pilot.pause()
        assert "超0:12" in "".join(s.text for s in box.render_line(0))


async def test_own_items_forward_merge_and_sign_off_from_the_inbox(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        box = inbox(app)
        await pilot.press("f")  # forward the newest: a new item of the city, to sign off
        await pilot.pause()
        assert desk.store.one("SELECT COUNT(*) AS n FROM item WHERE origin = '140200'") == {"n": 1}
        await pilot.press("j", "space", "space", "m")  # merge the other two (marked)
        await pilot.pause()
        app.screen.query_one("#answer").post_message(events.Paste("新荣区民生工作综述"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        merged = desk.store.one("SELECT id FROM item WHERE title = '新荣区民生工作综述'")
        assert merged is not None
        await pilot.press("o")  # 发件: the city's own two drafts
        await pilot.pause()
        assert box.rows.outgoing and len(box.rows) == 2
        assert "发件 2 条" in str(app.screen.query_one("#status").render())
        assert box.current().item_id == merged["id"]  # type: ignore[union-attr]
        await pilot.press("S")  # sign off: asks first
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        queued = [q.record.id for q in outbox.pending(desk.store) if q.record.kind == "item"]
        assert queued == [merged["id"]]  # the forward is still a draft
        await pilot.press("o")
        await pilot.pause()
        assert not box.rows.outgoing and len(box.rows) == 3


async def test_the_item_view_decides_on_its_item(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        item_id = inbox(app).current().item_id  # type: ignore[union-attr]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ItemScreen)
        await pilot.press("b")  # 存稿备用
        await pilot.pause()
        await pilot.pause()
        edge = desk.store.one("SELECT state FROM edge WHERE item_id = ?", (item_id,))
        assert edge == {"state": "备用"}
        assert "已接收 → 备用" in str(app.screen.query_one("#item").render())  # the view followed


def test_plain_terminals_get_the_ansi_theme() -> None:
    assert terminal_theme({"TERM": "xterm"}) == "ansi-dark"
    assert terminal_theme({"COLORTERM": "truecolor"}) == "textual-dark"
    assert terminal_theme({"XINBAO_THEME": "textual-light"}) == "textual-light"


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_every_tab_opens_at_the_smallest_and_a_large_terminal(
    city: tuple[Desk, Desk, Path], tmp_path: Path, size: tuple[int, int]
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key, mode in zip("23456781", [*(t[1] for t in TABS[1:]), "inbox"], strict=True):
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.current_mode == mode
            tabs = app.screen.query_one(".tabs", Static)
            assert tabs.region.width == size[0] and "8 线索" in str(tabs.render())
            assert app.screen.query_one("Footer").region.y == size[1] - 1  # nothing pushed off
        assert len(inbox(app).rows) == 3


async def test_a_tab_behind_another_rests_its_timers(
    city: tuple[Desk, Desk, Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        board = app.screen
        assert board._timers_here and all(t._active.is_set() for t in board._timers_here)
        await pilot.press("1")
        await pilot.pause()
        assert all(not t._active.is_set() for t in board._timers_here)  # paused behind the inbox
        await pilot.press("2")
        await pilot.pause()
        assert all(t._active.is_set() for t in board._timers_here)
