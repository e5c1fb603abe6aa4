"""The 网络 tab (console/screen/network.py): the daemon's status file as the console reads it
(running, stale, missing), its links and queues, the records held above a link's ceiling and
the desk's own outbox — and the view following the file as the daemon rewrites it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import DeskApp
from console.screen.network import NetworkScreen, pending_records, read_status
from schema import outbox
from schema.attachment import Attachments
from schema.desk import Desk, signoff, submit
from schema.network import add_units
from schema.record import Unit
from schema.store import Store
from schema.vocabulary import Role, Tier
from tests.conftest import CITY, COUNTY, COUNTY2, T0, Fixed, draft, incident_draft

pytestmark = pytest.mark.anyio

PROVINCE = Unit("140000", "山西省人民政府办公厅", Tier.PROVINCE, "", short="山西省")
NOW = T0 + timedelta(hours=1)  # 11月21日 16:00


def status(written: datetime, **changes: Any) -> dict[str, Any]:
    """A status file as the daemon writes it: ``Engine.status()`` plus written_at and pid."""
    at = written.timestamp()
    links = [
        {
            "peer": "140000",
            "name": "山西省",
            "kind": "http",
            "where": "https://10.14.0.1:8443",
            "ceiling": "内部",
            "state": "failing",
            "depth": 3,
            "oldest": at - 3600,
            "last_contact": at - 7200,
            "last_error": "ConnectError: [Errno 111] Connection refused",
            "failures": 4,
            "blocked": 1,
        },
        {
            "peer": "140212",
            "name": "新荣区",
            "kind": "pull",
            "where": "（由对方拉取）",
            "ceiling": "",
            "state": "ok",
            "depth": 0,
            "oldest": None,
            "last_contact": at - 30,
            "last_error": "",
            "failures": 0,
            "blocked": 0,
        },
        {
            "peer": "140213",
            "name": "平城区",
            "kind": "folder",
            "where": "/media/usb/140213",
            "ceiling": "秘密",
            "state": "waiting",
            "depth": 1,
            "oldest": at - 600,
            "last_contact": None,
            "last_error": "",
            "failures": 0,
            "blocked": 0,
        },
    ]
    feeds = [
        {
            "name": "大同日报",
            "kind": "http",
            "where": "https://dt.example.cn/rss",
            "state": "ok",
            "last_ok": at - 60,
            "last_error": "1 条被拒绝（标题超过 200 字）",
            "failures": 0,
            "next_at": at + 840,
            "refused": 1,
            "leads": 12,
        },
        {
            "name": "人民网",
            "kind": "http",
            "where": "https://people.example.cn/rss",
            "state": "failing",
            "last_ok": None,
            "last_error": "无法解析：not well-formed",
            "failures": 2,
            "next_at": at + 1800,
            "refused": 0,
            "leads": 0,
        },
    ]
    made = {
        "node": "140200",
        "links": links,
        "feeds": feeds,
        "awaiting_receipts": 2,
        "quarantined": 1,
        "written_at": at,
        "pid": 4242,
    }
    made.update(changes)
    return made


def write(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    temp.replace(path)  # as the daemon does: never half a file


def city_desk(tmp_path: Path) -> tuple[Desk, str]:
    """A city desk (file store, fixed clock) with a 秘密 item held back from the province's
    link (ceiling 内部) and two records in its outbox: one 平急, one 特急."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store.open(tmp_path / "store.db")
    add_units(store, [PROVINCE, CITY, COUNTY, COUNTY2])
    desk = Desk(store, CITY, "王五", frozenset(Role), Fixed(T0))
    item = submit(desk, draft(title="大同市煤矿安全专项整治情况", classification="秘密"))
    signoff(desk, item.id)
    emergency = submit(desk, incident_draft(title="大同市某化工厂发生泄漏"))
    signoff(desk, emergency.id)
    outbox.set_held(store, {(item.id, "140000"): "内部"}, T0)
    return Desk(store, CITY, "王五", frozenset(Role), Fixed(NOW)), item.id


def app_for(tmp_path: Path, status_path: Path | None) -> tuple[DeskApp, str]:
    desk, held = city_desk(tmp_path)
    return DeskApp(desk, Attachments(tmp_path / "att"), status_path), held


def top(app: DeskApp) -> str:
    return str(app.screen.query_one("#status", Static).render())


def body(app: DeskApp) -> str:
    return str(app.screen.query_one("#links", Static).render())


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_tab(pilot: Pilot[None]) -> None:
    await pilot.press("7")
    await settle(pilot)


def test_reading_the_status_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(None) == (None, "")
    assert read_status(path) == (None, "")
    path.write_text("{half", "utf-8")
    assert read_status(path) == (None, "状态文件内容无法解析")
    write(path, status(NOW))
    assert read_status(path)[0] == status(NOW)


def test_the_outbox_is_counted_by_urgency(tmp_path: Path) -> None:
    desk, _ = city_desk(tmp_path)
    pending = pending_records(desk.store, desk.rules.priority)
    queued = outbox.pending(desk.store)
    assert pending.total == len(queued) and pending.total >= 2
    assert list(pending.by_urgency) == ["特急", "加急", "平急"]
    assert pending.by_urgency["特急"] == sum(1 for q in queued if q.priority >= 9)
    assert pending.by_urgency["特急"] >= 1 and pending.by_urgency["平急"] >= 1
    assert pending.oldest == min(q.created_at for q in queued)


async def test_a_running_daemon_s_links_and_the_held_records(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write(path, status(NOW - timedelta(seconds=2)))
    app, held = app_for(tmp_path, path)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_tab(pilot)
        assert isinstance(app.screen, NetworkScreen)
        assert top(app) == "同步服务运行中（进程 4242，状态更新于 11月21日 15:59:58）"
        text = body(app)
        lines = text.splitlines()
        assert lines[0] == "节点 140200　待回执数据包 2　隔离区 1　最近备份 从未"
        pending = pending_records(app.desk.store, app.desk.rules.priority)
        assert lines[1].startswith(f"本单位待发记录 特急 {pending.by_urgency['特急']}　加急 0")
        # each link: state, peer and name; how, where and ceiling; queue; error
        first = lines.index("链路（3）")
        assert lines[first + 1].split() == ["故障", "140000", "山西省"]
        assert lines[first + 2].strip() == "HTTP　https://10.14.0.1:8443　密级上限 内部"
        assert lines[first + 3].split("　") == [
            "        队列 3",
            "最早 11月21日 14:59",
            "受密级限制 1",
            "最近联系 11月21日 13:59",
        ]
        assert lines[first + 4].strip() == (
            "最近错误：ConnectError: [Errno 111] Connection refused"
        )
        assert lines[first + 5].split() == ["正常", "140212", "新荣区"]
        assert lines[first + 6].strip() == "由对方拉取"
        assert lines[first + 7].strip() == "队列 0　最近联系 11月21日 15:59"
        assert lines[first + 8].split() == ["未联系", "140213", "平城区"]
        assert "文件夹　/media/usb/140213　密级上限 秘密" in lines[first + 9]
        assert lines[first + 10].strip() == "队列 1　最早 11月21日 15:49　最近联系 —"
        # each feed source: state and name; leads, last read, next, where; last problem
        feeds = lines.index("订阅源（2）")
        assert lines[feeds + 1].split() == ["正常", "大同日报"]
        assert lines[feeds + 2].strip() == (
            "线索 12　最近读取 11月21日 15:58　下次 11月21日 16:13　https://dt.example.cn/rss"
        )
        assert lines[feeds + 3].strip() == "最近问题：1 条被拒绝（标题超过 200 字）"
        assert lines[feeds + 4].split() == ["故障", "人民网"]
        assert lines[feeds + 5].strip().startswith("线索 0　最近读取 —　下次 11月21日 16:29")
        assert lines[feeds + 6].strip() == "最近问题：无法解析：not well-formed"
        # the held record: record, peer, ceiling, since, title
        start = lines.index("因密级上限暂缓发出（1）")
        assert lines[start + 2].split() == [
            held,
            "山西省",
            "内部",
            "11月21日",
            "15:00",
            "大同市煤矿安全专项整治情况",
        ]


async def test_a_stale_status_file_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write(path, status(NOW - timedelta(seconds=31)))
    app, _ = app_for(tmp_path, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert top(app) == "同步服务可能已停止（状态更新于 11月21日 15:59:29）"
        assert "链路（3）" in body(app)  # the last known links are still shown
    write(path, status(NOW - timedelta(seconds=30)))  # 30 s is still running
    app, _ = app_for(tmp_path / "again", path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert top(app).startswith("同步服务运行中")


async def test_no_status_file_means_not_running(tmp_path: Path) -> None:
    for path in (None, tmp_path / "status.json"):
        app, held = app_for(tmp_path / str(bool(path)), path)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot)
            assert top(app) == "同步服务未运行（未找到状态文件）"
            text = body(app)
            assert "链路" not in text and "节点 140200" not in text
            assert "本单位待发记录 特急 1" in text  # the store's side is still shown
            assert held in text


async def test_the_view_follows_the_file_as_the_daemon_rewrites_it(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    app, held = app_for(tmp_path, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert top(app) == "同步服务未运行（未找到状态文件）"
        # the daemon starts
        write(path, status(NOW - timedelta(seconds=1)))
        await pilot.pause(1.3)
        await settle(pilot)
        assert top(app).startswith("同步服务运行中")
        assert "故障    140000 山西省" in body(app)
        # the province answers: the queue drains, the link is well
        links = status(NOW)["links"]
        links[0].update(state="ok", depth=0, blocked=0, last_error="", last_contact=NOW.timestamp())
        write(path, status(NOW, links=links, quarantined=0, feeds=[]))
        await pilot.pause(1.3)
        await settle(pilot)
        text = body(app)
        assert "正常    140000 山西省" in text and "故障" not in text
        assert "隔离区 0" in text and "最近联系 11月21日 16:00" in text
        # the daemon released the held record: the store's table changes too
        outbox.set_held(app.desk.store, {}, NOW)
        await pilot.pause(1.3)
        await settle(pilot)
        assert "因密级上限暂缓发出（0）" in body(app) and held not in body(app)
        # the daemon stops: it removes the file
        path.unlink()
        await pilot.pause(1.3)
        await settle(pilot)
        assert top(app) == "同步服务未运行（未找到状态文件）"


async def test_an_unreadable_status_file_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text("[1, 2]", "utf-8")
    app, _ = app_for(tmp_path, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        assert top(app) == "同步服务状态不明（状态文件内容无法解析）"
        # r reads again at once, without waiting for the next second
        write(path, status(NOW))
        await pilot.press("r")
        await settle(pilot)
        assert top(app) == "同步服务运行中（进程 4242，状态更新于 11月21日 16:00:00）"


# -- snapshots --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "status.json"
    write(path, status(NOW - timedelta(seconds=2)))
    app, _ = app_for(tmp_path, path)
    assert snap_compare(app, terminal_size=size, run_before=open_tab)


async def test_the_roster_of_every_unit_below_is_shown(tmp_path: Path) -> None:
    """通讯录 in the 网络 tab: whom to phone in each unit below; a unit that never sent its
    roster stands out; a roster arriving while the tab is open shows without a key."""
    from dataclasses import replace

    from schema import roster

    app, _ = app_for(tmp_path, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_tab(pilot)
        text = body(app)
        assert "通讯录（3 个单位，3 个未报或不全）" in text
        assert "新荣区（140212）　未报送通讯录" in text
        # 新荣区's roster arrives (another process writes the store: the daemon)
        person = roster.Person("信息员", "李四", "科员", "", "13903521234")
        leader = replace(person, role="分管领导", name="张某某", post="副主任")
        other = Store.open(tmp_path / "store.db")
        with other.write() as db:
            roster._replace(db, "140212", [leader, person], 1, "李四", NOW)
        other.close()
        await pilot.pause(1.3)
        await settle(pilot)
        text = body(app)
        assert "  信息员　李四　科员　手机 13903521234" in text
        assert "通讯录（3 个单位，2 个未报或不全）" in text


async def test_after_a_restore_the_tab_shows_the_resync(tmp_path: Path) -> None:
    """Read from the store (schema/resync.py): shown with or without a running daemon."""
    from schema import resync

    app, _ = app_for(tmp_path, None)
    store = app.desk.store
    resync.start(store, CITY.id, ["140000", "140212"], T0, T0)
    with store.write():
        resync.done(store, "140000", {"records": 3, "bundles": 7, "counters": {}}, NOW)
    async with app.run_test(size=(80, 40)) as pilot:
        await open_tab(pilot)
        lines = body(app).splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("重新同步"))
        assert lines[at] == "重新同步 进行中：已答复 1/2"
        assert lines[at + 1].strip() == (
            "140000　11月21日 16:00 答复，重发数据包 7，回传本节点记录 3"
        )
        assert lines[at + 2].strip() == "140212　等待答复（11月21日 15:00 请求）"
        with store.write():
            resync.done(store, "140212", {"records": 0, "bundles": 2, "counters": {}}, NOW)
        await pilot.press("r")
        await settle(pilot)
        assert "重新同步 已完成：已答复 2/2" in body(app)
