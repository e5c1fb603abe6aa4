"""退回 from the console (issue 16): an empty reason keeps the dialog open and says
退回必须写明理由, as the CLI does; the reason typed next goes into the dialog (the digits of
“2026” do not switch tabs) and the item is returned with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Label

from console.app import DeskApp
from console.screen.dialog import AskText
from console.screen.inbox import InboxScreen
from schema import outbox, state
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import EdgeState, Role
from tests.conftest import CITY, COUNTY, Ticking, draft

pytestmark = pytest.mark.anyio


def received(path: Path) -> tuple[Desk, str]:
    store = Store.open(path)
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    item = submit(county, draft())
    signoff(county, item.id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    return Desk(store, CITY, "王五", frozenset(Role), Ticking()), item.id


async def test_an_empty_reason_keeps_the_return_dialog_open(tmp_path: Path) -> None:
    desk, item_id = received(tmp_path / "store.db")
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        await pilot.press("enter")  # empty
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        refusal = app.screen.query_one("#refusal", Label)
        assert refusal.display and "退回必须写明理由" in str(refusal.render())
        await pilot.press("space", "enter")  # blank is empty too
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        await pilot.press(*"2026")  # into the dialog, not the tab keys
        await pilot.pause()
        assert isinstance(app.screen, AskText) and app.current_mode == "inbox"
        assert app.screen.query_one(Input).value.strip() == "2026"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InboxScreen)
    edge = state.find_edge_to(desk.store, item_id, CITY.id)
    assert edge is not None and edge.state is EdgeState.RETURNED and edge.note == "2026"


async def test_a_dialog_without_a_requirement_still_takes_an_empty_answer(
    tmp_path: Path,
) -> None:
    desk, _ = received(tmp_path / "store.db")
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    answers: list[str | None] = []
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        app.push_screen(AskText("可空："), answers.append)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, AskText)
    assert answers == [""]


async def test_an_empty_merge_title_keeps_the_dialog_open(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    add_units(store, [CITY, COUNTY])
    county = Desk(Store.memory(), COUNTY, "李四", frozenset(Role), Ticking())
    for n in range(2):
        signoff(county, submit(county, draft(title=f"第{n + 1}条 新荣区供暖巡查")).id)
    for q in outbox.pending(county.store):
        apply(store, q.record, CITY.id, county.clock)
    desk = Desk(store, CITY, "王五", frozenset(Role), Ticking())
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await pilot.press("space", "space", "m")  # both marked, merged
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AskText)
        refusal = app.screen.query_one("#refusal", Label)
        assert refusal.display and "须有标题" in str(refusal.render())
