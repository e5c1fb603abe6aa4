"""The console at 80×24, the size of a duty room's SSH window (issue 16): each command listed
once in the help and the palette; the help box edge to edge; columns that never touch; the
compose form's fields whole and its toasts clear of the advice; and Chinese wrapped as it is
set — between any two characters, no line starting with ，。） nor ending with “《."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import Static
from textual.widgets._toast import Toast

from console.app import DeskApp
from console.rows import Row
from console.screen.compose import ComposeScreen
from console.screen.dialog import HelpScreen
from console.screen.inbox import row_head
from console.screen.item import ItemScreen
from console.text import NO_LINE_END, NO_LINE_START, cell_width, line_breaks
from schema.attachment import Attachments
from schema.desk import Desk, submit
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Ticking, draft
from tests.console.test_compose import BODY, fill_and_save, open_form
from tests.console.test_snapshots import desk_app

pytestmark = pytest.mark.anyio


def lines_of(text: str, width: int) -> list[str]:
    out, start = [], 0
    for at in [*line_breaks(text, width), len(text)]:
        out.append(text[start:at])
        start = at
    return out


PROSE = "入冬以来，新荣区落实《关于做好冬季清洁取暖工作的通知》，摸清底数、兜牢底线：一是补贴到户。"


@pytest.mark.parametrize("width", [6, 10, 13, 20, 38, 40, 76, 78])
def test_chinese_breaks_between_characters_and_keeps_its_marks(width: int) -> None:
    lines = lines_of(PROSE, width)
    assert "".join(lines) == PROSE
    for line in lines:
        assert cell_width(line) <= width, (width, line)
    for line in lines[1:]:
        assert line[0] not in NO_LINE_START, (width, lines)
    for line in lines[:-1]:
        assert line[-1] not in NO_LINE_END, (width, lines)


def test_a_run_of_chinese_after_a_space_is_not_moved_whole() -> None:
    # Rich and the TextArea move “字：信息正文……” whole to the next line (a “word” to them)
    advice = "提示 正文 77 字，少于 150 字：信息正文以二三百字为宜，请补充时间、地点、经过、结果"
    first = lines_of(advice, 80)[0]
    assert cell_width(first) >= 74 and "少于 150 字：信息" in first
    held = advice.replace(" ", "\u00a0")  # a no-break space keeps “150 字” together
    for width in range(20, 60):  # narrower than “少于 150 字” it must fold
        for line in lines_of(held, width):
            assert not line.startswith("字："), (width, line)
    assert lines_of("hello world", 7) == ["hello ", "world"]  # Latin words stay whole


CHINESE = st.sampled_from(
    list("信息报送新荣区煤矿透水事故年月日时分") + list("，。、；：！？）》”“《（")
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(CHINESE, st.sampled_from(list("ab12 "))), max_size=120), st.integers(4, 90)
)
def test_any_text_wraps_whole_and_within_the_width(chars: list[str], width: int) -> None:
    text = "".join(chars)
    lines = lines_of(text, width)
    assert "".join(lines) == text
    for line in lines:
        assert cell_width(line.rstrip(" ")) <= width, (width, lines)


def test_columns_never_touch() -> None:
    row = Row(
        1,
        "140212-2026-00001",
        "标题",
        "特急",
        "机密",
        "动态",
        "大同市新荣区",
        "退回修改",
        datetime(2026, 12, 7, 7, 22, tzinfo=UTC),
    )
    head = row_head(row)
    assert ("退回修改 " in head and "新荣区… " in head) or "大同市新… " in head
    for word in ("特急机", "退回修改"):
        at = head.index(word) + len(word)
        assert head[at] == " ", head


async def test_help_and_palette_list_each_command_once(tmp_path: Path) -> None:
    app = desk_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        commands = app.commands()
        names = [c.name for c in commands]
        assert len(names) == len(set(names)), names
        emergency = [c for c in commands if c.name == "紧急"]
        assert [c.key for c in emergency] == ["e/2"]  # the screen's key and the tab's, once
        palette = [(c.title, c.help) for c in app.get_system_commands(app.screen)]
        titles = [t for t, _ in palette]
        assert len(titles) == len(set(titles)), titles
        assert "上移" not in titles  # moving the cursor is not a thing to search for
        assert all(help != title for title, help in palette)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one(Static).render())
        for line in help_text.splitlines():
            words = line.split()
            assert len(words) < 3 or words[1] != words[2], line  # never 上移 上移
        box = app.screen.query_one("#help")
        assert box.region.x == 0 and box.region.width == 80  # nothing beside it shows through


def county_app(tmp_path: Path) -> tuple[DeskApp, Desk]:
    store = Store.open(tmp_path / "county.db")
    add_units(store, [CITY, COUNTY])
    desk = Desk(store, COUNTY, "李四", frozenset(Role), Ticking())
    return DeskApp(desk, Attachments(tmp_path / "att")), desk


async def test_the_compose_form_shows_whole_fields_and_no_toast_over_its_advice(
    tmp_path: Path,
) -> None:
    app, desk = county_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_form(app, pilot, ComposeScreen(desk))
        form = screen.query_one("#form").content_region
        for field in ("#title", "#category", "#author", "#phone"):
            region = screen.query_one(field).region
            assert form.contains_region(region), (field, region, form)  # whole, with its label
        await fill_and_save(app, pilot, screen)
        problems = screen.query_one("#problems").region
        assert problems.height >= 3 and "提示" in str(
            screen.query_one("#problems", Static).render()
        )
        await pilot.press("ctrl+s")  # nothing changed: said in a toast
        for _ in range(20):
            await pilot.pause(0.05)
            toasts = list(screen.query(Toast))
            if toasts:
                break
        assert toasts
        for toast in toasts:
            assert not toast.region.overlaps(problems), (toast.region, problems)


async def test_no_line_of_an_item_starts_with_a_closing_mark(tmp_path: Path) -> None:
    app, desk = county_app(tmp_path)
    # at 80 columns the body's 39th character, a comma, would begin the second line
    body = "新荣区" * 12 + "，" + BODY
    item = submit(desk, draft(body=body))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(ItemScreen(desk, item.id))
        for _ in range(3):
            await asyncio.wait_for(app.workers.wait_for_complete(), 5)
            await pilot.pause()
        view = app.screen.query_one("#item", Static)
        lines = [
            "".join(s.text for s in view.render_line(y)).strip() for y in range(view.size.height)
        ]
        assert any(line.startswith("新荣区新荣区") for line in lines)
        assert not [line for line in lines if line and line[0] in NO_LINE_START], lines
