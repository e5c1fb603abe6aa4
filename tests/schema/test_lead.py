"""Leads (schema/lead.py): entries kept once (guid, link, same story from another source),
keywords matched (own rules and the priorities held here), ranking, and a lead turned into a
draft item that follows the normal path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schema import lead as leads
from schema import outbox
from schema.desk import signoff
from schema.error import ValidationError
from schema.lead import Entry
from tests.conftest import COUNTY, T0, make_desk

STORY = "大同市出台根治欠薪冬季专项行动方案，明确12月底前完成在建工程项目欠薪线索排查。"


def entry(source: str, guid: str, title: str, summary: str = "", link: str = "") -> Entry:
    return Entry(source, guid, link, title, summary, T0 - timedelta(hours=1))


def test_an_entry_is_kept_once_and_the_same_story_from_another_source_too() -> None:
    desk = make_desk(COUNTY)
    first = leads.add(
        desk.store,
        [
            entry("人民日报", "a1", "大同根治欠薪冬季专项行动启动", STORY, "https://x/a1"),
            entry("人民日报", "a2", "新荣区秸秆综合利用率达92%", "全区秸秆综合利用率达到92%。"),
        ],
        ["欠薪", "煤改电"],
        T0,
    )
    assert [lead.matched for lead in first.kept] == [("欠薪",), ()]
    again = leads.add(
        desk.store,
        [
            entry("人民日报", "a1", "大同根治欠薪冬季专项行动启动", STORY),  # same guid
            entry("新华社", "b9", "转载", "转载", "https://x/a1"),  # same link
            entry("新华社", "b1", "大同启动根治欠薪冬季行动", STORY),  # same story
        ],
        ["欠薪"],
        T0,
    )
    assert (len(again.kept), again.known, again.near) == (0, 2, 1)


def test_hostile_sizes_are_refused_per_entry() -> None:
    desk = make_desk(COUNTY)
    done = leads.add(
        desk.store,
        [entry("某网", "x", ""), entry("某网", "y", "长" * 500), entry("某网", "z", "正常标题")],
        [],
        T0,
    )
    assert [lead.title for lead in done.kept] == ["正常标题"]
    assert [why for _, why in done.refused] == ["条目没有标题", "标题超过 200 字"]


def test_ranked_by_matched_priorities_then_recency_and_filtered() -> None:
    desk = make_desk(COUNTY)
    leads.add(
        desk.store,
        [
            Entry("网", "old", "", "昨日煤改电用户补贴", "煤改电", T0 - timedelta(hours=20)),
            Entry("网", "new", "", "今日天气晴", "", T0 - timedelta(hours=1)),
        ],
        ["煤改电"],
        T0,
    )
    titles = [lead.title for lead in leads.ranked(desk.store, T0)]
    assert titles == ["昨日煤改电用户补贴", "今日天气晴"]  # 24 h per keyword beats 19 h of age
    assert [lead.title for lead in leads.ranked(desk.store, T0, match="天气")] == ["今日天气晴"]


def test_a_lead_becomes_a_draft_item_citing_its_source_and_is_signed_off() -> None:
    desk = make_desk(COUNTY)
    (kept,) = leads.add(
        desk.store, [entry("人民日报", "a1", "大同根治欠薪", STORY, "https://x/a1")], [], T0
    ).kept
    item = leads.to_item(desk, kept.id)
    assert item.draft.title == "大同根治欠薪"
    assert item.draft.body.endswith("（线索来源：人民日报，https://x/a1）")
    assert leads.get(desk.store, kept.id).state == leads.DRAFTED
    with pytest.raises(ValidationError):
        leads.to_item(desk, kept.id)  # once
    with pytest.raises(ValidationError):
        leads.set_state(desk.store, kept.id, leads.DISMISSED)
    assert not outbox.pending(desk.store)  # a lead never leaves by itself
    signoff(desk, item.id)  # the normal path from here
    assert [q.record.id for q in outbox.pending(desk.store)] == [item.id]


def test_dismiss_and_keep() -> None:
    desk = make_desk(COUNTY)
    (kept,) = leads.add(desk.store, [entry("网", "a", "标题")], [], T0).kept
    leads.set_state(desk.store, kept.id, leads.DISMISSED)
    assert leads.ranked(desk.store, T0) == []
    assert leads.set_state(desk.store, kept.id, leads.KEPT).state == leads.KEPT
