"""Live refresh with real processes: the city's daemon (another process) receives a county's
bundle over HTTP and applies it; the console open on the city's store shows the item within a
second, with the cursor and the marks where they were — and the 网络 tab reads the daemon's
status file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.app import DeskApp
from console.screen.inbox import InboxList
from schema.attachment import Attachments
from schema.desk import Desk
from schema.node import NodeHome
from schema.store import Store
from schema.vocabulary import Role
from tests.cli_helpers import run
from tests.syncd.daemons import ROUTINE, chain, city_daemon, inbox, link_up, ok, submit, until

pytestmark = pytest.mark.anyio
__all__ = ["chain"]  # the fixture


async def test_a_bundle_the_daemon_applies_appears_keeping_cursor_and_marks(
    chain: dict[str, Path], tmp_path: Path
) -> None:
    county, city = chain["140212"], chain["140200"]
    daemon = city_daemon(county, city)
    try:
        link_up(county, daemon)
        for n in (1, 2):  # two items there before the console opens
            text = ROUTINE.format(title=f"供暖巡查第{n}周", classification="内部")
            submit(county, text, tmp_path, f"first{n}.toml")
        ok(run("xinbao-syncd", "once", home=county))
        until(lambda: len(inbox(city)) == 2, "the first two items arrive")
        home = NodeHome(city)
        desk = Desk(Store.open(home.store_path), home.load().unit, "tester", frozenset(Role))
        app = DeskApp(desk, Attachments(home.attachments_path), home.status_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            box = app.screen.query_one(InboxList)
            assert len(box.rows) == 2
            await pilot.press("space")  # mark the newest; the cursor moves to the second
            here, marked = box.current(), set(box.marked)
            assert here is not None and len(marked) == 1
            fresh = submit(
                county, ROUTINE.format(title="新荣区新到的信息", classification="内部"),
                tmp_path, "fresh.toml",
            )  # fmt: skip
            ok(run("xinbao-syncd", "once", home=county))  # pushed; the city's daemon applies it
            arrived = until(lambda: fresh in inbox(city), "the daemon applied the bundle")
            assert arrived
            started = time.monotonic()
            while len(box.rows) < 3 and time.monotonic() - started < 5:
                await pilot.pause(0.05)
            assert len(box.rows) == 3, "the item the daemon applied did not appear"
            assert time.monotonic() - started < 1.0  # within a second of being committed
            assert box.rows.row(0).title == "新荣区新到的信息"  # type: ignore[union-attr]
            assert box.current() == here and box.marked == marked
            # the 网络 tab: the daemon's own status file, read live
            await pilot.press("7")
            deadline = time.monotonic() + 5
            shown = ""
            while "运行中" not in shown and time.monotonic() < deadline:
                await pilot.pause(0.2)
                shown = " ".join(str(w.render()) for w in app.screen.query("Static"))
            assert "运行中" in shown and "140000" in shown  # the link to its parent
        desk.store.close()
    finally:
        assert daemon.stop() == 0
