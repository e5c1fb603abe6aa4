"""The 约稿 tab (console/screen/request.py) driven with Textual's Pilot: a province request
applied into the city's store, its countdown, reading, 零报告, 批示 feedback, the outgoing
completion matrix, sign-off, follow-ups, live arrival, and snapshots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual import events
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Input

import console.screen.request as request_screen
from console.app import DeskApp
from console.screen.dialog import AskText, Confirm
from console.screen.item import ItemScreen
from console.screen.request import (
    MatrixScreen,
    RequestDetailScreen,
    RequestList,
    RequestScreen,
)
from schema import outbox
from schema import request as requests
from schema.attachment import Attachments
from schema.desk import Desk, compose_request, signoff, signoff_request, submit
from schema.inbound import apply
from schema.network import add_units
from schema.record import Unit
from schema.store import Store
from schema.vocabulary import Role, Tier
from tests.conftest import CITY, COUNTY, COUNTY2, T0, Fixed, draft

pytestmark = pytest.mark.anyio
PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, short="山西省")
ROLES = frozenset(Role)
TOPIC = "根治欠薪冬季专项行动开展情况"
GUIDANCE = "请重点反映欠薪线索排查处置、工资专户和实名制落实情况，附典型案例一至两个。"
THEMES = ["冬季清洁取暖和“煤改电”运行保障", "根治欠薪冬季专项行动", "安全生产和防范化解重大风险"]


def request_draft(**overrides: Any) -> requests.RequestDraft:
    data: dict[str, Any] = {
        "kind": "约稿",
        "urgency": "加急",
        "topic": TOPIC,
        "guidance": GUIDANCE,
        "targets": ["140200"],
        "deadline": (T0 + timedelta(days=2)).isoformat(),
        "publication": "专报",
        "points": 10,
        "penalty": -10,
        "contact": "周某某 0351-3046512",
    }
    data.update(overrides)
    return requests.parse_request(data)


def carry(source: Desk, targets: list[tuple[Store, str]]) -> None:
    """Deliver every queued record of ``source`` to the stores it is addressed to."""
    queued = outbox.pending(source.store)
    for q in queued:
        for store, unit in targets:
            if unit in q.recipients:
                apply(store, q.record, unit, source.clock)
    outbox.mark_shipped(source.store, [q.seq for q in queued], source.clock())


def issue(desk: Desk, to: list[tuple[Store, str]], **overrides: Any) -> requests.Request:
    """Compose, sign off and deliver a request of ``desk``."""
    made = signoff_request(desk, compose_request(desk, request_draft(**overrides)).id)
    carry(desk, to)
    return made


@dataclass
class Net:
    """A province above the city (its store a file, as in a node), two counties below."""

    path: Path
    city: Desk
    clock: Fixed
    province: Desk
    counties: dict[str, Desk]

    def app(self, tmp_path: Path) -> DeskApp:
        return DeskApp(self.city, Attachments(tmp_path / "att"))


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    path = tmp_path / "store.db"
    store = Store.open(path)
    add_units(store, [PROVINCE, CITY, COUNTY, COUNTY2])
    clock = Fixed(T0 + timedelta(hours=1))
    province = Desk(Store.memory(), PROVINCE, "周某某", ROLES, Fixed(T0))
    add_units(province.store, [PROVINCE, CITY])
    counties = {}
    for unit in (COUNTY, COUNTY2):
        counties[unit.id] = Desk(Store.memory(), unit, "李四", ROLES, Fixed(T0))
        add_units(counties[unit.id].store, [CITY, unit])
    yield Net(path, Desk(store, CITY, "王五", ROLES, clock), clock, province, counties)
    store.close()


async def settle(pilot: Pilot[None]) -> None:
    """Let the screen's reads (worker threads) finish and their results land."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def rows(app: DeskApp) -> list[str]:
    listing = app.screen.query_one(RequestList)
    return [line(listing, y).text.rstrip() for y in range(len(listing.rows))]


def line(listing: RequestList, y: int) -> Strip:
    return listing.render_line(y)


def style_of(strip: Strip, text: str) -> Style:
    """The style of the first segment of ``strip`` that holds ``text``."""
    for segment in strip:
        if text in segment.text:
            return segment.style or Style()
    raise AssertionError(f"{text!r} not in {strip.text!r}")


def own_row(store: Store, request_id: str) -> dict[str, Any]:
    row = store.one(
        "SELECT * FROM request_target WHERE request_id = ? AND unit = ?", (request_id, CITY.id)
    )
    assert row is not None
    return row


async def open_tab(pilot: Pilot[None]) -> None:
    await pilot.press("3")
    await settle(pilot)


async def test_a_province_request_shows_in_incoming_with_its_countdown(
    net: Net, tmp_path: Path
) -> None:
    made = issue(net.province, [(net.city.store, CITY.id)])
    issue(
        net.province,
        [(net.city.store, CITY.id)],
        kind="报送要点",
        urgency="平急",
        topic="2026年第四季度全省政务信息报送要点",
        themes=THEMES,
        deadline="2026-12-31T18:00:00+08:00",
    )
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert isinstance(app.screen, RequestScreen)
        shown = rows(app)
        assert len(shown) == 2
        priorities, topic = shown  # newest first
        assert "报送要点" in priorities and "山西省" in priorities and "未读" in priorities
        assert "加急" in topic and "约稿" in topic and "山西省" in topic and "未读" in topic
        assert "剩1天" in topic and TOPIC[:6] in topic  # 47 hours left
        status = str(app.screen.query_one("#status").render())
        assert "收到的 2" in status and "未读 2" in status and "待答复 1" in status
        notes = str(app.screen.query_one("#notes").render())
        assert "报送要点主题" in notes and "根治欠薪" in notes
        # far from the deadline the countdown is plain; the cursor row is reversed
        await pilot.press("j")
        strip = line(app.screen.query_one(RequestList), 1)
        assert style_of(strip, "剩1天").color is None
        assert made.id == app.screen.query_one(RequestList).current().id


async def test_the_countdown_turns_yellow_then_red_and_late_as_the_clock_moves(
    net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_screen, "TICK_SECONDS", 0.2)
    made = issue(net.province, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        listing = app.screen.query_one(RequestList)
        net.clock.now = made.draft.deadline - timedelta(hours=3)
        await pilot.pause(0.4)  # the screen ticks on its own
        await settle(pilot)
        strip = line(listing, 0)
        assert "剩3:00" in strip.text
        assert style_of(strip, "剩3:00").color.name == "yellow"  # type: ignore[union-attr]
        net.clock.now = made.draft.deadline + timedelta(minutes=12)
        await pilot.pause(0.4)
        await settle(pilot)
        strip = line(listing, 0)
        assert "超0:12" in strip.text and "逾期未报" in strip.text
        assert style_of(strip, "超0:12").color.name == "red"  # type: ignore[union-attr]
        assert style_of(strip, "逾期未报").bold
        assert "逾期未报 1" in str(app.screen.query_one("#status").render())


async def test_opening_a_request_marks_it_read_and_shows_its_full_text(
    net: Net, tmp_path: Path
) -> None:
    made = issue(net.province, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert own_row(net.city.store, made.id)["read_at"] is None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RequestDetailScreen)
        assert own_row(net.city.store, made.id)["read_at"] is not None
        # the read receipt is queued for the province
        (receipt,) = outbox.pending(net.city.store)
        assert receipt.record.kind == requests.STATUS_KIND and receipt.recipients == ("140000",)
        text = str(app.screen.query_one("#request").render())
        assert text.splitlines()[0] == "内部　加急　约稿"  # markings first
        for wanted in (TOPIC, GUIDANCE, "山西省", "〔2026〕第1号", "截止 11月23日 15:00"):
            assert wanted in text
        assert "剩1天23小时" in text and "附件 无" in text and "本单位 已读" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RequestScreen)
        assert "已读" in rows(app)[0] and "未读" not in rows(app)[0]


async def test_a_zero_report_is_recorded_with_its_note_after_confirming_and_not_on_n(
    net: Net, tmp_path: Path
) -> None:
    made = issue(net.province, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)

        async def zero_report(note: str, answer: str) -> None:
            await pilot.press("z")
            await pilot.pause()
            assert isinstance(app.screen, AskText)
            app.screen.query_one("#answer").post_message(events.Paste(note))
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, Confirm)
            assert "〔2026〕第1号" in app.screen.question
            await pilot.press(answer)
            await settle(pilot)

        await zero_report("本市无相关情况。", "n")
        assert own_row(net.city.store, made.id)["answered_at"] is None
        assert outbox.pending(net.city.store) == []
        await zero_report("本市暂无欠薪案件，已部署排查。", "y")
        row = own_row(net.city.store, made.id)
        assert row["zero_report"] == 1 and row["note"] == "本市暂无欠薪案件，已部署排查。"
        assert row["answered_at"] is not None and row["read_at"] is not None
        (status,) = outbox.pending(net.city.store)
        assert status.record.payload["zero_report"] == 1
        assert "已零报告" in rows(app)[0]
        # a second one is refused at once, before asking anything
        await pilot.press("z")
        await pilot.pause()
        assert isinstance(app.screen, RequestScreen)


async def test_a_zero_report_from_the_command_line_takes_its_note(net: Net, tmp_path: Path) -> None:
    made = issue(net.province, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("colon")
        await pilot.pause()
        app.screen.query_one(Input).post_message(events.Paste("零报告 本市无相关情况。"))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)  # still confirmed
        await pilot.press("y")
        await settle(pilot)
        row = own_row(net.city.store, made.id)
        assert row["zero_report"] == 1 and row["note"] == "本市无相关情况。"


async def test_reporting_priorities_cannot_be_answered(net: Net, tmp_path: Path) -> None:
    issue(net.province, [(net.city.store, CITY.id)], kind="报送要点", themes=THEMES)
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("z")
        await pilot.pause()
        assert isinstance(app.screen, RequestScreen)  # refused: nothing asked
        assert any("不需要答复" in n.message for n in app._notifications)
        await pilot.press("enter")
        await settle(pilot)
        text = str(app.screen.query_one("#request").render())
        assert "报送要点主题：" in text and f"  2. {THEMES[1]}" in text
        # no 答复 / 零报告 offered on a priorities notice
        assert {"r", "z"}.isdisjoint(app.screen.active_bindings)


async def test_feedback_on_an_instruction_is_written_here(net: Net, tmp_path: Path) -> None:
    made = issue(
        net.province,
        [(net.city.store, CITY.id)],
        kind="批示",
        topic="李省长批示落实情况反馈",
        guidance="请大同市抓紧核实处置，及时反馈。",
    )
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert "批示反馈" in rows(app)[0]
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        app.screen.query_one("#answer").post_message(events.Paste("已责成市人社局专班处置。"))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        row = own_row(net.city.store, made.id)
        assert row["note"] == "已责成市人社局专班处置。" and row["answered_at"] is not None
        assert "已反馈" in rows(app)[0]


async def test_reply_opens_the_compose_form_for_the_request(net: Net, tmp_path: Path) -> None:
    compose = pytest.importorskip("console.screen.compose")
    made = issue(net.province, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, compose.ComposeScreen)
        assert app.screen.request_id == made.id  # the reply is linked to the request


async def test_the_issuer_sees_the_completion_matrix_and_late_ones_as_late(
    net: Net, tmp_path: Path
) -> None:
    targets = [(d.store, u) for u, d in net.counties.items()]
    made = issue(net.city, targets, targets=["all:county:140200"], urgency="平急")
    a, b = net.counties[COUNTY.id], net.counties[COUNTY2.id]
    # 新荣区 answers with an item on time; 平城区 only reads it
    reply = submit(a, draft(request=made.id, to=None))
    signoff(a, reply.id)
    requests.open_request(b.store, COUNTY2.id, made.id, T0 + timedelta(hours=2))
    carry(a, [(net.city.store, CITY.id)])
    carry(b, [(net.city.store, CITY.id)])
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert rows(app) == []
        await pilot.press("tab")
        await settle(pilot)
        (row,) = rows(app)
        assert "已答1/2" in row and "〔2026〕第1号" in row
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen)
        first, second = rows(app)
        assert first.split()[0] == "新荣区" and "1条信息" in first and "按时" in first
        assert second.split()[0] == "平城区" and "未到期" in second and "未读" not in second
        summary = str(app.screen.query_one("#summary").render())
        assert "已答 1/2" in summary and "按时 1" in summary and "未到期 1" in summary
        # past the deadline the silent county is missing; a late answer shows as late
        net.clock.now = made.draft.deadline + timedelta(hours=1)
        b.clock.now = net.clock.now  # type: ignore[attr-defined]
        submit_late = submit(b, draft(request=made.id, to=None))
        signoff(b, submit_late.id)
        app.screen.refresh_view()
        await settle(pilot)
        assert "未报" in rows(app)[1]
        strip = line(app.screen.query_one(RequestList), 1)
        assert style_of(strip, "未报").color.name == "red"  # type: ignore[union-attr]
        other = Store.open(net.path)  # the daemon applies the late answer
        try:
            carry(b, [(other, CITY.id)])
        finally:
            other.close()
        await pilot.pause(0.7)
        await settle(pilot)
        assert "逾期" in rows(app)[1] and "1条信息" in rows(app)[1]
        # Enter on a target opens its reply
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.item_id == reply.id


async def test_a_draft_request_is_signed_off_from_outgoing_after_confirming(
    net: Net, tmp_path: Path
) -> None:
    made = compose_request(net.city, request_draft(targets=["140212"]))
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert "待签发" in rows(app)[0]
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("n")
        await settle(pilot)
        assert requests.get(net.city.store, made.id).state is requests.RequestState.AWAITING_SIGNOFF
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert requests.get(net.city.store, made.id).state is requests.RequestState.ISSUED
        assert [q.recipients for q in outbox.pending(net.city.store)] == [("140212",)]
        assert "已答0/1" in rows(app)[0]


async def test_a_due_follow_up_is_shown_and_drafted_from_the_matrix(
    net: Net, tmp_path: Path
) -> None:
    policy = date(2026, 11, 10)  # the one-week follow-up fell due on 11-17
    made = issue(net.city, [], targets=["140212"], policy_date=policy.isoformat())
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("tab")
        await settle(pilot)
        assert "跟踪约稿到期 1" in str(app.screen.query_one("#status").render())
        await pilot.press("enter")
        await settle(pilot)
        notes = str(app.screen.query_one("#followups").render())
        assert "一周 11月17日（到期待发" in notes and "三个月 2027年2月10日" in notes
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        (follow,) = net.city.store.query("SELECT id, follows FROM request WHERE follows != ''")
        assert follow["follows"] == made.id
        assert "已起草" in str(app.screen.query_one("#followups").render())
        assert "f" not in app.screen.active_bindings  # nothing more is due


async def test_a_request_arriving_from_another_process_appears_within_a_second(
    net: Net, tmp_path: Path
) -> None:
    app = net.app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert rows(app) == []
        made = signoff_request(net.province, compose_request(net.province, request_draft()).id)
        other = Store.open(net.path)  # the daemon's connection
        try:
            carry(net.province, [(other, CITY.id)])
        finally:
            other.close()
        started = time.monotonic()
        while not rows(app) and time.monotonic() - started < 3:
            await pilot.pause(0.05)
        assert rows(app), "the new request did not appear"
        assert time.monotonic() - started < 1.0
        assert app.screen.query_one(RequestList).current().id == made.id


# -- snapshots ---------------------------------------------------------------------------------


def snapshot_net(tmp_path: Path) -> DeskApp:
    store = Store.open(tmp_path / "store.db")
    add_units(store, [PROVINCE, CITY, COUNTY, COUNTY2])
    province = Desk(Store.memory(), PROVINCE, "周某某", ROLES, Fixed(T0))
    add_units(province.store, [PROVINCE, CITY])
    city = Desk(store, CITY, "王五", ROLES, Fixed(T0 + timedelta(hours=1)))
    to_city = [(store, CITY.id)]
    issue(
        province,
        to_city,
        kind="报送要点",
        urgency="平急",
        themes=THEMES,
        topic="2026年第四季度全省政务信息报送要点",
        deadline="2026-12-31T18:00:00+08:00",
    )
    issue(
        province,
        to_city,
        topic="“煤改电”用户取暖保障情况（跟踪）",
        deadline=(T0 - timedelta(hours=5)).isoformat(),
    )
    urgent = issue(
        province,
        to_city,
        urgency="特急",
        topic="冬季安全生产大检查进展",
        deadline=(T0 + timedelta(hours=12)).isoformat(),
    )
    answered = issue(province, to_city)
    requests.open_request(store, CITY.id, urgent.id, T0)
    requests.zero_report(store, CITY.id, answered.id, "本市无欠薪案件。", T0)
    counties = {}
    for unit in (COUNTY, COUNTY2):
        counties[unit.id] = Desk(Store.memory(), unit, "李四", ROLES, Fixed(T0))
        add_units(counties[unit.id].store, [CITY, unit])
    made = issue(
        city,
        [(d.store, u) for u, d in counties.items()],
        targets=["all:county:140200"],
        topic="秋收期间秸秆综合利用和禁烧工作情况",
        guidance="请报送秸秆“五化”利用的具体做法。",
    )
    requests.zero_report(
        counties[COUNTY2.id].store,
        COUNTY2.id,
        made.id,
        "本区无秸秆禁烧任务。",
        T0 + timedelta(minutes=30),
    )
    requests.open_request(counties[COUNTY.id].store, COUNTY.id, made.id, T0)
    for desk in counties.values():
        carry(desk, to_city)
    return DeskApp(city, Attachments(tmp_path / "att"))


async def _incoming(pilot: Pilot[None]) -> None:
    await open_tab(pilot)


async def _matrix(pilot: Pilot[None]) -> None:
    await open_tab(pilot)
    await pilot.press("tab")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot_incoming(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_net(tmp_path), terminal_size=size, run_before=_incoming)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot_matrix(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_net(tmp_path), terminal_size=size, run_before=_matrix)
