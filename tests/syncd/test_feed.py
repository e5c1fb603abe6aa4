"""Feeds (syncd/feed.py) from a feed server on 127.0.0.1 serving the fixture feeds: RSS, Atom
and JSON Feed fetched, parsed and kept as leads once (the same story in two feeds once); a 304
on the second fetch; a malformed feed, an entity-expansion attempt and an oversized body
refused with their reasons; a bad entry refused alone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from schema import lead as leads
from syncd.config import Feed
from syncd.feed import FeedError, fetch, parse
from syncd.leads import delay, parse_file, read_folder
from tests.conftest import COUNTY, T0, make_desk
from tests.syncd.feedserver import FEEDS, LIMIT, FeedServer, feed_server

pytestmark = pytest.mark.anyio
__all__ = ["feed_server"]  # the fixture


@pytest.fixture
def server(feed_server: FeedServer) -> str:
    return feed_server.url


async def test_three_kinds_of_feed_become_leads_once(server: str) -> None:
    desk = make_desk(COUNTY)
    kept: list[str] = []
    async with httpx.AsyncClient(timeout=5) as client:
        for name, source in (
            ("rss.xml", "大同日报"),
            ("atom.xml", "中国政府网"),
            ("feed.json", "山西发布"),
        ):
            got = await fetch(client, f"{server}/{name}", "", "", LIMIT)
            assert got.body is not None and got.etag == f'"{name}-1"'
            parsed = parse(source, got.body, got.content_type)
            added = leads.add(desk.store, parsed.entries, ["欠薪", "煤改电", "放管服"], T0)
            kept += [lead.title for lead in added.kept]
            if name == "atom.xml":
                assert added.near == 1  # 大同 欠薪 again, from another source
            if name == "feed.json":
                assert [why for _, why in parsed.refused] == [
                    "发布时间“去年冬天”不是 RFC 3339 格式"
                ]
        # the second time the server answers 304: nothing to parse
        again = await fetch(client, f"{server}/rss.xml", '"rss.xml-1"', "", LIMIT)
        assert again.body is None
    assert kept == [
        "大同市启动根治欠薪冬季专项行动",
        "新荣区“煤改电”用户冬季取暖平稳",
        "国务院常务会议部署推进“放管服”改革",
        "全省秋冬季大气污染防治攻坚启动",
    ]
    ranked = leads.ranked(desk.store, T0)
    assert len(ranked) == 4 and all(lead.matched for lead in ranked)  # every one on a priority
    (first,) = [lead for lead in ranked if "欠薪" in lead.matched]
    assert first.summary.startswith("大同市出台")  # the RSS description's HTML stripped
    assert first.published is not None and first.published.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken.xml", "无法解析"),
        ("laughs.xml", "实体扩展"),
        ("huge.xml", "超过"),
        ("missing.xml", "404"),
    ],
)
async def test_a_hostile_or_broken_feed_is_refused_with_its_reason(
    server: str, name: str, reason: str
) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(FeedError, match=reason):
            got = await fetch(client, f"{server}/{name}", "", "", LIMIT)
            assert got.body is not None
            parse("某网", got.body, got.content_type)


def test_a_failing_source_waits_its_interval_doubling_up_to_the_cap() -> None:
    feed = Feed("网", url="http://x/rss", interval=60.0)
    waits = [delay(feed, failures, 300.0).total_seconds() for failures in range(5)]
    assert waits == [60.0, 60.0, 120.0, 240.0, 300.0]
    slow = Feed("网", url="http://x/rss", interval=3600.0)
    assert delay(slow, 3, 300.0).total_seconds() == 3600.0  # never sooner than its interval
    assert delay(feed, 10_000, 300.0).total_seconds() == 300.0  # no overflow


def test_a_carried_folder_is_read_again_only_when_its_files_change(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="不存在"):
        read_folder(tmp_path / "usb", "")
    folder = tmp_path / "usb"
    folder.mkdir()
    (folder / "rss.xml").write_bytes((FEEDS / "rss.xml").read_bytes())
    (folder / "notes.txt").write_text("不是订阅文件", "utf-8")
    first = read_folder(folder, "")
    assert first is not None and [p.name for p in first[1]] == ["rss.xml"]
    assert read_folder(folder, first[0]) is None  # nothing carried in since
    (folder / "feed.json").write_bytes((FEEDS / "feed.json").read_bytes())
    second = read_folder(folder, first[0])
    assert second is not None and [p.name for p in second[1]] == ["feed.json", "rss.xml"]
    parsed = parse_file("U盘", folder / "feed.json", LIMIT)
    assert parsed.entries and parsed.refused
    with pytest.raises(FeedError, match="超过"):
        parse_file("U盘", folder / "rss.xml", 10)


async def test_an_external_dtd_is_never_fetched(feed_server: FeedServer) -> None:
    # no <!ENTITY here (that is refused outright): only a DOCTYPE pointing at a server
    body = (FEEDS / "rss.xml").read_bytes()
    declaration = f'<!DOCTYPE rss SYSTEM "{feed_server.url}/evil.dtd">\n'.encode()
    start = body.index(b"<rss")
    parsed = parse("某网", body[:start] + declaration + body[start:], "application/xml")
    assert parsed.entries  # read as usual
    assert feed_server.count("evil.dtd", 404) == 0  # and nothing was asked of the server
