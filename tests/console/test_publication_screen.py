"""The 刊物 tab (console/screen/publication.py) driven with Pilot: the issue list, an issue
opened, placing adopted items, taking one out, moving entries, sign-off (and its refusal),
export to Markdown and Word; snapshots of the list and of one issue."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import docx
import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import DeskApp
from console.screen.dialog import AskText, Choose, CommandLine, Confirm
from console.screen.item import ItemScreen
from console.screen.publication import (
    EntryTable,
    IssueScreen,
    IssueTable,
    PickScreen,
    PickTable,
    PublicationScreen,
)
from schema import outbox
from schema import publication as pubs
from schema.attachment import Attachments
from schema.desk import Desk, adopt, place_in_issue, signoff, signoff_issue, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, T0, Fixed, Ticking, draft

pytestmark = pytest.mark.anyio
TITLES = [
    "新荣区“煤改电”用户冬季取暖：电价补贴全部到位",
    "关于加快解决城区老旧供热管网“跑冒滴漏”问题的建议",
    "新荣区一天内为15名农民工追回欠薪38.6万元",
]


def city_store(path: Path) -> tuple[Store, list[str]]:
    """A city store holding three items from the county, received (not yet adopted)."""
    store = Store.open(path)
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    ids = []
    for title in TITLES:
        item = submit(county, draft(title=title))
        signoff(county, item.id)
        ids.append(item.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    return store, ids


@pytest.fixture
def city(tmp_path: Path) -> tuple[Desk, list[str], Path]:
    """The city desk (every role) with the county's three items adopted."""
    path = tmp_path / "store.db"
    store, ids = city_store(path)
    desk = Desk(store, CITY, "王五", frozenset(Role), Ticking(T0 + timedelta(hours=1)))
    for item_id in ids:
        adopt(desk, item_id)
    return desk, ids, path


def edge_state(store: Store, item_id: str) -> dict[str, Any] | None:
    return store.one(
        "SELECT state, placement FROM edge WHERE item_id = ? AND to_unit = ?", (item_id, CITY.id)
    )


def order(store: Store, issue_id: str) -> list[str]:
    rows = store.query(
        "SELECT item_id FROM issue_item WHERE issue_id = ? ORDER BY position", (issue_id,)
    )
    return [r["item_id"] for r in rows]


def told(app: DeskApp) -> list[str]:
    """The notifications on screen (what the desk was told)."""
    return [n.message for n in app._notifications]


async def settle(pilot: Pilot[Any], rounds: int = 3) -> None:
    """Let workers finish and their results reach the screen (not the ones that are asking the
    desk a question: they wait for an answer)."""
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in pilot.app.workers if w.group != "ask"]
        if busy:  # an empty list would mean every worker
            await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()


async def open_issue(pilot: Pilot[Any]) -> IssueScreen:
    """From the 刊物 tab, open the issue under the cursor."""
    await pilot.press("4")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, IssueScreen)
    return screen


async def answer(pilot: Pilot[Any], text: str, replace: bool = False) -> None:
    """Type ``text`` (Chinese) into the open AskText and press Enter."""
    assert isinstance(pilot.app.screen, AskText)
    box = pilot.app.screen.query_one("#answer", Input)
    if replace:
        box.value = ""
    box.post_message(events.Paste(text))
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


def entry_titles(screen: IssueScreen) -> list[str]:
    table = screen.query_one(EntryTable)
    return [str(table.get_row_at(n)[-1]).rstrip() for n in range(table.row_count)]


async def test_the_list_shows_every_issue_and_enter_opens_one(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids[:2])
    place_in_issue(desk, "专报/1", ids[2:])
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, PublicationScreen)
        table = app.screen.query_one(IssueTable)
        assert table.row_count == 2
        newest = [str(c).strip() for c in table.get_row_at(0)]
        assert newest == ["专报", "2026年第1期", "总第1期", "2026-11-21", "编辑中", "1", "本单位"]
        assert [str(c).strip() for c in table.get_row_at(1)][:6] == [
            "每日要情",
            "2026年第1期",
            "总第1期",
            "2026-11-21",
            "编辑中",
            "2",
        ]
        status = str(app.screen.query_one("#status", Static).render())
        assert "共 2 期" in status and "刊物：每日要情、专报、参阅" in status
        await pilot.press("j", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IssueScreen) and screen.issue_id == "每日要情/2026/1"
        head = str(screen.query_one("#head", Static).render()).splitlines()
        assert head[0] == "内部　平急"  # the markings first, as on paper
        assert head[1] == "每日要情 2026年第1期（总第1期）"
        assert head[2].startswith("编辑中　大同市　2026-11-21　编辑 王五　印 60 份　共 2 条")
        assert entry_titles(screen) == TITLES[:2]
        # Enter on an entry opens the item; Esc comes back to the issue
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == ids[0]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen)


async def test_a_new_issue_of_the_chosen_publication(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, Choose)
        assert app.screen.choices == ["每日要情", "专报", "参阅"]
        await pilot.press("j", "enter")  # 专报
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen) and app.screen.issue_id == "专报/2026/1"
        row = desk.store.one("SELECT state, editor FROM issue WHERE id = '专报/2026/1'")
        assert row == {"state": "编辑中", "editor": "王五"}
        assert str(app.screen.query_one("#status", Static).render()).startswith("尚未编入信息")
        # a second new 专报 while that one is still blank opens the same issue
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("n", "j", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen) and app.screen.issue_id == "专报/2026/1"
        assert desk.store.one("SELECT COUNT(*) AS n FROM issue") == {"n": 1}
        # Esc on the choice leaves everything alone
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("n", "escape")
        await settle(pilot)
        assert isinstance(app.screen, PublicationScreen)
        assert app.screen.query_one(IssueTable).row_count == 1


async def command(pilot: Pilot[Any], line: str) -> None:
    """Type ``line`` (Chinese) on the ``:`` command line and run it."""
    await pilot.press("colon")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandLine)
    pilot.app.screen.query_one(Input).post_message(events.Paste(line))
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


async def test_the_command_line_opens_a_new_issue_by_name(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await command(pilot, "新一期 参阅")
        assert isinstance(app.screen, IssueScreen) and app.screen.issue_id == "参阅/2026/1"
        await command(pilot, f"编号编入 {ids[1]} {ids[0]}")
        assert order(desk.store, "参阅/2026/1") == [ids[1], ids[0]]


async def test_a_new_issue_follows_the_last_number_once_it_has_items(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids[:1])
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("n", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen) and app.screen.issue_id == "每日要情/2026/2"
        assert pubs.get(desk.store, "每日要情/2026/2").cumulative == 2


async def test_a_writer_cannot_open_an_issue(tmp_path: Path) -> None:
    store, _ = city_store(tmp_path / "store.db")
    desk = Desk(store, CITY, "赵六", frozenset({Role.WRITER}), Ticking())
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("n", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PublicationScreen)
        assert any("编辑刊物" in m for m in told(app))
        assert desk.store.one("SELECT COUNT(*) AS n FROM issue") == {"n": 0}


async def test_adopted_items_not_yet_placed_are_offered_and_placed(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids[:1])
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, PickScreen)
        table = app.screen.query_one(PickTable)
        assert table.row_count == 2  # the placed one is not offered again
        assert sorted(r.item_id for r in app.screen.rows) == sorted(ids[1:])
        shown = [str(table.get_row_at(n)[-1]) for n in range(2)]
        assert any(s.startswith("关于加快解决城区老旧供热管网“跑冒滴漏”问") for s in shown)
        await pilot.press("space", "space")  # mark both
        assert app.screen.marked == set(ids[1:])
        assert str(table.get_row_at(0)[0]) == "选"
        queued = len(outbox.pending(desk.store))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IssueScreen)  # back on the issue, which shows them
        assert order(desk.store, "每日要情/2026/1")[0] == ids[0]
        assert sorted(order(desk.store, "每日要情/2026/1")) == sorted(ids)
        assert sorted(entry_titles(screen)) == sorted(TITLES)
        for item_id in ids[1:]:
            assert edge_state(desk.store, item_id) == {
                "state": "已成刊",
                "placement": "每日要情/2026/1",
            }
        assert len(outbox.pending(desk.store)) == queued + 2  # a decision to the county each
        # nothing left to offer: the picker says so
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, PickScreen)
        assert app.screen.query_one(PickTable).row_count == 0
        assert "没有已采用" in str(app.screen.query_one("#head", Static).render())


async def test_enter_alone_places_the_item_under_the_cursor(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids[:1])
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        await pilot.press("a")
        await settle(pilot)
        first = app.screen.query_one(PickTable).current_key()
        await pilot.press("enter")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[0], first]


async def test_items_placed_by_id(city: tuple[Desk, list[str], Path], tmp_path: Path) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids[:1])
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        await pilot.press("i")
        await settle(pilot)
        await answer(pilot, f"{ids[2]}，{ids[1]}")  # a Chinese comma between them
        assert order(desk.store, "每日要情/2026/1") == [ids[0], ids[2], ids[1]]
        assert "已编入每日要情 2026年第1期（总第1期），共 3 条" in told(app)
        # an id the desk does not hold: refused, nothing changes
        await pilot.press("i")
        await settle(pilot)
        await answer(pilot, "140212-2026-09999")
        assert len(order(desk.store, "每日要情/2026/1")) == 3
        assert any("140212-2026-09999" in m for m in told(app))


async def test_removing_an_entry_asks_first(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_issue(pilot)
        await pilot.press("j", "x")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert app.screen.question == f"把第 2 条撤出本期？\n{TITLES[1]}"
        await pilot.press("n")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == ids
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[0], ids[2]]
        # back to 已采用 (schema keeps the stale placement: desk.remove_from_issue passes "")
        assert edge_state(desk.store, ids[1])["state"] == "已采用"  # type: ignore[index]
        assert entry_titles(screen) == [TITLES[0], TITLES[2]]


async def test_entries_move_up_and_down(city: tuple[Desk, list[str], Path], tmp_path: Path) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_issue(pilot)
        table = screen.query_one(EntryTable)
        await pilot.press("J")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[1], ids[0], ids[2]]
        assert table.current_key() == ids[0]  # the cursor went with it
        await pilot.press("J")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[1], ids[2], ids[0]]
        await pilot.press("J")  # already last: nothing moves
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[1], ids[2], ids[0]]
        await pilot.press("K")
        await settle(pilot)
        assert order(desk.store, "每日要情/2026/1") == [ids[1], ids[0], ids[2]]
        assert entry_titles(screen) == [TITLES[1], TITLES[0], TITLES[2]]
        assert table.current_key() == ids[0]


async def test_sign_off_needs_the_signer_role(tmp_path: Path) -> None:
    store, ids = city_store(tmp_path / "store.db")
    editor = Desk(store, CITY, "王五", frozenset({Role.EDITOR}), Ticking())
    for item_id in ids:
        adopt(editor, item_id)
    place_in_issue(editor, "每日要情/1", ids)
    app = DeskApp(editor, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen)  # refused before asking
        assert "用户 王五 无权执行“签发”，需要签发人角色" in told(app)
        assert pubs.get(store, "每日要情/2026/1").state == "编辑中"


async def test_sign_off_asks_then_issues_and_the_issue_is_closed_to_edits(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_issue(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert pubs.get(desk.store, "每日要情/2026/1").state == "编辑中"
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        issue = pubs.get(desk.store, "每日要情/2026/1")
        assert (issue.state, issue.signer) == ("已印发", "王五")
        for item_id in ids:
            assert edge_state(desk.store, item_id)["state"] == "已印发"  # type: ignore[index]
        kinds = [q.record.kind for q in outbox.pending(desk.store)]
        assert "issue" in kinds  # the issue goes to the parent and the county
        head = str(screen.query_one("#head", Static).render()).splitlines()
        assert head[2].startswith("已印发") and "签发 王五" in head[2]
        # now closed: taking an entry out is refused and nothing changes
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen)
        assert any("不能再编辑" in m for m in told(app))
        assert order(desk.store, "每日要情/2026/1") == ids
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen)


async def export(pilot: Pilot[Any], key: str, where: str) -> str:
    """Export with ``key``; the folder or file asked is ``where``; the status line after."""
    await pilot.press(key)
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, AskText)
    assert dialog.value == str(Path.cwd())  # the current directory by default
    await answer(pilot, where, replace=True)
    await settle(pilot)
    return str(pilot.app.screen.query_one("#status", Static).render())


async def test_export_to_markdown_and_word(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids)
    out = tmp_path / "导出"
    out.mkdir()
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        status = await export(pilot, "e", str(out))
        md = out / "每日要情2026年第1期.md"
        assert status == f"已导出 {md}"
        text = md.read_text("utf-8")
        lines = text.splitlines()
        assert lines[:2] == ["000001  ", "内部  "]  # 份号 and classification, top-left
        assert "# 每日要情" in lines and "2026年第1期（总第1期）" in lines
        assert f"## 1. {TITLES[0]}" in lines and f"## 3. {TITLES[2]}" in lines
        assert not list(out.glob(".*.part"))
        # Word, to a file named without its suffix
        status = await export(pilot, "w", str(out / "第一期"))
        written = out / "第一期.docx"
        assert status == f"已导出 {written}"
        paragraphs = [p.text for p in docx.Document(str(written)).paragraphs]
        assert paragraphs[:3] == ["000001", "内部", "每日要情"]
        assert "2026年第1期（总第1期）" in paragraphs
        assert f"1. {TITLES[0]}" in paragraphs and f"2. {TITLES[1]}" in paragraphs


async def test_an_export_that_cannot_be_written_is_reported(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, _ = city
    place_in_issue(desk, "每日要情/1", ids)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_issue(pilot)
        missing = tmp_path / "没有这个文件夹" / "x.md"
        status = await export(pilot, "e", str(missing))
        assert not missing.exists()
        assert status == f"未能导出 {missing}：文件夹不存在"
        assert f"{missing}：文件夹不存在" in told(app)
        # Esc on the question exports nothing
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not list(tmp_path.glob("*.docx"))


async def test_an_office_adds_a_publication_of_its_own(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, _, _ = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await answer(pilot, "特刊")
        assert isinstance(app.screen, AskText) and app.screen.value == "30"
        await answer(pilot, "20", replace=True)
        assert pubs.publications(desk.store)["特刊"] == 20
        assert "刊物：每日要情、专报、参阅、特刊" in str(
            app.screen.query_one("#status", Static).render()
        )
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, Choose) and app.screen.choices[-1] == "特刊"
        await pilot.press("escape")
        await settle(pilot)
        # the same name again is refused in the schema's words
        await pilot.press("p")
        await settle(pilot)
        await answer(pilot, "特刊")
        await answer(pilot, "")
        assert any("已有刊物“特刊”" in m for m in told(app))


async def test_an_issue_opened_by_another_process_appears(
    city: tuple[Desk, list[str], Path], tmp_path: Path
) -> None:
    desk, ids, path = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one(IssueTable)
        assert table.row_count == 0
        other = Store.open(path)  # another console on the same node
        try:
            place_in_issue(Desk(other, CITY, "钱七", frozenset(Role), Ticking()), "参阅/1", ids)
        finally:
            other.close()
        started = time.monotonic()
        while table.row_count == 0 and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[0]).strip() == "参阅"


# -- snapshots -----------------------------------------------------------------------------------


def snapshot_app(tmp_path: Path) -> DeskApp:
    """A city desk with two issues of 每日要情 (one signed off) and one 专报 being edited."""
    store, ids = city_store(tmp_path / "store.db")
    desk = Desk(store, CITY, "王五", frozenset(Role), Ticking(T0 + timedelta(hours=1)))
    for item_id in ids:
        adopt(desk, item_id)
    place_in_issue(desk, "每日要情/1", ids[2:])
    signoff_issue(desk, "每日要情/1")
    place_in_issue(desk, "专报/1", ids[:2])
    clock = Fixed(T0 + timedelta(hours=2))
    return DeskApp(Desk(store, CITY, "王五", frozenset(Role), clock), Attachments(tmp_path / "a"))


def pressing(*keys: str) -> Any:
    """A ``run_before`` for snap_compare: press each key and let the reads land."""

    async def run(pilot: Pilot[Any]) -> None:
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_issue_list(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pressing("4"))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_an_open_issue(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pressing("4", "enter"))
