"""The 通报 tab (console/screen/scoreboard.py): a city's November with adoptions from two
counties, as ``schema.bulletin.compute`` gives it — ranking with bars, adoptions, quotas,
requests and emergencies, coverage — period stepping, and export to Markdown and Word."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import DeskApp
from console.screen.dialog import AskText, HelpScreen
from console.screen.scoreboard import ScoreboardScreen, bar, period_name, shift
from console.text import cell_width, fit
from schema import bulletin, outbox
from schema import request as requests
from schema.attachment import Attachments
from schema.desk import (
    Desk,
    adopt,
    compose_request,
    instruct,
    mark_unit,
    signoff,
    signoff_issue,
    signoff_request,
    submit,
)
from schema.emergency import MarkKind
from schema.inbound import apply
from schema.network import add_units
from schema.record import Unit
from schema.scoring import format_points
from schema.store import Store
from schema.vocabulary import Level, Role, Tier
from tests.conftest import CITY, Fixed, Ticking, draft

pytestmark = pytest.mark.anyio

XR = Unit("140212", "新荣区人民政府办公室", Tier.COUNTY, "140200", short="新荣区")
PC = Unit("140213", "平城区人民政府办公室", Tier.COUNTY, "140200", short="平城区")
FGW = Unit("140200-fgw", "大同市发展和改革委员会", Tier.DEPARTMENT, "140200", short="市发改委")
TOWN = Unit("140212100", "新荣镇", Tier.TOWNSHIP, "140212")
UNITS = [CITY, XR, PC, FGW, TOWN]
NOV = datetime.fromisoformat("2026-11-03T09:00:00+08:00")
END = datetime.fromisoformat("2026-11-30T20:00:00+08:00")


def carry(source: Desk, target: Desk) -> None:
    for q in outbox.pending(source.store):
        if target.node.id in q.recipients:
            apply(target.store, q.record, target.node.id, target.clock)
    outbox.mark_shipped(source.store, [q.seq for q in outbox.pending(source.store)], END)


def send(desk: Desk, city: Desk, title: str) -> str:
    item = submit(desk, draft(title=title))
    signoff(desk, item.id)
    carry(desk, city)
    return item.id


def november(path: Path) -> Desk:
    """A city store (a file) with November's work: 新荣区 adopted in 每日要情 and 专报 (then
    instructed), reported an emergency late; 平城区 adopted twice in 每日要情; 市发改委 sent one
    item, not adopted, and missed a topic request; the township sent nothing. The city desk
    returned reads a fixed clock at the end of the month."""
    clock = Ticking(NOV)
    store = Store.open(path)
    add_units(store, UNITS)
    city = Desk(store, CITY, "王五", frozenset(Role), clock)
    d: dict[str, Desk] = {}
    for unit in (XR, PC, FGW):
        d[unit.id] = Desk(Store.memory(), unit, f"编辑{unit.id}", frozenset(Role), clock)
        add_units(d[unit.id].store, UNITS)
    a = send(d["140212"], city, "新荣区煤改电运行平稳")
    b = send(d["140212"], city, "新荣区追回欠薪")
    c = send(d["140213"], city, "平城区老旧管网改造完工")
    e = send(d["140213"], city, "平城区背街小巷整治")
    send(d["140200-fgw"], city, "市发改委推进项目审批")
    for item in (a, c, e):
        adopt(city, item, "每日要情/1")
    signoff_issue(city, "每日要情/1")
    adopt(city, b, "专报/1")
    signoff_issue(city, "专报/1")
    instruct(city, b, "市长张某某", Level.CITY, "很好，请市人社局推广。")
    request = compose_request(
        city,
        requests.parse_request(
            {
                "topic": "项目审批提速",
                "guidance": "请报送。",
                "targets": ["140200-fgw"],
                "deadline": "2026-11-10T18:00:00+08:00",
            }
        ),
    )
    signoff_request(city, request.id)
    mark_unit(city, "140212", MarkKind.LATE, a, "书面报告迟了40分钟")
    return replace(city, clock=Fixed(END))


@pytest.fixture
def city(tmp_path: Path) -> Desk:
    return november(tmp_path / "store.db")


def board(app: DeskApp) -> str:
    return str(app.screen.query_one("#bulletin", Static).render())


def status(app: DeskApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


async def open_tab(pilot: Pilot[None]) -> None:
    await pilot.press("6")
    await settle(pilot)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def section(text: str, heading: str) -> list[str]:
    """The lines of the section whose title starts with ``heading`` (up to a blank line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    out = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        out.append(line)
    return out


def test_bars_and_periods() -> None:
    assert bar(33, 33, 10) == "█" * 10
    assert bar(6, 33, 10) == "██"  # 1.8 cells: two whole
    assert bar(5, 20, 10) == "██▌"
    assert bar(0, 33, 10) == bar(-10, 33, 10) == ""
    assert shift(2026, 1, -1) == (2025, 12) and shift(2026, 11, 3) == (2027, 2)
    assert period_name("2026-11") == "2026年11月"
    assert period_name("2026-Q4") == "2026年第四季度"
    assert period_name("2026") == "2026年度"


async def test_the_figures_are_those_of_the_bulletin(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_tab(pilot)
        assert isinstance(app.screen, ScoreboardScreen)
        text = board(app)
        store = Store.open(tmp_path / "store.db")  # the figures as the CLI computes them
        try:
            expected = bulletin.compute(store, "140200", "2026-11", END, bulletin.load_rules())
        finally:
            store.close()
        # 新荣区: 每日要情 3 + 专报 10 + 市级批示 30 − 迟报 10; 平城区: 3 + 3; 市发改委: −10
        scores = {r.label: r.total.score for r in expected.rows}
        assert scores["新荣区"] == 43 and scores["平城区"] == 6 and scores["市发改委"] == -10
        ranking = section(text, "得分排名")
        assert len(ranking) == len(expected.rows) == 4
        for n, (line, row) in enumerate(zip(ranking, expected.rows, strict=True), 1):
            words = line.split()
            assert words[:3] == [str(n), row.label, format_points(row.total.score)]
        assert text.splitlines()[0] == "大同市政务信息工作通报（2026年11月）"
        # adoptions by level and instructions
        adopted = section(text, "采用与批示")
        assert adopted[0].split() == ["单位", "中央", "省级", "市级", "县级", "批示", "录用率"]
        rates = {r.label: r.rate_text for r in expected.rows}
        assert rates["新荣区"] == "100.0%"  # both items it sent were adopted
        assert adopted[1].split() == ["新荣区", "0", "0", "2", "0", "1", "100.0%"]
        assert adopted[2].split() == ["平城区", "0", "0", "2", "0", "0", rates["平城区"]]
        # quotas: quota, submitted, short — every unit with a quota, the largest gap first
        quota = section(text, "报送任务")
        totals = {r.label: r.total for r in expected.rows}
        rows = {line.split()[0]: line.split()[1:] for line in quota[1:]}
        for label in ("新荣区", "平城区", "市发改委", "新荣镇"):
            t = totals[label]
            assert rows[label] == [str(t.required), str(t.submitted), str(t.shortfall)]
        assert rows["新荣区"] == ["15", "2", "13"] and rows["新荣镇"] == ["8", "0", "8"]
        assert section(text, "报送任务")[0].split() == ["单位", "应报", "实报", "差"]
        assert "（4 个单位未完成）" in text
        # requests and emergencies
        flagged = {line.split()[0]: line.split()[1:] for line in section(text, "约稿逾期")[1:]}
        assert flagged == {
            "新荣区": ["0", "0", "1", "0", "0", "0"],
            "市发改委": ["0", "1", "0", "0", "0", "0"],
        }
        # coverage: the township sent nothing
        assert expected.silent == ("新荣镇（140212100）",)
        assert section(text, "本期未报送信息的单位") == ["新荣镇（140212100）"]
        assert "2026年11月" in status(app) and "4 个单位" in status(app)


async def test_the_top_unit_has_the_longest_bar_scaled_to_the_width(
    city: Desk, tmp_path: Path
) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 30)) as pilot:
        await open_tab(pilot)
        for width in (80, 120):
            ranking = section(board(app), "得分排名")
            halves = [2 * line.count("█") + line.count("▌") for line in ranking]
            assert halves[0] == max(halves) and halves[0] > halves[1] > 0
            assert halves[2:] == [0, 0]  # 0 and −10: no bar
            assert halves[1] == round(halves[0] * 6 / 43)  # 平城区 6 of 新荣区's 43
            # the top bar reaches the right edge (the scrollbar's two cells kept free)
            assert ranking[0].endswith("█") and cell_width(ranking[0]) == width - 2
            await pilot.resize_terminal(120, 30)  # the bars follow the width
            await settle(pilot)


async def test_stepping_periods_changes_the_heading(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert "2026年11月" in status(app) and "按月" in status(app)
        await pilot.press("p")
        await settle(pilot)
        assert "2026年10月" in status(app)
        assert board(app).splitlines()[0] == "大同市政务信息工作通报（2026年10月）"
        # nothing adopted in October: everybody short, all below silent
        assert "（本期无采用或批示）" in board(app)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert "2026年12月" in status(app)
        await pilot.press("t")
        await settle(pilot)
        assert "2026年第四季度" in status(app) and "按季" in status(app)
        # the quarter holds November's work
        assert section(board(app), "得分排名")[0].split()[:3] == ["1", "新荣区", "43"]
        await pilot.press("n")
        await settle(pilot)
        assert "2027年第一季度" in status(app)
        await pilot.press("t")
        await settle(pilot)
        assert "2027年度" in status(app) and "按年" in status(app)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "2026年度" in status(app)
        assert board(app).splitlines()[0] == "大同市政务信息工作通报（2026年度）"
        await pilot.press("t")
        await settle(pilot)
        assert "按月" in status(app)


async def test_a_period_typed_on_the_command_line(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("colon")
        await pilot.pause()
        app.screen.query_one(Input).post_message(events.Paste("期间 2026-Q4"))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert "2026年第四季度" in status(app)
        assert board(app).splitlines()[0] == "大同市政务信息工作通报（2026年第四季度）"
        # g asks for it; a wrong one is refused and the period stays
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        box = app.screen.query_one(Input)
        assert box.value == "2026-Q4"
        box.value = ""
        box.post_message(events.Paste("2026年"))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert "2026年第四季度" in status(app)
        assert any("不是有效的期间" in n.message for n in app._notifications)


async def test_every_key_is_in_the_help(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_tab(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one(Static).render())
        for key, name in [("p", "上期"), ("n", "下期"), ("t", "月/季/年"), ("g", "期间")]:
            assert f"  {fit(key, 12)}{name}" in text
        assert "导出" in text and "重算" in text and "left_square" not in text


async def test_a_commit_from_another_process_is_counted(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert section(board(app), "得分排名")[-1].split()[1:3] == ["市发改委", "-10"]
        other = Store.open(tmp_path / "store.db")  # another desk at the same node
        try:
            desk = Desk(other, CITY, "赵六", frozenset(Role), Fixed(END))
            (row,) = other.query("SELECT id FROM item WHERE title = '市发改委推进项目审批'")
            adopt(desk, row["id"], "每日要情/2")
            signoff_issue(desk, "每日要情/2")
        finally:
            other.close()
        await pilot.pause(0.8)  # the store is looked at every half second
        await settle(pilot)
        ranking = section(board(app), "得分排名")
        assert [line.split()[1] for line in ranking] == ["新荣区", "平城区", "新荣镇", "市发改委"]
        assert ranking[-1].split()[2] == "-7"  # 每日要情 3 − 约稿未报 10


async def test_export_writes_markdown_and_word(city: Desk, tmp_path: Path) -> None:
    app = DeskApp(city, Attachments(tmp_path / "att"))
    out = tmp_path / "导出"
    out.mkdir()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        box = app.screen.query_one(Input)
        assert box.value == str(Path.cwd())  # the current directory by default
        box.value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        markdown = out / "通报-140200-2026-11.md"
        word = out / "通报-140200-2026-11.docx"
        text = markdown.read_text("utf-8")
        assert text.startswith("# 大同市政务信息工作通报（2026年11月）")
        assert "| 1 | 新荣区 | 43 |" in text
        paragraphs = [p.text for p in docx.Document(str(word)).paragraphs]
        assert paragraphs[0] == "大同市人民政府办公室"  # the 通报's 发文机关标志
        assert "同政办函〔2026〕1号" in paragraphs  # its number, taken on export
        table = docx.Document(str(word)).tables[0]
        assert [c.text for c in table.rows[1].cells][:3] == ["1", "新荣区", "43"]
        notes = [n.message for n in app._notifications]
        assert any(str(markdown) in n and str(word) in n for n in notes)
        # a file name: its suffix replaced, both written
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "十一月通报.docx")
        await pilot.press("enter")
        await settle(pilot)
        assert (tmp_path / "十一月通报.md").is_file() and (tmp_path / "十一月通报.docx").is_file()
        # a path that cannot be written: the desk is told
        blocker = tmp_path / "file"
        blocker.write_text("x")
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one(Input).value = str(blocker / "sub" / "通报")
        await pilot.press("enter")
        await settle(pilot)
        failed = [n.message for n in app._notifications if n.title == "导出失败"]
        assert failed and failed[0].startswith(f"无法写入 {blocker}")


# -- snapshots --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = DeskApp(november(tmp_path / "store.db"), Attachments(tmp_path / "att"))
    assert snap_compare(app, terminal_size=size, run_before=open_tab)


async def test_writers_and_sections_are_ranked_too(city: Desk, tmp_path: Path) -> None:
    """`w` steps the tab's ranking from units to writers (先进个人) to this office's sections,
    the figures those of ``people.tables``."""
    from schema import people

    expected, _ = people.tables(
        city.store, "140200", "2026-11", city.clock(), bulletin.load_rules()
    )
    assert expected and expected[0].name == "张三"
    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert "按执笔人" in status(app)
        lines = board(app).splitlines()
        assert lines[0] == "大同市政务信息工作执笔人排名"
        top = lines[2].split()
        assert top[:3] == ["1", "张三", "新荣区"] and top[3] == format_points(expected[0].points)
        await pilot.press("w")
        await settle(pilot)
        assert "按科室" in status(app) and "（本期无）" in board(app)
        await pilot.press("w")
        await settle(pilot)
        assert "按" not in status(app).split("　")[-1]
        assert board(app).splitlines()[0] == "大同市政务信息工作通报（2026年11月）"


async def test_signing_the_bulletin_off_and_reading_those_held(city: Desk, tmp_path: Path) -> None:
    """`S` signs the period's bulletin off (asked first): numbered, sent, 督办 to the short;
    `o` lists the bulletins held and opens one to read."""
    from console.screen.dialog import Choose, Confirm, ReadText
    from schema import supervise

    app = DeskApp(city, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        await pilot.press("o")
        await pilot.pause()
        assert not isinstance(app.screen, Choose)  # nothing held yet: said so
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "督办" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
        (done,) = supervise.issued(city.store)
        assert done.period == "2026-11" and done.units
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, Choose)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReadText)
        assert "政务信息工作通报（2026年11月）" in app.screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ScoreboardScreen)
