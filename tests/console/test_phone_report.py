"""电话报告 in the console (issue 18): `h` on the 紧急 tab takes a call — the calling unit, the
severity, who called, when it happened, what they said — and the board then shows it, awaiting
the written 首报, counting down to the written deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from console.app import DeskApp
from console.screen.dialog import AskText, Choose
from console.screen.emergency import local_time
from schema import emergency
from schema.attachment import Attachments
from schema.desk import Desk
from schema.error import ValidationError
from schema.network import add_units
from schema.store import Store
from schema.vocabulary import Role
from tests.conftest import CITY, COUNTY, Fixed

pytestmark = pytest.mark.anyio
NOW = datetime.fromisoformat("2026-11-21T14:55:00+08:00")


def test_times_as_a_duty_officer_types_them() -> None:
    assert local_time("14:35", NOW) == NOW.replace(minute=35)
    assert local_time("14：35", NOW) == NOW.replace(minute=35)  # a full-width colon
    assert local_time("23:50", NOW) == NOW.replace(hour=23, minute=50) - timedelta(days=1)
    assert local_time("2026-11-20 08:05", NOW).isoformat() == "2026-11-20T08:05:00+08:00"
    with pytest.raises(ValidationError, match="不是有效时间"):
        local_time("下午两点", NOW)


async def answer(app: DeskApp, pilot: object, value: str) -> None:
    screen = app.screen
    if isinstance(screen, Choose):
        options = screen.query_one(OptionList)
        options.highlighted = screen.choices.index(value)
        options.action_select()
    else:
        assert isinstance(screen, AskText), screen
        screen.query_one(Input).value = value
        await pilot.press("enter")  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


async def test_a_call_is_taken_and_shown_awaiting_the_written_report(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store.db")
    add_units(store, [CITY, COUNTY])
    desk = Desk(store, CITY, "值班员王五", frozenset(Role), Fixed(NOW))
    app = DeskApp(desk, Attachments(tmp_path / "att"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, Choose) and app.screen.prompt == "哪个单位来电？"
        await answer(app, pilot, "新荣区（140212）")
        await answer(app, pilot, "重大")
        await answer(app, pilot, "李晓红")
        await answer(app, pilot, "14:35")
        await answer(app, pilot, "某煤矿透水，3人被困，已启动预案")
        await pilot.pause(1.2)
        await app.workers.wait_for_complete()
        await pilot.pause()
        board = str(app.screen.query_one("#board", Static).render())
        assert "电话报告（1）" in board and "待书面首报" in board
        assert "某煤矿透水，3人被困，已启动预案（李晓红电话报告）" in board  # awaited, counting
    (call,) = emergency.phone_reports(store)
    assert (call.unit, call.caller, call.taken_by) == ("140212", "李晓红", "值班员王五")
    assert call.occurred_at == NOW.replace(minute=35) and call.called_at == NOW
    assert call.late_minutes == 0  # 20 minutes after the event: within 30
