"""核实 from the console (issue 18): `v` on a received item asks its source what to verify;
at the source, `v` on the item (outbox) shows the question and takes the answer; the item view
shows both at each end."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from console.app import DeskApp
from console.screen.dialog import AskText
from console.screen.item import ItemScreen
from schema import outbox, verify
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.inbound import apply
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Ticking, draft

pytestmark = pytest.mark.anyio


def carry(source: Desk, target: Desk) -> None:
    for q in outbox.pending(source.store):
        if target.node.id in q.recipients:
            apply(target.store, q.record, target.node.id, source.clock)
    outbox.mark_shipped(source.store, [q.seq for q in outbox.pending(source.store)], source.clock())


async def type_into_dialog(app: DeskApp, pilot: object, text: str) -> str:
    """Type ``text`` into the open AskText, return its prompt, and press Enter."""
    assert isinstance(app.screen, AskText)
    prompt = app.screen.prompt
    app.screen.query_one(Input).value = text
    await pilot.press("enter")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    return prompt


async def test_ask_at_the_city_and_answer_at_the_county(tmp_path: Path) -> None:
    city_store = Store.open(tmp_path / "city.db")
    county_store = Store.open(tmp_path / "county.db")
    for store in (city_store, county_store):
        add_units(store, [CITY, COUNTY])
    county = Desk(county_store, COUNTY, "李四", frozenset(Role), Ticking())
    city = Desk(city_store, CITY, "王五", frozenset(Role), Ticking())
    item = submit(county, draft())
    signoff(county, item.id)
    carry(county, city)

    app = DeskApp(city, Attachments(tmp_path / "city-att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # open the item
        await pilot.pause()
        assert isinstance(app.screen, ItemScreen)
        await pilot.press("v")
        await pilot.pause()
        prompt = await type_into_dialog(app, pilot, "困难群众户数是否准确？")
        assert "要求来源单位核实 1 条信息（24 小时内答复）" in prompt
        await pilot.pause()
        shown = str(app.screen.query_one("#item", Static).render())
        assert "困难群众户数是否准确？" in shown and "待" in shown and "答复" in shown
    (asked,) = verify.on_item(city.store, item.id)
    assert asked.asked_by == "王五" and asked.open

    carry(city, county)
    app = DeskApp(county, Attachments(tmp_path / "county-att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("o")  # the outbox: this unit's own items
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        prompt = await type_into_dialog(app, pilot, "经核实，户数准确。")
        assert prompt == "答复核实（困难群众户数是否准确？）："
    (answered,) = verify.on_item(county.store, item.id)
    assert (answered.answer, answered.answered_by) == ("经核实，户数准确。", "李四")
    carry(county, city)
    assert verify.on_item(city.store, item.id)[0].answer == "经核实，户数准确。"
