"""The 批示 tab (console/screen/instruction.py) driven with Pilot: instructions received from
the city at a county desk with the feedback due on them (countdown, colour, late), feedback
given in Chinese, an instruction recorded at the city, opening the item it is on; snapshots."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import DeskApp
from console.screen.dialog import AskText, Choose
from console.screen.instruction import InstructionScreen, InstructionTable
from console.screen.item import ItemScreen
from console.screen.publication import IssueScreen
from schema import outbox
from schema import request as requests
from schema.attachment import Attachments
from schema.desk import Desk, adopt, instruct, place_in_issue, signoff, submit
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Level, Role
from tests.cli_helpers import deliver
from tests.conftest import CITY, COUNTY, T0, Fixed, Ticking, draft
from tests.console.test_publication_screen import answer, command, settle, told

pytestmark = pytest.mark.anyio
TITLES = [
    "新荣区“煤改电”用户冬季取暖：电价补贴全部到位",
    "关于加快解决城区老旧供热管网“跑冒滴漏”问题的建议",
]
NEAR = "此做法很好，请市发改委总结推广。"
LATE = "请市人社局督促，务必在春节前全部兑付。"
PLAIN = "阅。"


class Net:
    """A county (a file store, as a console opens it) and a city (in memory)."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "county.db"
        county_store = Store.open(self.path)
        add_units(county_store, [CITY, COUNTY])
        self.county = Desk(county_store, COUNTY, "李四", frozenset(Role), Ticking())
        city_store = Store.memory()
        add_units(city_store, [CITY, COUNTY])
        self.city = Desk(
            city_store, CITY, "王五", frozenset(Role), Ticking(T0 + timedelta(hours=1))
        )
        self.ids: list[str] = []
        for title in TITLES:
            item = submit(self.county, draft(title=title))
            signoff(self.county, item.id)
            self.ids.append(item.id)
        self.down_from_county()

    def down_from_county(self) -> None:
        deliver(self.county.store, self.city.store, CITY.id, T0)

    def down_from_city(self) -> None:
        deliver(self.city.store, self.county.store, COUNTY.id, T0)

    def viewer(self, at: timedelta) -> Desk:
        """The county desk with a clock fixed ``at`` after T0."""
        return Desk(self.county.store, COUNTY, "李四", frozenset(Role), Fixed(T0 + at))


@pytest.fixture
def net(tmp_path: Path) -> Net:
    """The city adopted both county items and instructed on them: the first with feedback
    due a day after T0, the second without."""
    net = Net(tmp_path)
    for item_id in net.ids:
        adopt(net.city, item_id)
    instruct(
        net.city,
        net.ids[0],
        "市长张某某",
        Level.CITY,
        NEAR,
        feedback=True,
        deadline=T0 + timedelta(days=1),
    )
    instruct(net.city, net.ids[1], "副市长李某某", Level.CITY, PLAIN)
    net.down_from_city()
    return net


def table(app: DeskApp) -> InstructionTable:
    return app.screen.query_one(InstructionTable)


def cells(app: DeskApp, row: int) -> list[str | Text]:
    return list(table(app).get_row_at(row))


def text_of(app: DeskApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_tab(pilot: Pilot[Any]) -> InstructionScreen:
    await pilot.press("5")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InstructionScreen)
    return screen


async def test_received_instructions_show_the_feedback_due_and_turn_late(
    net: Net, tmp_path: Path
) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_tab(pilot)
        assert table(app).row_count == 2
        newest = cells(app, 0)  # newest first: the one without feedback
        assert [str(c).strip() for c in newest[1:4]] == ["市级", "副市长李某某", ""]
        assert str(newest[-1]).strip() == PLAIN
        await pilot.press("j")
        await settle(pilot)
        due = cells(app, 1)[3]
        assert isinstance(due, Text)
        assert (due.plain, due.style) == ("剩21小时0分", "yellow")  # within a day: yellow
        detail = text_of(app, "#detail").splitlines()
        assert detail[0] == "市级　市长张某某　11月21日 16:03　大同市传达"
        assert detail[1] == f"事项 {net.ids[0]}　{TITLES[0]}"
        assert detail[2] == f"批示：{NEAR}"
        assert detail[3] == "反馈时限 11月22日 15:00（剩21小时0分）　待本单位反馈（按 f 反馈）"
        assert text_of(app, "#status") == "批示 2 条　待本单位反馈 1 条"
        # a day and a half later, unanswered: flagged late in bold red
        desk.clock.now = T0 + timedelta(days=1, hours=12)  # type: ignore[attr-defined]
        screen.store_changed()
        await settle(pilot)
        due = cells(app, 1)[3]
        assert isinstance(due, Text)
        assert (due.plain, due.style) == ("逾期12小时0分", "bold red")
        assert text_of(app, "#status") == "批示 2 条　待本单位反馈 1 条（逾期 1 条）"
        assert table(app).cursor_row == 1  # the cursor stayed on the same instruction


async def test_feedback_is_given_in_chinese_and_reaches_the_city(net: Net, tmp_path: Path) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    said = "已组织全区推广，覆盖12个乡镇；详见附件。"
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("j", "f")
        await settle(pilot)
        assert isinstance(app.screen, AskText)
        assert app.screen.prompt == "反馈市长张某某批示的落实情况："
        await answer(pilot, said)
        assert isinstance(app.screen, InstructionScreen)
        row = desk.store.one(
            "SELECT answered_at, note FROM request_target WHERE unit = ?", (COUNTY.id,)
        )
        assert row == {"answered_at": "2026-11-21T18:00:00+08:00", "note": said}
        status = [q for q in outbox.pending(desk.store) if q.record.kind == "request-status"]
        assert [q.recipients for q in status] == [(CITY.id,)]
        due = cells(app, 1)[3]
        assert isinstance(due, Text) and (due.plain, due.style) == ("已反馈", "green")
        assert f"已反馈（11月21日 18:00）：{said}" in text_of(app, "#detail")
        assert text_of(app, "#status") == "批示 2 条　待本单位反馈 0 条"
        # answering again shows what was said, to change it
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, AskText) and app.screen.value == said
        await pilot.press("escape")
        await settle(pilot)
    # at the city the county's answer counts as on time
    deliver(desk.store, net.city.store, CITY.id, T0)
    (made,) = [i for i in requests_of(net.city.store)]
    (status_row,) = requests.matrix(net.city.store, made, T0 + timedelta(days=2))
    assert (status_row.unit, status_row.outcome, status_row.note) == (
        COUNTY.id,
        requests.Outcome.ON_TIME,
        said,
    )


async def test_feedback_from_the_command_line(net: Net, tmp_path: Path) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await command(pilot, "反馈 已落实。")  # the newest asks none: refused, nothing sent
        assert "这条批示不要求反馈" in told(app)
        await pilot.press("j")
        await command(pilot, "反馈 已落实。")
        row = desk.store.one("SELECT note FROM request_target WHERE unit = ?", (COUNTY.id,))
        assert row == {"note": "已落实。"}


async def test_an_instruction_applied_by_another_process_appears(net: Net, tmp_path: Path) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert table(app).row_count == 2
        instruct(net.city, net.ids[1], "书记赵某某", Level.CITY, "很好。", feedback=False)
        daemon = Store.open(net.path)  # the daemon applies what came down
        try:
            deliver(net.city.store, daemon, COUNTY.id, T0)
        finally:
            daemon.close()
        started = time.monotonic()
        while table(app).row_count < 3 and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        assert table(app).row_count == 3
        assert str(cells(app, 0)[2]).strip() == "书记赵某某"


def requests_of(store: Store) -> list[str]:
    return [r["id"] for r in store.query("SELECT id FROM request")]


async def test_feedback_where_none_is_asked_is_refused(net: Net, tmp_path: Path) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("f")  # the newest: no feedback asked
        await settle(pilot)
        assert isinstance(app.screen, InstructionScreen)
        assert "这条批示不要求反馈" in told(app)
        assert desk.store.one("SELECT answered_at FROM request_target") == {"answered_at": None}


async def test_enter_opens_the_item_the_instruction_is_on(net: Net, tmp_path: Path) -> None:
    desk = net.viewer(timedelta(hours=3))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == net.ids[0]
        text = str(app.screen.query_one("#item", Static).render())
        assert f"批示 市长张某某（市级，11月21日 16:03）：{NEAR}" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InstructionScreen)


@pytest.fixture
def city(tmp_path: Path) -> tuple[Desk, list[str]]:
    """A city desk (file store, every role) that adopted the county's two items."""
    store = Store.open(tmp_path / "city.db")
    add_units(store, [CITY, COUNTY])
    ticking = Desk(store, CITY, "王五", frozenset(Role), Ticking(T0 + timedelta(hours=1)))
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    add_units(county.store, [CITY, COUNTY])
    ids = []
    for title in TITLES:
        item = submit(county, draft(title=title))
        signoff(county, item.id)
        ids.append(item.id)
    deliver(county.store, store, CITY.id, T0)
    for item_id in ids:
        adopt(ticking, item_id)
    return Desk(store, CITY, "王五", frozenset(Role), Fixed(T0 + timedelta(hours=2))), ids


async def choose(pilot: Pilot[Any], *keys: str) -> None:
    assert isinstance(pilot.app.screen, Choose)
    await pilot.press(*keys, "enter")
    await settle(pilot)


async def test_an_instruction_is_recorded_with_feedback_asked(
    city: tuple[Desk, list[str]], tmp_path: Path
) -> None:
    desk, ids = city
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert "没有批示" in text_of(app, "#detail")
        await pilot.press("r")
        await settle(pilot)
        await answer(pilot, ids[0])
        assert isinstance(app.screen, Choose)
        assert app.screen.choices == ["县级", "市级", "省级", "中央"]
        assert app.screen.default == "市级"  # the city's own leaders, most often
        await choose(pilot)
        await answer(pilot, "市长张某某")
        await answer(pilot, NEAR)
        await choose(pilot, "j")  # 要求反馈落实情况
        assert isinstance(app.screen, AskText) and app.screen.value == "2026-11-28 18:00"
        await answer(pilot, "")  # the deadline offered
        await answer(pilot, "")  # every unit down the chain
        (row,) = desk.store.query("SELECT * FROM instruction")
        assert (row["subject"], row["leader"], row["level"], row["text"]) == (
            ids[0],
            "市长张某某",
            "市级",
            NEAR,
        )
        assert (row["feedback"], row["deadline"]) == (1, "2026-11-28T18:00:00+08:00")
        request = requests.get(desk.store, row["request_id"])
        assert (request.draft.kind, request.state.value) == ("批示", "已下发")
        assert request.draft.targets == (COUNTY.id,)
        edge = desk.store.one("SELECT state FROM edge WHERE item_id = ?", (ids[0],))
        assert edge == {"state": "已批示"}
        kinds = {q.record.kind for q in outbox.pending(desk.store)}
        assert {"instruction", "request", "decision"} <= kinds
        assert f"已登记批示 {row['id']}，传达至相关单位" in told(app)
        assert table(app).row_count == 1
        assert text_of(app, "#status") == "批示 1 条　待本单位反馈 0 条　待下级反馈 1 条"
        assert "　新荣区 未到期" in text_of(app, "#detail")


async def test_an_instruction_on_an_issue_without_feedback(
    city: tuple[Desk, list[str]], tmp_path: Path
) -> None:
    desk, ids = city
    place_in_issue(desk, "专报/1", ids)
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("r")
        await settle(pilot)
        await answer(pilot, "专报/1")
        await choose(pilot, "j")  # 省级
        await answer(pilot, "省长王某某")
        await answer(pilot, PLAIN)
        await choose(pilot)  # 不要求反馈
        (row,) = desk.store.query("SELECT subject, level, feedback, items FROM instruction")
        assert (row["subject"], row["level"], row["feedback"]) == ("专报/2026/1", "省级", 0)
        assert not desk.store.query("SELECT id FROM request")
        assert "不要求反馈" in text_of(app, "#detail")
        # Enter opens the issue it is on
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IssueScreen) and app.screen.issue_id == "专报/2026/1"


async def test_recording_is_refused_without_the_role_and_cancelled_by_escape(
    city: tuple[Desk, list[str]], tmp_path: Path
) -> None:
    desk, ids = city
    writer = Desk(desk.store, CITY, "赵六", frozenset({Role.WRITER}), desk.clock)
    app = DeskApp(writer, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("r")
        await settle(pilot)
        await answer(pilot, ids[0])
        await choose(pilot)
        await answer(pilot, "市长张某某")
        await answer(pilot, NEAR)
        await choose(pilot)
        assert "用户 赵六 无权执行“登记领导批示”，需要签发人或编辑角色" in told(app)
        assert not desk.store.query("SELECT id FROM instruction")
        # Esc halfway leaves nothing behind
        await pilot.press("r")
        await settle(pilot)
        await answer(pilot, ids[0])
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InstructionScreen)
        assert not desk.store.query("SELECT id FROM instruction")


# -- snapshots -----------------------------------------------------------------------------------


def snapshot_app(tmp_path: Path) -> DeskApp:
    """The county's 批示 tab: one instruction with feedback due soon, one late, one with none."""
    net = Net(tmp_path)
    extra = submit(net.county, draft(title="新荣区一天内为15名农民工追回欠薪38.6万元"))
    signoff(net.county, extra.id)
    net.down_from_county()
    for item_id in [*net.ids, extra.id]:
        adopt(net.city, item_id)
    instruct(
        net.city,
        net.ids[0],
        "市长张某某",
        Level.CITY,
        NEAR,
        feedback=True,
        deadline=T0 + timedelta(days=1),
    )
    instruct(
        net.city,
        extra.id,
        "副市长刘某某",
        Level.CITY,
        LATE,
        feedback=True,
        deadline=T0 + timedelta(hours=2),
    )
    instruct(net.city, net.ids[1], "副市长李某某", Level.CITY, PLAIN)
    net.down_from_city()
    return DeskApp(net.viewer(timedelta(hours=3)), Attachments(tmp_path / "a"))


def pressing(*keys: str) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_the_instructions(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = snapshot_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=pressing("5", "j"))
