"""``xinbao demo``: a live multi-tier network on this machine, then the console at one desk.

A province, two cities, three counties and a township are created in a temporary folder from
the fixtures, enrolled through ``xinbao-syncd`` exactly as offices do, and each runs its own
daemon on 127.0.0.1. Traffic is fed at the desks — items from the counties, an emergency that
counts down at the city, a topic request from the province — and travels through the daemons.
The console then opens at the chosen desk (a city by default). Quitting it stops every process
the demo started and removes the network (``--keep`` keeps it, and says where it lives).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from schema import request as requests
from schema.clock import system_clock
from schema.datafile import fixtures_dir
from schema.desk import (
    Desk,
    adopt,
    compose_request,
    set_roster,
    signoff,
    signoff_issue,
    signoff_request,
    submit,
)
from schema.fixture import load_items, load_rosters, load_units
from schema.network import add_units
from schema.node import NodeHome
from schema.store import Store

NETWORK = [  # id, tier, parent — top down
    ("140000", "province", ""),
    ("140200", "city", "140000"),
    ("140100", "city", "140000"),
    ("140212", "county", "140200"),
    ("140213", "county", "140200"),
    ("140105", "county", "140100"),
    ("140212100", "township", "140212"),
]
TIMERS = (
    "[intervals]\nsend = 0.5\nfetch = 1.0\nretry_min = 0.5\nretry_max = 5.0\nresend_after = 120.0\n"
)
WAIT = 60.0  # seconds: the longest any step may take
# the fixture feeds, as if carried in on a USB stick: every city and county desk reads them
DEMO_FEEDS = ("rss.xml", "atom.xml", "feed.json")
FEED_SOURCE = """
[[feeds]]
name = "U盘摘编"
folder = "{folder}"
interval = 5.0
keywords = ["欠薪", "煤改电"]
"""


def _say(text: str) -> None:
    print(text, flush=True)


def _cli(program: str, home: Path, *args: str) -> str:
    module = "console" if program == "xinbao" else "syncd"
    env = {**os.environ, "XINBAO_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"xinbao demo: 演示步骤失败：{program} {' '.join(args)}\n{done.stderr}")
    return done.stdout


def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"xinbao demo: 等待超时：{what}")


class Network:
    """The demo's node homes and daemons."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.feeds = root / "feeds"  # the "USB stick" of feed files
        self.homes = {node: root / node for node, _, _ in NETWORK}
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        names = {u.id: u.name for u in load_units()}
        self.names = names

    def build(self) -> None:
        self.feeds.mkdir()
        for name in DEMO_FEEDS:
            shutil.copy(fixtures_dir() / "feeds" / name, self.feeds / name)
        for node, tier, parent in NETWORK:
            _cli(
                "xinbao-syncd",
                self.homes[node],
                "init",
                "--id",
                node,
                "--name",
                self.names.get(node, node),
                "--tier",
                tier,
                "--parent",
                parent,
            )
            store = Store.open(self.homes[node] / "store.db")
            try:
                add_units(store, load_units())  # desks show short names from the fixtures
            finally:
                store.close()
            feeds = FEED_SOURCE.format(folder=self.feeds) if tier in ("city", "county") else ""
            (self.homes[node] / "syncd.toml").write_text(TIMERS + feeds, "utf-8")
        for child, _, parent in NETWORK[1:]:
            request = self.root / f"{child}.req"
            cert = self.root / f"{child}.crt"
            request.write_text(_cli("xinbao-syncd", self.homes[child], "enroll", "request"))
            cert.write_text(
                _cli("xinbao-syncd", self.homes[parent], "enroll", "issue", str(request))
            )
            _cli("xinbao-syncd", self.homes[child], "enroll", "install", str(cert))

    def start(self) -> None:
        for node, _, _ in NETWORK:
            home = self.homes[node]
            log = open(home / "daemon.log", "wb")  # noqa: SIM115 - closed with the process
            self.daemons[node] = subprocess.Popen(
                [sys.executable, "-m", "syncd", "run", "--listen", "127.0.0.1:0"],
                env={**os.environ, "XINBAO_HOME": str(home)},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            log.close()
        for node, _, _ in NETWORK:
            self.urls[node] = _until(
                lambda node=node: self._listening(node), f"{node} 守护进程启动"
            )
        for child, _, parent in NETWORK[1:]:
            _cli(
                "xinbao-syncd", self.homes[child], "link", "add", parent, "--url", self.urls[parent]
            )

    def _listening(self, node: str) -> str | None:
        if self.daemons[node].poll() is not None:
            log = (self.homes[node] / "daemon.log").read_text("utf-8", "replace")
            raise SystemExit(f"xinbao demo: 节点 {node} 的守护进程退出了：\n{log[-2000:]}")
        try:
            run = json.loads((self.homes[node] / "run" / "syncd.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return str(run.get("listen") or "") or None

    def stop(self) -> None:
        """Stop every daemon (SIGTERM, then SIGKILL after a bounded wait)."""
        for proc in self.daemons.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.daemons.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def desk(self, node: str) -> Desk:
        home = NodeHome(self.homes[node])
        config = home.load()
        user = next(iter(config.users))
        return Desk(Store.open(home.store_path), config.unit, user, frozenset(config.users[user]))

    def knows(self, node: str, others: list[str]) -> bool:
        known = self.homes[node] / "keys" / "known"
        return all((known / f"{o}.pem").is_file() for o in others)


def _feed(net: Network) -> None:
    """Items from the counties, an emergency at 新荣区, a topic request from the province
    (to the counties of 大同, 小店区 and 大同市 itself)."""
    now = system_clock()
    for unit, people in load_rosters().items():  # each unit's 通讯录, up to every office above
        desk = net.desk(unit)
        try:
            set_roster(desk, people)
        finally:
            desk.store.close()
    samples = load_items()
    for county in ("140212", "140213", "140105"):
        desk = net.desk(county)
        try:
            plain = [s for s in samples if s.unit == county and not s.draft.incident][:3]
            for sample in plain:
                item = submit(desk, replace(sample.draft, to=(), request=""))
                signoff(desk, item.id)
            if county == "140212":
                report = next(s for s in samples if s.unit == county and s.draft.incident)
                assert report.draft.incident is not None
                incident = replace(report.draft.incident, occurred_at=now - timedelta(minutes=40))
                item = submit(desk, replace(report.draft, to=(), request="", incident=incident))
                signoff(desk, item.id)
        finally:
            desk.store.close()
    province = net.desk("140000")
    try:
        draft = requests.parse_request(
            {
                "kind": "约稿",
                "urgency": "加急",
                "topic": "根治欠薪冬季专项行动开展情况",
                "guidance": "请报送专项行动启动后的工作部署、欠薪线索排查处置情况，附典型案例。",
                "targets": ["all:county:140200", "140105", "140200"],
                "deadline": (now + timedelta(days=2)).isoformat(timespec="seconds"),
                "publication": "专报",
                "points": 10,
                "penalty": -10,
            }
        )
        signoff_request(province, compose_request(province, draft).id)
    finally:
        province.store.close()


def _adopt_at_city(net: Network) -> None:
    """The city adopts a county's item into its 每日要情 and signs the issue off, and places
    another in the next issue (the 刊物 and 通报 tabs have something to show; the decisions
    travel back down to the counties)."""
    city = net.desk("140200")
    try:
        for word, sign in (("欠薪", True), ("老旧小区", False)):
            row = city.store.one(
                "SELECT e.item_id FROM edge e JOIN item i ON i.id = e.item_id "
                "WHERE e.to_unit = '140200' AND i.title LIKE ?",
                (f"%{word}%",),
            )
            if row is not None:
                adopt(city, row["item_id"], issue="每日要情")
                if sign:
                    signoff_issue(city, "每日要情")
    finally:
        city.store.close()


def _rosters_below(net: Network, node: str) -> bool:
    """Whether ``node`` holds the 通讯录 of every unit below it that has a sample one."""
    parent = {n: p for n, _, p in NETWORK}

    def below(unit: str) -> bool:
        up = parent.get(unit, "")
        while up:
            if up == node:
                return True
            up = parent.get(up, "")
        return False

    wanted = {unit for unit in load_rosters() if below(unit)}
    desk = net.desk(node)
    try:
        held = {r["unit"] for r in desk.store.query("SELECT unit FROM roster_version")}
    finally:
        desk.store.close()
    return wanted <= held


def _has_leads(net: Network, node: str) -> bool:
    """Whether the desk's daemon has read the carried feeds (the province reads none)."""
    if node == "140000":
        return True
    return bool(json.loads(_cli("xinbao", net.homes[node], "--json", "leads")))


def _inbox_size(net: Network, node: str) -> int:
    store = Store.open(net.homes[node] / "store.db")
    try:
        return int(store.query("SELECT COUNT(*) AS n FROM edge WHERE to_unit = ?", (node,))[0]["n"])
    finally:
        store.close()


def run_demo(*, keep: bool = False, desk: str = "140200", console: bool = True) -> int:
    """``xinbao demo``: build, start, feed, open the console; stop everything on the way out."""
    if desk not in {node for node, _, _ in NETWORK}:
        known = "、".join(node for node, _, _ in NETWORK)
        raise SystemExit(f"xinbao demo: 没有节点 {desk}（可选：{known}）")
    root = Path(tempfile.mkdtemp(prefix="xinbao-demo-"))
    net = Network(root)
    try:
        _say("信报演示：在本机建立省、两个市、三个县和一个乡镇的报送网络……")
        net.build()
        _say("各节点已入网，正在启动同步守护进程……")
        net.start()
        counties = ["140212", "140213", "140105"]
        _until(lambda: net.knows("140000", counties), "各县证书上报到省")
        _say("正在报送：县级信息、一条突发事件首报、省里的约稿……")
        _feed(net)
        _until(lambda: _inbox_size(net, "140200") >= 4, "大同市收到各县信息")
        _until(lambda: _inbox_size(net, "140100") >= 1, "太原市收到小店区信息")
        _adopt_at_city(net)
        _until(lambda: _rosters_below(net, desk), "下级单位的通讯录")
        _until(lambda: _has_leads(net, desk), "订阅源的线索")
        if console:
            from console.app import run_console  # Textual loads only for the console

            opened = net.desk(desk)
            home = NodeHome(net.homes[desk])
            try:
                run_console(opened, home.attachments_path, home.status_path)
            finally:
                opened.store.close()
        else:
            _say(_cli("xinbao", net.homes[desk], "list", "--inbox"))
            _say(_cli("xinbao", net.homes[desk], "roster"))
            _say(_cli("xinbao", net.homes[desk], "leads"))
        return 0
    finally:
        net.stop()
        if keep:
            _say(f"演示网络保留在 {root}（各节点目录以单位代码命名；守护进程已停止）")
        else:
            shutil.rmtree(root, ignore_errors=True)
            _say(f"演示结束，守护进程已停止。演示网络 {root} 已删除（使用 --keep 保留）")
