"""The 线索 tab (console/screen/lead.py) driven with Pilot: leads ranked with the matched
keywords first and highlighted, the filter, keep / dismiss / restore (and the refusal for a
drafted lead), a draft started from a lead, a drafted lead opening its item, a lead added by
another process appearing by itself, the empty list, and the feeds' health."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input, Static, TextArea

from console.app import DeskApp
from console.screen.compose import ComposeScreen
from console.screen.dialog import AskText
from console.screen.item import ItemScreen
from console.screen.lead import HIT, NO_LEADS, LeadScreen, LeadTable, feed_health
from console.text import cell_width
from schema import item as items
from schema import lead as leads
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk
from schema.lead import Entry
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, T0, Fixed
from tests.console.test_publication_screen import answer, command, settle, told

pytestmark = pytest.mark.anyio
WORDS = ["欠薪", "煤改电", "取暖"]
# (source, guid, title, summary, hours before T0): ranked 2 keywords − 30 h, 1 − 20 h, 0 − 1 h
ENTRIES = [
    (
        "山西新闻网",
        "n1",
        "新荣区秸秆综合利用率达92%",
        "全区秸秆综合利用率达到92%，较上年提高5个百分点。",
        1,
    ),
    (
        "大同日报",
        "d1",
        "大同市根治欠薪冬季专项行动启动",
        "明确12月底前完成在建工程项目欠薪线索排查，确保农民工按时足额拿到工资。",
        20,
    ),
    (
        "人民网",
        "r1",
        "煤改电用户冬季取暖补贴到位",
        "新荣区煤改电用户取暖补贴已全部发放，煤改电峰谷电价同步落实。",
        30,
    ),
]
RANKED = [ENTRIES[2][2], ENTRIES[1][2], ENTRIES[0][2]]


class County:
    """A county desk on a file store (as a console opens it) holding three leads."""

    def __init__(self, tmp_path: Path, with_leads: bool = True) -> None:
        self.path = tmp_path / "county.db"
        store = Store.open(self.path)
        add_units(store, [CITY, COUNTY])
        self.desk = Desk(store, COUNTY, "李四", frozenset(Role), Fixed(T0))
        self.leads: dict[str, leads.Lead] = {}
        if with_leads:
            added = leads.add(store, [entry(*e) for e in ENTRIES], WORDS, T0)
            self.leads = {lead.title: lead for lead in added.kept}
            assert len(self.leads) == 3

    def app(self, tmp_path: Path) -> DeskApp:
        return DeskApp(self.desk, Attachments(tmp_path / "att"))

    def state(self, title: str) -> str:
        return leads.get(self.desk.store, self.leads[title].id).state


def entry(source: str, guid: str, title: str, summary: str, hours: int) -> Entry:
    link = f"https://news.example.cn/{guid}.html"
    return Entry(source, guid, link, title, summary, T0 - timedelta(hours=hours))


@pytest.fixture
def county(tmp_path: Path) -> Iterator[County]:
    made = County(tmp_path)
    yield made
    made.desk.store.close()


async def open_leads(pilot: Pilot[Any], desk: Desk) -> LeadScreen:
    """Push the 线索 screen over the inbox (as the 8 key will open the tab)."""
    screen = LeadScreen(desk)
    await pilot.app.push_screen(screen)
    await settle(pilot)
    assert pilot.app.screen is screen
    return screen


def table(app: DeskApp) -> LeadTable:
    return app.screen.query_one(LeadTable)


def titles(app: DeskApp) -> list[str]:
    """The full titles of the leads listed, top to bottom (the cells may be cut to fit)."""
    by_key = {
        str(lead.id): lead.title for lead in leads.ranked(app.desk.store, T0, states=leads.STATES)
    }
    return [by_key[str(row.key.value)] for row in table(app).ordered_rows]


def status(app: DeskApp) -> str:
    return str(app.screen.query_one("#lead-status", Static).render())


def detail(app: DeskApp) -> Text:
    shown = app.screen.query_one("#lead-detail", Static).content
    return shown if isinstance(shown, Text) else Text(str(shown))


def hits(text: Text) -> list[str]:
    """The highlighted stretches of ``text``, in order."""
    spans = sorted(text.spans, key=lambda s: s.start)
    return [text.plain[s.start : s.end] for s in spans if s.style == HIT]


async def test_matched_leads_rank_first_with_their_keywords_highlighted(
    county: County, tmp_path: Path
) -> None:
    app = county.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        assert titles(app) == RANKED  # two keywords beat one, one beats a fresher plain lead
        first = [str(c).rstrip() for c in table(app).get_row_at(0)]
        assert first[:4] == ["新", "11-20 09:00", "人民网", "煤改电、取暖"]
        assert status(app) == "新 3　保留 0"
        cell = table(app).get_row_at(0)[-1]
        assert isinstance(cell, Text) and hits(cell) == ["煤改电", "取暖"]
        # every column fits 80 cells: the title takes what the fixed columns leave
        widths = [c.width for c in table(app).columns.values()]
        assert sum(widths) + 2 * len(widths) + 2 <= 80
        cells = [str(table(app).get_row_at(n)[-1]) for n in range(3)]
        assert [cell_width(c) for c in cells] == [widths[-1]] * 3
        assert cells[1].rstrip() == "大同市根治欠薪冬季专项行动启…"  # cut to fit, marked
        shown = detail(app)
        assert shown.plain.splitlines()[:4] == [
            "煤改电用户冬季取暖补贴到位",
            "来源 人民网　时间 11月20日 09:00　状态 新",
            "链接 https://news.example.cn/r1.html",
            "命中 煤改电、取暖",
        ]
        # title, the 命中 line, then each occurrence in the summary
        assert hits(shown) == ["煤改电", "取暖", "煤改电、取暖", "煤改电", "取暖", "煤改电"]
        await pilot.press("j", "j")
        await settle(pilot)
        assert detail(app).plain.startswith(RANKED[2])
        assert hits(detail(app)) == []  # nothing matched, nothing highlighted
        assert "命中 （无）" in detail(app).plain


async def test_the_filter_from_slash_and_from_the_command_line(
    county: County, tmp_path: Path
) -> None:
    app = county.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        # the footer, ?, Ctrl+P and : list the same commands, in Chinese
        names = {c.name: c.key for c in app.commands()}
        assert {k: names.get(k) for k in ("成稿", "保留", "忽略", "恢复", "筛选", "全部")} == {
            "成稿": "w",
            "保留": "s",
            "忽略": "x",
            "恢复": "u",
            "筛选": "/",
            "全部": "a",
        }
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, AskText)
        await answer(pilot, "秸秆")
        await shows(pilot, app, [RANKED[2]])
        await has_status(pilot, app, "新 3　保留 0　筛选：秸秆（1 条）")
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, AskText) and app.screen.value == "秸秆"
        await answer(pilot, "", replace=True)  # empty: the filter is cleared
        await shows(pilot, app, RANKED)
        await has_status(pilot, app, "新 3　保留 0")
        await command(pilot, "筛选 工资")  # a word of a summary only
        await shows(pilot, app, [RANKED[1]])
        await command(pilot, "筛选 没有这个词")
        await shows(pilot, app, [])
        assert detail(app).plain == "没有含“没有这个词”的线索（按 / 修改或清除筛选）。"


async def has_status(pilot: Pilot[Any], app: DeskApp, expected: str) -> None:
    """Wait (bounded) for the status line to read ``expected`` (set by the filter's worker)."""
    deadline = time.monotonic() + 10
    while status(app) != expected and time.monotonic() < deadline:
        await settle(pilot, rounds=1)
    assert status(app) == expected


async def shows(pilot: Pilot[Any], app: DeskApp, expected: list[str]) -> None:
    """Wait (bounded) for the table to show ``expected``: a filter's read is a worker of its
    own, and on a busy machine it may finish after the command line's own settling."""
    deadline = time.monotonic() + 10
    while titles(app) != expected and time.monotonic() < deadline:
        await settle(pilot, rounds=1)
    assert titles(app) == expected


async def test_keep_dismiss_and_restore_change_the_stored_state(
    county: County, tmp_path: Path
) -> None:
    app = county.app(tmp_path)
    queued = len(outbox.pending(county.desk.store))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        await pilot.press("j", "s")  # keep the second
        await settle(pilot)
        assert county.state(RANKED[1]) == leads.KEPT
        assert f"已保留线索 {county.leads[RANKED[1]].id}" in told(app)
        assert table(app).cursor_row == 1  # still on the same lead
        assert str(table(app).get_row_at(1)[0]).strip() == "保留"
        assert status(app) == "新 2　保留 1"
        await pilot.press("x")  # dismissed: it leaves the list, the cursor stays put
        await settle(pilot)
        assert county.state(RANKED[1]) == leads.DISMISSED
        assert titles(app) == [RANKED[0], RANKED[2]]
        assert detail(app).plain.startswith(RANKED[2])
        await pilot.press("a")  # 全部: the dismissed lead is listed again
        await settle(pilot)
        assert titles(app) == RANKED
        assert status(app) == "新 2　保留 0　已忽略 1　已成稿 0　显示全部"
        await pilot.press("k")
        await settle(pilot)
        assert str(table(app).get_row_at(1)[0]).strip() == "已忽略"
        await pilot.press("u")  # restored to 新
        await settle(pilot)
        assert county.state(RANKED[1]) == leads.NEW
        await pilot.press("a")
        await settle(pilot)
        assert titles(app) == RANKED and status(app) == "新 3　保留 0"
    # a lead never leaves the node: nothing was queued for the daemon
    assert len(outbox.pending(county.desk.store)) == queued


async def test_a_drafted_lead_cannot_be_dismissed_and_enter_opens_its_item(
    county: County, tmp_path: Path
) -> None:
    item = leads.to_item(county.desk, county.leads[RANKED[0]].id)
    app = county.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        assert titles(app) == RANKED[1:]  # drafted: not among the new and kept
        await pilot.press("a")
        await settle(pilot)
        assert titles(app) == RANKED
        await pilot.press("g")  # the cursor stayed on its lead: up to the drafted one
        await settle(pilot)
        assert str(table(app).get_row_at(0)[0]).strip() == "已成稿"
        assert f"（信息 {item.id}，回车打开）" in detail(app).plain
        await pilot.press("x")
        await settle(pilot)
        refusal = f"线索 {county.leads[RANKED[0]].id} 已写成信息 {item.id}"
        assert any(refusal in said for said in told(app))
        assert county.state(RANKED[0]) == leads.DRAFTED
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == item.id


async def test_enter_starts_a_draft_from_the_lead_that_saves_as_an_item(
    county: County, tmp_path: Path
) -> None:
    app = county.app(tmp_path)
    lead = county.leads[RANKED[1]]
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        await pilot.press("j", "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ComposeScreen) and form.lead_id == lead.id
        # prefilled: the lead's title, its text as a first body citing the source
        assert form.query_one("#title", Input).value == lead.title
        body = form.query_one("#body", TextArea).text
        assert body.startswith(lead.summary) and f"（线索来源：{lead.source}，{lead.link}）" in body
        assert f"据线索 {lead.id} 起草" in str(form.query_one("#context", Static).render())
        assert county.state(RANKED[1]) == leads.NEW  # nothing saved until Ctrl+S
        await pilot.press("ctrl+s")
        await settle(pilot)
        stored = leads.get(county.desk.store, lead.id)
        assert stored.state == leads.DRAFTED and stored.item_id == form.item_id
        item = items.get(county.desk.store, form.item_id)
        assert item.title == lead.title and item.draft.body == body
        await pilot.press("escape")  # back to the list: the drafted lead has left it
        await settle(pilot)
        assert isinstance(app.screen, LeadScreen) and lead.title not in titles(app)


async def test_a_lead_added_by_another_process_appears(county: County, tmp_path: Path) -> None:
    app = county.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, county.desk)
        await pilot.press("j")  # the cursor on the 欠薪 lead
        await settle(pilot)
        daemon = Store.open(county.path)  # the daemon's own connection
        try:
            fresh = ("大同日报", "d2", "新荣区煤改电取暖欠薪问题专项督查", "督查煤改电。", 0)
            leads.add(daemon, [entry(*fresh)], WORDS, T0)
        finally:
            daemon.close()
        started = time.monotonic()
        while table(app).row_count < 4 and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        assert titles(app)[0] == fresh[2]  # three keywords: first, with no key pressed
        assert status(app) == "新 4　保留 0"
        assert detail(app).plain.startswith(RANKED[1])  # the cursor followed its lead


async def test_an_empty_list_says_where_leads_come_from(tmp_path: Path) -> None:
    empty = County(tmp_path, with_leads=False)
    app = empty.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_leads(pilot, empty.desk)
        assert table(app).row_count == 0
        assert detail(app).plain == NO_LEADS
        assert status(app) == "新 0　保留 0"
        await pilot.press("s", "x", "w", "enter")  # nothing under the cursor: each key says so
        await settle(pilot)
        assert isinstance(app.screen, LeadScreen)
        assert told(app) == ["没有线索", "没有线索", "没有线索，无从写成信息"]
    empty.desk.store.close()


def test_the_feeds_health_as_the_daemon_recorded_it() -> None:
    store = Store.memory()
    assert feed_health(store) == ""
    later = T0 + timedelta(minutes=15)
    leads.note_read(store, "人民网", T0, later, '"e1"', "", 1, "1 条被拒绝（标题超过 200 字）")
    leads.note_failure(store, "大同日报", "服务器返回 503", later)
    assert feed_health(store) == "订阅源 2，出错 1：大同日报"  # a refused entry is no failure
    assert leads.feed_state(store, "大同日报").failures == 1
    assert leads.note_failure(store, "大同日报", "服务器返回 503", later).failures == 2
    leads.note_read(store, "大同日报", later, later, "", "")
    assert feed_health(store) == "订阅源 2"


async def test_a_read_that_finishes_after_a_later_one_is_not_shown(
    county: County, tmp_path: Path
) -> None:
    """A read runs on a thread that cannot be stopped: the live refresh, started with the
    filter before it changed, may finish after the filter's own read. Only the latest read
    of a group is shown, whichever finishes last — unless the screen asks for every result
    (the 网络 tab: only some of its reads carry the 通讯录)."""
    app = county.app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_leads(pilot, county.desk)
        await shows(pilot, app, RANKED)
        for every, expected in ((False, ["later"]), (True, ["later", "earlier"])):
            started, release = threading.Event(), threading.Event()
            shown: list[str] = []

            def slow(desk: Desk, started: Any = started, release: Any = release) -> str:
                started.set()
                release.wait(10)
                return "earlier"

            # the refresh with the old filter, still reading
            screen.read(slow, shown.append, group="test", every=every)
            deadline = time.monotonic() + 10  # (not settle(): it waits for every worker)
            while not started.is_set() and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert started.is_set()
            screen.read(lambda desk: "later", shown.append, group="test", every=every)
            deadline = time.monotonic() + 10
            while shown != ["later"] and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert shown == ["later"]
            release.set()
            deadline = time.monotonic() + 3
            while shown != expected and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await settle(pilot)
            assert shown == expected


async def test_a_database_fault_is_told_in_chinese_not_raised(
    county: County, tmp_path: Path
) -> None:
    """A SQLite error in a read or a desk operation (a damaged page, a lock held too long) is
    a notification in Chinese; the console stays up."""
    app = county.app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_leads(pilot, county.desk)

        def damaged(desk: Desk | None = None) -> str:
            raise sqlite3.DatabaseError("database disk image is malformed")

        screen.read(damaged, lambda result: None)
        await settle(pilot)
        assert screen.attempt(damaged) is None
        await settle(pilot)
        faults = [t for t in told(app) if "数据库文件已损坏" in t]
        assert len(faults) == 2
        assert app.is_running and app.screen is screen
