"""Leads (schema/lead.py): entries kept once (guid, link, same story from another source),
keywords matched (own rules and the priorities held here), ranking, and a lead turned into a
draft item that follows the normal path."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from schema import desk as ops
from schema import lead as leads
from schema import outbox
from schema import request as requests
from schema.desk import signoff
from schema.error import TransitionError
from schema.lead import Entry
from schema.network import add_units
from tests.conftest import CITY, COUNTY, T0, carry, make_desk

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
            entry("人民日报", "a3", "大同根治欠薪专项行动启动", STORY),  # republished, new guid
        ],
        ["欠薪"],
        T0,
    )
    assert (len(again.kept), again.known, again.near) == (0, 2, 2)


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
    with pytest.raises(TransitionError, match="已写成信息"):
        leads.to_item(desk, kept.id)  # once
    with pytest.raises(TransitionError, match="已写成信息"):
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


def test_a_priorities_theme_gives_its_quoted_terms_and_parts_as_keywords() -> None:
    assert leads.theme_terms("冬季清洁取暖和“煤改电”运行保障") == [
        "冬季清洁取暖和煤改电运行保障",
        "煤改电",
        "冬季清洁取暖",
        "煤改电运行保障",
    ]
    assert "优化营商环境" in leads.theme_terms("深化“放管服”改革、优化营商环境")
    assert leads.theme_terms("根治欠薪冬季专项行动") == ["根治欠薪冬季专项行动"]


def test_priorities_arriving_from_above_become_keywords_and_re_rank_the_leads_held() -> None:
    city, county = make_desk(CITY), make_desk(COUNTY)
    add_units(city.store, [CITY, COUNTY])
    add_units(county.store, [CITY, COUNTY])
    older = Entry(
        "网", "a", "", "新荣区深化放管服改革：企业开办一天办结", "", T0 - timedelta(hours=30)
    )
    newer = Entry("网", "b", "", "今日天气晴", "", T0 - timedelta(hours=1))
    leads.add(county.store, [older, newer], leads.keywords(county.store, []), T0)
    assert [lead.title for lead in leads.ranked(county.store, T0)] == ["今日天气晴", older.title]
    notice = requests.parse_request(
        {
            "kind": "报送要点",
            "topic": "2026年第四季度报送要点",
            "guidance": "紧扣重点工作报送。",
            "targets": ["140212"],
            "deadline": "2026-12-31T18:00:00+08:00",
            "themes": ["深化“放管服”改革、优化营商环境"],
        }
    )
    ops.signoff_request(city, ops.compose_request(city, notice).id)
    carry(city, county)
    assert "放管服" in leads.keywords(county.store, ["欠薪"])
    first, second = leads.ranked(county.store, T0)
    assert (first.title, first.matched) == (older.title, ("放管服", "深化放管服改革"))
    assert second.matched == ()
    # a new entry is matched against them when kept
    (kept,) = leads.add(
        county.store,
        [Entry("网", "c", "", "优化营商环境座谈会召开", "", T0)],
        leads.keywords(county.store, []),
        T0,
    ).kept
    assert kept.matched == ("优化营商环境",)


def test_old_new_leads_drop_off_the_list_but_kept_ones_stay_and_a_search_finds_both() -> None:
    desk = make_desk(COUNTY)
    old = T0 - timedelta(days=30)
    first, second = leads.add(
        desk.store,
        [entry("网", "a", "上月欠薪旧闻"), entry("网", "b", "上月保留的欠薪线索")],
        [],
        old,
    ).kept
    leads.add(desk.store, [entry("网", "c", "今日新闻")], [], T0)
    leads.set_state(desk.store, second.id, leads.KEPT)
    assert [lead.title for lead in leads.ranked(desk.store, T0)] == ["今日新闻", second.title]
    found = {lead.title for lead in leads.ranked(desk.store, T0, match="欠薪")}
    assert found == {first.title, second.title}


def test_the_first_ranked_are_those_a_full_sort_would_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = make_desk(COUNTY)
    rng = random.Random(3)
    words = ["欠薪", "煤改电", "供暖"]
    batch = [
        Entry(
            "网",
            f"g{n}",
            "",
            f"第{n}条" + "".join(rng.sample([*words, "天气", "会议", "调研"], 2)),
            "",
            T0 - timedelta(hours=rng.randint(0, 300)),
        )
        for n in range(300)
    ]
    rules = replace(leads.LeadRules.load(), near_threshold=2.0)  # none counts as a duplicate
    leads.add(desk.store, batch, words[:2], T0, rules)  # 供暖 only by a priority (below)
    monkeypatch.setattr(leads, "themes_held", lambda _store: ["供暖"])  # a priority held
    every = leads.ranked(desk.store, T0, limit=1000)
    assert len(every) == 300 and any("供暖" in lead.matched for lead in every)
    for limit in (1, 20, 50):
        assert leads.ranked(desk.store, T0, limit=limit) == every[:limit]


def test_a_source_no_longer_configured_is_forgotten_but_its_leads_stay() -> None:
    desk = make_desk(COUNTY)
    leads.add(desk.store, [entry("旧网", "a", "旧网的线索")], [], T0)
    leads.note_failure(desk.store, "旧网", "服务器返回 503", T0)
    leads.note_read(desk.store, "大同日报", T0, T0, "", "")
    assert leads.forget_feeds(desk.store, ["大同日报"]) == 1
    assert [state.source for state in leads.feed_states(desk.store)] == ["大同日报"]
    assert [lead.title for lead in leads.ranked(desk.store, T0)] == ["旧网的线索"]
    assert leads.forget_feeds(desk.store, []) == 1
