"""The compose / edit form (console/screen/compose.py) driven with Pilot: Chinese typed and
pasted, validation as ``xinbao submit`` does it, edits, sign-off, replies to a topic request,
Esc with unsaved changes; and SVG snapshots at 80×24 and 120×36."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, Select, SelectionList, Static, TextArea

from console.app import DeskApp
from console.screen.compose import ComposeScreen, validate
from console.screen.dialog import Confirm
from console.screen.inbox import InboxScreen
from schema import item as items
from schema import outbox
from schema import request as requests
from schema.attachment import Attachments
from schema.desk import (
    Desk,
    compose_request,
    outgoing_edges,
    return_item,
    signoff,
    signoff_request,
    submit,
)
from schema.inbound import apply
from schema.network import add_units
from schema.state import mark_delivered
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, T0, Fixed, Ticking, draft, incident_draft

pytestmark = pytest.mark.anyio
TITLE = "新荣区“煤改电”：峰谷电价补贴全部到位"
BODY = (
    "入冬以来，新荣区落实《关于做好冬季清洁取暖工作的通知》，摸清底数、兜牢底线：\n"
    "一是补贴到户，全区3.6万户“煤改电”用户峰谷电价补贴全部发放到位；\n"
    "二是巡查到点。"
)


def county_desk(tmp_path: Path, roles: frozenset[Role] = frozenset(Role)) -> Desk:
    """A county desk over a file store that knows its city."""
    store = Store.open(tmp_path / "county.db")
    add_units(store, [CITY, COUNTY])
    return Desk(store, COUNTY, "李四", roles, Ticking())


def desk_app(desk: Desk, tmp_path: Path) -> DeskApp:
    return DeskApp(desk, Attachments(tmp_path / "att"))


async def settle(app: DeskApp, pilot: Pilot[Any]) -> None:
    """Let reads in worker threads finish and their results reach the screen."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_form(app: DeskApp, pilot: Pilot[Any], screen: ComposeScreen) -> ComposeScreen:
    await pilot.pause()
    app.push_screen(screen)
    await settle(app, pilot)
    assert app.screen is screen and screen.loaded
    return screen


async def paste(app: DeskApp, pilot: Pilot[Any], field: str, text: str) -> None:
    """Paste into a field as a terminal does (the app passes it to the focused widget)."""
    app.screen.query_one(f"#{field}").focus()
    await pilot.pause()
    app.post_message(events.Paste(text))
    await pilot.pause()


async def type_keys(app: DeskApp, pilot: Pilot[Any], field: str, text: str) -> None:
    """Type into a field one key at a time, as an input method commits characters over SSH
    (``pilot.press`` drops Chinese punctuation, so the key events are made here)."""
    app.screen.query_one(f"#{field}").focus()
    await pilot.pause()
    for ch in text:
        app.post_message(events.Key(_character_to_key(ch), ch))
    await pilot.pause()


async def choose(pilot: Pilot[Any], screen: ComposeScreen, field: str, value: str) -> None:
    """Pick ``value`` in a select with the keyboard only: Enter opens it, ↓/↑ move, Enter."""
    select = screen.query_one(f"#{field}", Select)
    select.focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    options = [v for _, v in select._options]
    current = select.value if select.value in options else options[0]
    steps = options.index(value) - options.index(current)
    await pilot.press(*["down" if steps > 0 else "up"] * abs(steps))
    await pilot.press("enter")
    await pilot.pause()
    assert select.value == value


def shown(screen: ComposeScreen, widget: str = "#problems") -> str:
    """The text of a panel as a person reads it (no-break spaces read as spaces)."""
    return str(screen.query_one(widget, Static).render()).replace("\u00a0", " ")


def item_count(desk: Desk) -> int:
    return int(desk.store.one("SELECT COUNT(*) AS n FROM item")["n"])  # type: ignore[index]


async def test_a_new_item_typed_and_pasted_in_chinese_is_saved_exactly(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        assert app.focused is screen.query_one("#title")
        assert "撰写新信息" in shown(screen, "#status")
        assert screen.query_one("#author", Input).value == "李四"  # the desk's user
        await type_keys(app, pilot, "title", TITLE)
        await pilot.press("enter")  # on to the next field
        assert app.focused is screen.query_one("#category")
        await choose(pilot, screen, "category", "工作动态")
        await choose(pilot, screen, "urgency", "加急")
        await paste(app, pilot, "phone", "0352-1234567")
        await paste(app, pilot, "body", BODY)
        assert "未保存" in shown(screen, "#status")
        # the form is usable at 80×24: the body has room for several lines
        assert screen.query_one("#body").content_region.height >= 5
        await pilot.press("ctrl+s")
        await pilot.pause()
        (row,) = desk.store.query("SELECT id FROM item")
        item = items.get(desk.store, row["id"])
        assert item.title == TITLE and item.draft.body == BODY
        assert str(item.draft.category) == "工作动态" and str(item.draft.urgency) == "加急"
        assert str(item.draft.classification) == "内部"  # the item file's default
        assert item.draft.author == "李四" and item.draft.phone == "0352-1234567"
        assert [e.state.value for e in outgoing_edges(desk.store, item.id, COUNTY.id)] == ["待签发"]
        # the outcome and the editorial advice, as ``xinbao submit`` prints them
        text = shown(screen)
        assert f"已提交 {item.id}「{TITLE}」，待签发" in text
        assert "提示 正文" in text and "少于 150" in text  # advice never blocks
        await settle(app, pilot)
        status = shown(screen, "#status")
        assert f"修改 {item.id}　第1稿　待签发" in status and "未保存" not in status
        # saving again with nothing changed makes no new revision
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert items.get(desk.store, item.id).revision == 1 and item_count(desk) == 1
        # Esc leaves at once: nothing is unsaved
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)


async def test_every_problem_is_shown_and_nothing_saved(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        await paste(app, pilot, "body", BODY)
        await choose(pilot, screen, "classification", "绝密")
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = shown(screen)
        # title empty, no category, 绝密: all at once, in form order, in Chinese
        assert text.splitlines() == [
            "✗ 标题：不能为空",
            "✗ 类别：必须填写",
            "✗ 密级：绝密信息不得进入本系统，请按保密规定另行报送",
        ]
        assert item_count(desk) == 0
        assert app.focused is screen.query_one("#title")  # the first problem
        assert screen.query_one("#title").has_class("-invalid")
        assert screen.query_one("#body", TextArea).text == BODY  # nothing typed is lost
        # an emergency without its incident fields: refused the same way
        await type_keys(app, pilot, "title", "新荣区某煤矿发生透水事故")
        await choose(pilot, screen, "category", "突发事件")
        await choose(pilot, screen, "classification", "内部")
        assert screen.query_one("#incident").display
        await paste(app, pilot, "occurred_at", "昨天下午")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert shown(screen).splitlines() == [
            "✗ 事件级别：突发事件必须填写",
            "✗ 事发时间：“昨天下午”不是有效时间，例如 2026-11-21T14:35:00+08:00",
            "✗ 事发地点：突发事件必须填写",
        ]
        assert item_count(desk) == 0
        # fixed: it is saved, with the incident as typed
        await choose(pilot, screen, "severity", "较大")
        screen.query_one("#occurred_at", Input).value = ""
        await paste(app, pilot, "occurred_at", "2026-11-21 14:35")
        await paste(app, pilot, "place", "新荣区某煤矿")
        await pilot.press("ctrl+s")
        await pilot.pause()
        (row,) = desk.store.query("SELECT id FROM item")
        incident = items.get(desk.store, row["id"]).draft.incident
        assert incident is not None and incident.place == "新荣区某煤矿"
        assert incident.occurred_at == T0.replace(hour=14, minute=35)
        assert str(incident.severity) == "较大" and incident.report == "首报"
        assert "✗" not in shown(screen) and not screen.query_one("#title").has_class("-invalid")


def test_validation_reports_every_problem_the_item_file_parser_finds() -> None:
    """The form's check is ``parse_item`` plus the blocking editorial rules, every problem."""
    good = {"title": "标题", "category": "工作动态", "body": "正文", "author": "张三"}
    made, problems = validate(good)
    assert problems == [] and made is not None and made.title == "标题"
    made, problems = validate({**good, "title": " ", "urgency": "很急", "author": ""})
    assert made is None
    assert [f for f, _ in problems] == ["title", "urgency", "author"]  # in form order
    assert "“很急”不是有效值" in dict(problems)["urgency"]


async def test_an_own_item_is_edited_as_a_new_revision(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    item = submit(desk, incident_draft(phone="0352-7654321"))
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk, item.id))
        # prefilled from the store
        assert screen.query_one("#title", Input).value == item.title
        assert screen.query_one("#body", TextArea).text == item.draft.body
        assert screen.query_one("#category", Select).value == "突发事件"
        assert screen.query_one("#urgency", Select).value == "特急"
        assert screen.query_one("#severity", Select).value == "较大"
        assert screen.query_one("#occurred_at", Input).value == "2026-11-21 14:35"
        assert screen.query_one("#place", Input).value == "新荣区某煤矿"
        assert screen.query_one("#incident").display
        assert f"修改 {item.id}　第1稿　待签发" in shown(screen, "#status")
        assert not screen.dirty()
        body = screen.query_one("#body", TextArea)
        body.focus()
        body.move_cursor(body.document.end)
        app.post_message(events.Paste("\n续：事故原因正在调查，“三查”工作已部署。"))
        await pilot.pause()
        await paste(app, pilot, "casualties", "2人受伤，无人员死亡")
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = items.get(desk.store, item.id)
        assert saved.revision == 2
        assert saved.draft.body == item.draft.body + "\n续：事故原因正在调查，“三查”工作已部署。"
        assert saved.draft.incident is not None and item.draft.incident is not None
        assert saved.draft.incident.casualties == "2人受伤，无人员死亡"
        assert saved.draft.incident.occurred_at == item.draft.incident.occurred_at
        assert saved.draft.phone == "0352-7654321" and saved.title == item.title
        assert [r["revision"] for r in items.revisions(desk.store, item.id)] == [1, 2]
        assert f"已修改 {item.id}，现为第2稿" in shown(screen)


async def test_sign_off_saves_then_queues_the_item_to_the_parent(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        assert "签发" in {c.name for c in app.commands()}
        await paste(app, pilot, "title", TITLE)
        await choose(pilot, screen, "category", "经验做法")
        await paste(app, pilot, "body", BODY)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert item_count(desk) == 0  # nothing before the desk confirms
        await pilot.press("y")
        await pilot.pause()
        (row,) = desk.store.query("SELECT id FROM item")
        item = items.get(desk.store, row["id"])
        assert item.signer == "李四" and item.draft.body == BODY
        (queued,) = outbox.pending(desk.store)
        assert queued.record.kind == "item" and queued.record.id == item.id
        assert queued.recipients == (CITY.id,)
        assert [e.state.value for e in outgoing_edges(desk.store, item.id, COUNTY.id)] == ["已报送"]
        assert f"已签发 {item.id}「{TITLE}」，排队报送" in shown(screen)
        await settle(app, pilot)
        assert "已签发" in shown(screen, "#status")


async def test_sign_off_is_neither_offered_nor_done_without_the_signer_role(
    tmp_path: Path,
) -> None:
    desk = county_desk(tmp_path, frozenset({Role.WRITER}))
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        names = {c.name for c in app.commands()}
        assert "保存" in names and "签发" not in names
        await paste(app, pilot, "title", TITLE)
        await choose(pilot, screen, "category", "经验做法")
        await paste(app, pilot, "body", BODY)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen is screen and item_count(desk) == 0
        screen.action_signoff()  # as if reached some other way: refused
        await pilot.pause()
        assert app.screen is screen and item_count(desk) == 0
        assert outbox.pending(desk.store) == []
        await pilot.press("ctrl+s")  # a writer may still save it for the signer
        await pilot.pause()
        assert item_count(desk) == 1 and outbox.pending(desk.store) == []


def received_request(desk: Desk, **fields: Any) -> requests.Request:
    """A request of the city, signed off and received at ``desk`` (the county)."""
    city = Desk(Store.memory(), CITY, "王五", frozenset(Role), Fixed())
    add_units(city.store, [CITY, COUNTY])
    data: dict[str, Any] = {
        "kind": "约稿",
        "urgency": "加急",
        "topic": "冬季清洁取暖和“煤改电”运行保障情况",
        "guidance": "请报送供暖季开始后清洁取暖设施运行情况。",
        "targets": [COUNTY.id],
        "deadline": (T0 + timedelta(days=2)).isoformat(),
    }
    made = compose_request(city, requests.parse_request({**data, **fields}))
    signoff_request(city, made.id)
    for q in outbox.pending(city.store):
        apply(desk.store, q.record, COUNTY.id, city.clock)
    return made


async def test_a_reply_to_a_topic_request_carries_the_request(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    made = received_request(desk)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk, request_id=made.id))
        context = shown(screen, "#context")
        assert f"答复约稿 {made.number}　大同市" in context
        assert "冬季清洁取暖和“煤改电”运行保障情况" in context
        assert f"答复约稿 {made.number}" in shown(screen, "#status")
        assert screen.query_one("#urgency", Select).value == "加急"  # the request's urgency
        await paste(app, pilot, "title", TITLE)
        await choose(pilot, screen, "category", "工作动态")
        await paste(app, pilot, "body", BODY)
        await pilot.press("ctrl+s")
        await pilot.pause()
        (row,) = desk.store.query("SELECT id FROM item")
        item = items.get(desk.store, row["id"])
        assert item.draft.request == made.id
        assert [e.to_unit for e in outgoing_edges(desk.store, item.id, COUNTY.id)] == [CITY.id]
        # opened again to edit: it still answers the request, and is signed off from there
        await pilot.press("escape")
        edit = await open_form(app, pilot, ComposeScreen(desk, item.id))
        assert f"答复约稿 {made.number}" in shown(edit, "#context")
        await pilot.press("ctrl+o", "y")
        await pilot.pause()
        assert items.get(desk.store, item.id).draft.request == made.id
        kinds = {q.record.kind for q in outbox.pending(desk.store)}
        assert kinds == {"item", requests.STATUS_KIND}  # the issuer is told it was answered


async def test_a_returned_item_shows_why_and_goes_back_to_the_signer(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    city = Desk(Store.memory(), CITY, "王五", frozenset(Role), Fixed())
    add_units(city.store, [CITY, COUNTY])
    item = submit(desk, draft())
    signoff(desk, item.id)
    for q in outbox.pending(desk.store):
        apply(city.store, q.record, CITY.id, city.clock)
    return_item(city, item.id, "请补充具体数字，如“3.6万户”")
    for q in outbox.pending(city.store):
        apply(desk.store, q.record, COUNTY.id, city.clock)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk, item.id))
        assert "退回理由：请补充具体数字，如“3.6万户”" in shown(screen, "#context")
        assert "退回修改" in shown(screen, "#status")
        await paste(app, pilot, "title", "（3.6万户）")
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = items.get(desk.store, item.id)
        assert saved.revision == 2 and saved.title == item.title + "（3.6万户）"
        (edge,) = outgoing_edges(desk.store, item.id, COUNTY.id)
        assert edge.state.value == "待签发"


async def test_escape_with_unsaved_changes_asks_first(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        await type_keys(app, pilot, "title", "新荣区q：")  # q is a letter here, not 返回
        screen.query_one("#category").focus()
        await pilot.press("q")  # nor on a select
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#title", Input).value == "新荣区q："
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#title", Input).value == "新荣区q："  # kept
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen) and item_count(desk) == 0


# -- snapshots ---------------------------------------------------------------------------------


def snapshot_app(tmp_path: Path) -> tuple[DeskApp, Desk]:
    store = Store.open(tmp_path / "store.db")
    add_units(store, [CITY, COUNTY])
    desk = Desk(store, COUNTY, "李四", frozenset(Role), Fixed(T0 + timedelta(hours=1)))
    return DeskApp(desk, Attachments(tmp_path / "a")), desk


def pushed(
    desk: Desk, fill: Callable[[DeskApp, Pilot[Any], ComposeScreen], Awaitable[None]] | None
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: DeskApp = pilot.app  # type: ignore[assignment]
        screen = await open_form(app, pilot, ComposeScreen(desk))
        if fill is not None:
            await fill(app, pilot, screen)
        for widget in [*screen.query(Input), *screen.query(TextArea)]:
            widget.cursor_blink = False  # a blinking cursor would make the picture flaky
        await pilot.pause()

    return run_before


async def fill_emergency(app: DeskApp, pilot: Pilot[Any], screen: ComposeScreen) -> None:
    await paste(app, pilot, "title", "新荣区某煤矿发生透水事故：2人受伤")
    await choose(pilot, screen, "category", "突发事件")
    await choose(pilot, screen, "urgency", "特急")
    await choose(pilot, screen, "severity", "较大")
    await paste(app, pilot, "occurred_at", "2026-11-21 14:35")
    await paste(app, pilot, "place", "新荣区某煤矿")
    await paste(
        app, pilot, "body", incident_draft().body + "\n《应急预案》已启动，“三查”同步开展。"
    )
    screen.query_one("#form").scroll_home(animate=False)  # the top of the form in view
    await pilot.pause()


async def fill_and_save(app: DeskApp, pilot: Pilot[Any], screen: ComposeScreen) -> None:
    await paste(app, pilot, "title", draft().title)
    await choose(pilot, screen, "category", "经验做法")
    await paste(app, pilot, "body", BODY)
    await pilot.press("ctrl+s")
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_empty_form(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app, desk = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pushed(desk, None))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_a_filled_emergency_form(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app, desk = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pushed(desk, fill_emergency))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_a_saved_form_with_its_advice(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    app, desk = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pushed(desk, fill_and_save))


async def test_an_item_is_tagged_with_the_themes_of_reporting_priorities(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    notice = received_request(desk, kind="报送要点", themes=["优化营商环境", "冬季清洁取暖"])
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        themes = screen.query_one("#themes", SelectionList)
        assert themes.display and themes.option_count == 2 and themes.selected == []
        await paste(app, pilot, "title", TITLE)
        await choose(pilot, screen, "category", "工作动态")
        await paste(app, pilot, "body", BODY)
        themes.focus()
        for _ in range(3):  # down to the second theme, then tick it
            if themes.highlighted == 1:
                break
            await pilot.press("down")
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await pilot.pause()
        (row,) = desk.store.query("SELECT id FROM item")
        saved = items.get(desk.store, row["id"])
        assert saved.draft.themes == ("冬季清洁取暖",) and saved.draft.request == ""
        # opened from the notice itself: its themes are ticked, and it is not a reply
        other = await open_form(app, pilot, ComposeScreen(desk, request_id=notice.id))
        assert other.query_one("#themes", SelectionList).selected == [
            "优化营商环境",
            "冬季清洁取暖",
        ]
        assert "request" not in other.item_data()
        assert f"报送要点 {notice.number}" in shown(other, "#context")


async def test_an_unknown_item_opens_nothing_to_save(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = ComposeScreen(desk, "140212-2026-09999")
        app.push_screen(screen)
        await settle(app, pilot)
        assert "无法打开：本节点没有编号为 140212-2026-09999 的信息" in shown(screen, "#status")
        await paste(app, pilot, "title", TITLE)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert item_count(desk) == 0 and not screen.loaded


async def test_the_state_follows_a_commit_by_another_process(tmp_path: Path) -> None:
    desk = county_desk(tmp_path)
    item = submit(desk, draft())
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk, item.id))
        assert "待签发" in shown(screen, "#status")
        other = Store.open(tmp_path / "county.db")  # the signer at another terminal
        try:
            signoff(Desk(other, COUNTY, "赵六", frozenset(Role), Ticking()), item.id)
        finally:
            other.close()
        started = time.monotonic()
        while "待发送" not in shown(screen, "#status") and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        # signed off, queued: 待发送 until the city's receipt says it has it
        assert "待发送" in shown(screen, "#status") and "已报送" not in shown(screen, "#status")
        mark_delivered(desk.store, item.id, COUNTY.id, CITY.id, desk.clock())
        screen.store_changed()
        started = time.monotonic()
        while "已报送" not in shown(screen, "#status") and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        assert "已报送" in shown(screen, "#status")


async def test_the_writer_is_completed_from_the_unit_s_roster(tmp_path: Path) -> None:
    """执笔人 as the 通讯录 names them (issue 18): the field offers the roster's names and
    completes a typed beginning with → (a name the roster does not list is still taken)."""
    from schema.desk import set_roster
    from schema.roster import Person

    desk = county_desk(tmp_path)
    set_roster(desk, [Person("信息员", "李晓红", mobile="13900000102")])
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        author = screen.query_one("#author", Input)
        assert "李晓红" in author.placeholder
        author.value = ""
        await type_keys(app, pilot, "author", "李晓")
        await pilot.press("right")  # accept the suggestion
        await pilot.pause()
        assert author.value == "李晓红"


async def test_an_office_with_sections_names_one_on_the_item(tmp_path: Path) -> None:
    """科室 (issue 18): where the office keeps sections the form offers them beside 执笔人,
    and the item saved carries the one chosen; without sections no such field shows."""
    from schema import people

    desk = county_desk(tmp_path)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        assert not screen.query_one("#section", Select).display
    people.add_section(desk.store, "综合科", 4)
    people.add_section(desk.store, "督查科", 2)
    app = desk_app(desk, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        assert screen.query_one("#section", Select).display
        await choose(pilot, screen, "section", "综合科")
        assert screen.item_data()["section"] == "综合科"
