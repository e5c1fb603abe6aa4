"""People and sections (schema/people.py): the city ranks the writers of what it received and
its own sections by the bulletin's rules; names are matched to each unit's 通讯录; co-writers
share; tasks per writer (roster) and per section (xinbao section) give shortfalls."""

from __future__ import annotations

from fractions import Fraction

import pytest

from schema import bulletin, people
from schema.desk import (
    adopt,
    instruct,
    set_roster,
    signoff,
    signoff_issue,
    submit,
)
from schema.error import NotFound, ValidationError
from schema.roster import Person
from schema.vocabulary import Level
from tests.conftest import draft
from tests.schema.test_bulletin import carry, desks


def sent(county, city, title: str, author: str) -> str:  # type: ignore[no-untyped-def]
    item = submit(county, draft(title=title, author=author))
    signoff(county, item.id)
    carry(county, city)
    return item.id


def test_names_of_an_author_field() -> None:
    assert people.names("张三、李四（区政府办）") == ["张三", "李四"]
    assert people.names(" 王五 ，赵六;孙七 ") == ["王五", "赵六", "孙七"]
    assert people.names("") == []


def test_writers_are_credited_by_the_bulletin_s_rules() -> None:
    """大同 rules: 每日要情 3, 专报 10, a city instruction on a 专报 item 40. 李晓红 wrote two
    items (one with 王刚): 3 + (10 + 40) / 2 = 28; 王刚 25; 赵敏 of 平城区 0 from 1 sent."""
    clock, city, d = desks()
    xr, pc = d["140212"], d["140213"]
    leader = Person("分管领导", "张建国", mobile="13900000101")
    set_roster(xr, [leader, Person("信息员", "李晓红", mobile="13900000102", per_month=4)])
    carry(xr, city)
    a = sent(xr, city, "新荣区煤改电运行平稳", "李晓红")
    b = sent(xr, city, "新荣区追回欠薪", "李晓红、王刚（新荣区政府办）")
    sent(pc, city, "平城区推进项目审批", "赵敏")
    adopt(city, a, "每日要情/1")
    signoff_issue(city, "每日要情/1")
    adopt(city, b, "专报/1")
    signoff_issue(city, "专报/1")
    instruct(city, b, "市长张某某", Level.CITY, "很好。")
    writers, _ = people.tables(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    rows = {(r.unit, r.name): r for r in writers}
    li, wang, zhao = rows["140212", "李晓红"], rows["140212", "王刚"], rows["140213", "赵敏"]
    assert [r.name for r in writers[:3]] == ["李晓红", "王刚", "赵敏"]  # ranked by points
    assert (li.points, wang.points, zhao.points) == (Fraction(28), Fraction(25), Fraction(0))
    assert (li.submitted, li.adopted, li.adopted_items, li.instructions) == (
        2,
        {"市级": 2},
        2,
        1,
    )
    assert li.rate_text == "100.0%" and zhao.rate_text == "0.0%"
    assert li.listed and not wang.listed  # 王刚 is not in 新荣区's 通讯录
    assert zhao.listed  # 平城区 keeps no roster here: nothing to match against
    assert (li.required, li.shortfall) == (4, 2)  # 4 a month, 2 sent
    text = people.to_markdown(writers, "执笔人排名")
    assert "| 1 | 李晓红 | 新荣区 | 28 | 2 | 0 | 0 | 2 | 0 | 100.0% | 1 | 4（差2） |" in text
    assert "王刚（未在通讯录）" in text
    # a year's view: the same rows for 2026 (先进个人 are chosen from it)
    year, _ = people.tables(city.store, "140200", "2026", clock(), bulletin.load_rules())
    assert year[0].name == "李晓红" and year[0].required == 48


def test_sections_of_the_office_rank_its_own_items() -> None:
    """The city's own items, each naming its section (or its writer's in the roster): the
    section's submissions against its task, and what the leaders made of them."""
    clock, city, _ = desks()
    people.add_section(city.store, "综合科", per_month=3)
    people.add_section(city.store, "督查科", per_month=2)
    set_roster(
        city,
        [Person("信息员", "周文", mobile="13900000501", section="督查科", per_month=2)],
    )
    with pytest.raises(ValidationError, match="没有科室“秘书科”"):
        submit(city, draft(title="市政府办推进冬季供暖", section="秘书科"))
    first = submit(city, draft(title="全市冬季供暖平稳", section="综合科", author="钱多"))
    signoff(city, first.id)
    second = submit(city, draft(title="督查发现问题整改", author="周文"))  # 督查科 by roster
    signoff(city, second.id)
    instruct(city, second.id, "市长张某某", Level.CITY, "抓好整改。")
    _, parts = people.tables(
        city.store, "140200", "2026-11", clock(), bulletin.load_rules("datong-city")
    )
    rows = {r.name: r for r in parts}
    assert (rows["综合科"].submitted, rows["综合科"].shortfall) == (1, 2)
    assert (rows["督查科"].submitted, rows["督查科"].instructions) == (1, 1)
    assert rows["督查科"].points == 30  # a city instruction, no publication known
    assert [r.name for r in parts] == ["督查科", "综合科"]
    people.remove_section(city.store, "督查科")
    with pytest.raises(NotFound):
        people.remove_section(city.store, "督查科")
    assert people.sections(city.store) == {"综合科": 3}
