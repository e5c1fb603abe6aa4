"""Leads through the real daemon: ``xinbao-syncd run`` reads the feed sources of ``syncd.toml``
from a feed server on 127.0.0.1 (RSS, Atom, JSON Feed, a malformed feed, an entity-expansion
attempt, an oversized body, a missing one) and a folder of carried feed files; keeps the
entries once, ranked; answers 304s with nothing new; records every bad source's reason, backs
off, and keeps running. A lead written into an item and signed off reaches the parent."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from tests.cli_helpers import run
from tests.syncd.daemons import CHAIN, Daemon, city_daemon, enrol_tree, link_up, ok, until
from tests.syncd.feedserver import FEEDS, FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture
GOOD = {"rss.xml": "大同日报", "atom.xml": "中国政府网", "feed.json": "山西发布"}
BAD = {
    "broken.xml": "无法解析",
    "laughs.xml": "实体扩展",
    "huge.xml": "超过",
    "missing.xml": "404",
}
OTHERS = {
    "新荣区“煤改电”用户冬季取暖平稳",
    "国务院常务会议部署推进“放管服”改革",
    "全省秋冬季大气污染防治攻坚启动",
}


def feeds_toml(server: str, interval: float = 0.5) -> str:
    text = "[intervals]\nsend = 0.2\nfeed_backoff_max = 2.0\n"
    text += "[limits]\nmax_feed_bytes = 1048576\n"
    for name, source in {**GOOD, **{n: n.split(".")[0] for n in BAD}}.items():
        text += (
            f'[[feeds]]\nname = "{source}"\nurl = "{server}/{name}"\ninterval = {interval}\n'
            'keywords = ["欠薪", "煤改电"]\n'
        )
    return text


def leads_json(home: Path, *args: str) -> list[dict[str, Any]]:
    return list(ok(run("xinbao", "--json", "leads", *args, home=home)).json())


def states(home: Path) -> dict[str, dict[str, Any]]:
    try:
        status = json.loads((home / "status.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {feed["name"]: feed for feed in status.get("feeds", [])}


def test_the_daemon_reads_every_feed_keeps_leads_once_and_outlives_the_bad_ones(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    home = enrol_tree(tmp_path, CHAIN[:1])["140000"]
    (home / "syncd.toml").write_text(feeds_toml(feed_server.url), "utf-8")
    daemon = Daemon(home)
    try:
        until(lambda: len(leads_json(home)) == 4, "four leads kept from three feeds")
        # the good feeds are read again and again: the server answers 304, nothing doubles
        until(
            lambda: all(feed_server.count(name, 304) >= 2 for name in GOOD),
            "conditional GETs answered 304",
        )
        # every bad source failed more than once (retried, backing off) with its reason
        until(
            lambda: all(states(home).get(n.split(".")[0], {}).get("failures", 0) >= 2 for n in BAD),
            "the bad feeds retried",
        )
        assert daemon.proc.poll() is None  # still running through all of them
        seen = states(home)
        for name, reason in BAD.items():
            feed = seen[name.split(".")[0]]
            assert feed["state"] == "failing" and reason in feed["last_error"], feed
            assert feed["leads"] == 0
        for source in GOOD.values():
            assert seen[source]["state"] == "ok" and seen[source]["last_ok"]
        # the JSON Feed's entry with a bad date was refused alone, and said so
        assert seen["山西发布"]["refused"] == 1 and "1 条被拒绝" in seen["山西发布"]["last_error"]
        # a failing source backs off: its interval (0.5 s), doubling per failure up to
        # feed_backoff_max (2 s here), as the daemon logged each failure
        # (the 5th try comes after the 4th failure was logged)
        until(lambda: feed_server.count("missing.xml", 404) >= 5, "missing.xml tried 5 times")
        log = (home / "daemon.log").read_text("utf-8")
        waits = re.findall(r"feed missing \(.*?\) refused: .*?; next try in ([0-9.]+) s", log)
        assert [float(w) for w in waits[:4]] == [0.5, 1.0, 2.0, 2.0]
        found = leads_json(home)
        # the same 欠薪 story came from the RSS and the Atom feed: kept once, whichever the
        # daemon read first (the sources are read side by side)
        titles = {lead["title"] for lead in found}
        assert len(found) == 4 and len([t for t in titles if "欠薪" in t]) == 1
        assert titles - {"大同市启动根治欠薪冬季专项行动", "大同启动根治欠薪冬季行动"} == OTHERS
        assert found[-1]["matched"] == []  # ranked: leads on a keyword first
        assert all(lead["matched"] for lead in found[:-1])
        assert [lead["title"] for lead in leads_json(home, "--match", "放管服")] == [
            "国务院常务会议部署推进“放管服”改革"
        ]
        log = (home / "daemon.log").read_text("utf-8")
        assert "feed laughs" in log and "refused" in log
        shown = ok(run("xinbao-syncd", "status", home=home)).out
        assert "订阅 大同日报　正常　线索 " in shown and "订阅 broken　故障" in shown
    finally:
        assert daemon.stop() == 0, (home / "daemon.log").read_text("utf-8")


def test_a_lead_from_a_carried_folder_becomes_an_item_that_reaches_the_parent(
    tmp_path: Path,
) -> None:
    homes = enrol_tree(tmp_path, CHAIN[:3])
    county, city = homes["140212"], homes["140200"]
    parent = city_daemon(county, city)
    carried = tmp_path / "usb-feeds"
    carried.mkdir()
    try:
        link_up(county, parent)
        config = county / "syncd.toml"
        config.write_text(
            config.read_text("utf-8")
            + f'\n[[feeds]]\nname = "大同日报"\nfolder = "{carried}"\ninterval = 0.3\n'
            'keywords = ["欠薪"]\n',
            "utf-8",
        )
        child = Daemon(county)
        try:
            until(lambda: "大同日报" in states(county), "the folder source looked at")
            assert leads_json(county) == []  # nothing carried in yet
            shutil.copy(FEEDS / "rss.xml", carried / "rss.xml")
            shutil.copy(FEEDS / "broken.xml", carried / "broken.xml")  # refused alone
            found = until(lambda: leads_json(county), "leads from the carried files")
            until(
                lambda: "broken.xml" in states(county)["大同日报"]["last_error"],
                "the broken file named in the source's state",
            )
            assert states(county)["大同日报"]["state"] == "ok"  # the good file was read
            lead = next(lead for lead in found if "欠薪" in lead["title"])
            assert lead["matched"] == ["欠薪"]
            item = ok(run("xinbao", "--json", "lead", "draft", str(lead["id"]), home=county))
            item_id = item.json()["id"]
            body = ok(run("xinbao", "show", item_id, home=county)).out
            assert "线索来源：大同日报" in body
            # the lead itself never left: only the signed-off item goes up
            ok(run("xinbao", "signoff", item_id, home=county))

            def arrived() -> bool:
                rows = ok(run("xinbao", "--json", "list", "--inbox", home=city)).json()
                return any(r["item_id"] == item_id for r in rows)

            until(arrived, "the item written from the lead reaches the city")
            assert leads_json(city) == []
            shown = ok(run("xinbao", "--json", "lead", "show", str(lead["id"]), home=county))
            assert shown.json()["state"] == "已成稿" and shown.json()["item_id"] == item_id
        finally:
            assert child.stop() == 0, (county / "daemon.log").read_text("utf-8")
    finally:
        assert parent.stop() == 0
