"""Editorial checks: required fields block, advice never does, every number comes from data."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from schema.editorial import (
    EditorialRules,
    Finding,
    blocks,
    check,
    count_chars,
    default_rules,
    describe,
)
from schema.error import ConfigError
from schema.fixture import load_items
from schema.record import ItemDraft
from schema.vocabulary import Category, Classification, Urgency

ITEMS = {s.key: s.draft for s in load_items()}
PRACTICE = ITEMS["dt-xr-001"]  # 经验做法, 280 characters
FIRST_REPORT = ITEMS["dt-xr-003"]  # 突发事件 首报 with every incident field
FOLLOW_UP = ITEMS["dt-zy-002"]  # 续报一 naming its 首报


def codes(findings: list[Finding]) -> set[tuple[str, str, bool]]:
    return {(f.field, f.code, f.blocking) for f in findings}


def write_rules(tmp_path: Path, old: str, new: str) -> EditorialRules:
    text = resources.files("schema").joinpath("data/editorial.toml").read_text("utf-8")
    assert old in text
    path = tmp_path / "editorial.toml"
    path.write_text(text.replace(old, new), "utf-8")
    return EditorialRules.load(path)


def test_count_chars() -> None:
    assert count_chars("新荣区一天内为15名农民工追回欠薪38.6万元") == 19
    assert count_chars("增长 10%，达到1,847户。") == 9  # 增 长 10% ， 达 到 1,847 户 。
    assert count_chars("  煤改电\n\t　试点  ") == 5  # ASCII, newline, tab and U+3000 spaces
    assert count_chars("“煤改电”试点。") == 8
    assert count_chars("“煤改电”试点。", punctuation=False) == 5
    assert count_chars("") == 0


def test_fixture_items_have_no_blocking_findings() -> None:
    for key, draft in ITEMS.items():
        found = check(draft)
        assert not blocks(found), key
        assert all(f.code == "long" and f.field == "title" for f in found), (key, found)


def test_complete_items_have_no_findings() -> None:
    assert check(PRACTICE) == []
    assert check(FIRST_REPORT) == []
    assert check(FOLLOW_UP) == []


def test_required_fields_block() -> None:
    draft = replace(PRACTICE, title=" ", body="", author="")
    found = check(draft)
    assert codes(found) == {
        ("title", "required", True),
        ("body", "required", True),
        ("author", "required", True),
    }
    assert blocks(found)
    assert {f.message for f in found} == {"必须填写标题", "必须填写正文", "必须填写执笔人"}


def test_advised_fields_never_block() -> None:
    found = check(replace(PRACTICE, phone=""))
    assert codes(found) == {("phone", "advised", False)}
    assert not blocks(found)
    assert "联系电话" in found[0].message


def test_title_length() -> None:
    long_title = "新荣区多措并举保障困难群众温暖过冬并落实煤改电峰谷电价优惠政策确保安全"  # 35
    (finding,) = check(replace(PRACTICE, title=long_title))
    assert (finding.field, finding.code, finding.blocking) == ("title", "long", False)
    assert finding.message.startswith("标题 35 字，多于 30 字")
    (finding,) = check(replace(PRACTICE, title="取暖保障"))
    assert (finding.code, finding.blocking) == ("short", False)
    assert finding.message.startswith("标题 4 字，少于 8 字")
    assert check(replace(PRACTICE, title="新荣区" * 10)) == []  # exactly 30


def test_body_length_against_the_guidance() -> None:
    short = "新荣区发放取暖补贴215万元。"
    (finding,) = check(replace(PRACTICE, body=short))
    assert (finding.field, finding.code, finding.blocking) == ("body", "short", False)
    assert finding.message.startswith(f"正文 {count_chars(short)} 字，少于 150 字")
    assert "二三百字" in finding.message
    (finding,) = check(replace(PRACTICE, body=PRACTICE.body * 2))
    assert (finding.code, finding.blocking) == ("long", False)
    assert "二三百字" in finding.message and "压缩" in finding.message
    # Per category: a research item may run longer, a 首报 may be short.
    assert check(replace(PRACTICE, category=Category.RESEARCH, body=PRACTICE.body * 2)) == []
    first = replace(FIRST_REPORT, body=FIRST_REPORT.body[:100])
    assert 80 <= count_chars(first.body) < 150 and check(first) == []


def test_emergency_without_incident_fields_blocks() -> None:
    (finding,) = check(replace(FIRST_REPORT, incident=None))
    assert (finding.field, finding.code, finding.blocking) == ("incident", "incident.missing", True)
    assert "事件级别、事发时间、事发地点" in finding.message
    assert FIRST_REPORT.incident is not None
    no_place = replace(FIRST_REPORT, incident=replace(FIRST_REPORT.incident, place=""))
    assert codes(check(no_place)) == {("incident.place", "required", True)}


def test_incident_data_on_another_category_blocks() -> None:
    draft = replace(PRACTICE, incident=FIRST_REPORT.incident)
    (finding,) = check(draft)
    assert (finding.field, finding.code, finding.blocking) == (
        "incident",
        "incident.unexpected",
        True,
    )
    assert "经验做法" in finding.message


def test_missing_emergency_fields_are_advice() -> None:
    assert FIRST_REPORT.incident is not None
    bare = replace(
        FIRST_REPORT.incident,
        type="",
        learned_at=None,
        casualties="",
        loss="",
        cause="",
        measures="",
        leaders_on_site="",
    )
    found = check(replace(FIRST_REPORT, incident=bare))
    assert codes(found) == {
        (f"incident.{name}", "incident.advised", False)
        for name in (
            "type",
            "learned_at",
            "casualties",
            "loss",
            "cause",
            "measures",
            "leaders_on_site",
        )
    }
    assert not blocks(found)
    assert any("伤亡情况" in f.message and "正在核实" in f.message for f in found)


def test_follow_up_should_name_its_first_report() -> None:
    assert FOLLOW_UP.incident is not None
    found = check(replace(FOLLOW_UP, incident=replace(FOLLOW_UP.incident, thread="")))
    assert codes(found) == {("incident.thread", "incident.advised", False)}
    assert found[0].message.startswith("续报一应注明首报信息编号")
    assert FIRST_REPORT.incident is not None and FIRST_REPORT.incident.thread == ""


def test_emergency_urgency_and_times() -> None:
    found = check(replace(FIRST_REPORT, urgency=Urgency.ROUTINE))
    assert codes(found) == {("urgency", "incident.urgency", False)}
    assert "加急或特急" in found[0].message
    assert check(replace(FIRST_REPORT, urgency=Urgency.URGENT)) == []
    assert FIRST_REPORT.incident is not None
    early = FIRST_REPORT.incident.occurred_at - timedelta(hours=1)
    found = check(replace(FIRST_REPORT, incident=replace(FIRST_REPORT.incident, learned_at=early)))
    assert codes(found) == {("incident.learned_at", "incident.time", False)}


@pytest.mark.parametrize(
    ("title", "body", "field", "what"),
    [
        ("秘密★1年 " + PRACTICE.title, PRACTICE.body, "title", "密级标志“秘密★1年”"),
        (PRACTICE.title, "机密（10年）\n" + PRACTICE.body, "body", "密级标志“机密（10年）”"),
        ("【特急】" + PRACTICE.title, PRACTICE.body, "title", "紧急程度标志“【特急】”"),
        ("特急事项" + PRACTICE.title, PRACTICE.body, "title", None),  # a word, not a marking
        ("特急 " + PRACTICE.title, PRACTICE.body, "title", "紧急程度标志“特急”"),
        (PRACTICE.title, "份号：000123\n" + PRACTICE.body, "body", "份号“份号：000123”"),
    ],
)
def test_markings_in_the_text_are_advised_away(
    title: str, body: str, field: str, what: str | None
) -> None:
    found = check(replace(PRACTICE, title=title, body=body))
    if what is None:
        assert [f for f in found if f.code == "marking"] == []
        return
    (finding,) = [f for f in found if f.code == "marking"]
    assert (finding.field, finding.blocking) == (field, False)
    assert what in finding.message and "删去" in finding.message


def test_a_written_classification_above_the_items_own_is_pointed_out() -> None:
    draft = replace(PRACTICE, title="机密★10年 " + PRACTICE.title)
    assert draft.classification is Classification.PUBLIC
    (finding,) = check(draft)
    assert "高于本条密级“公开”" in finding.message and not finding.blocking
    same = replace(draft, classification=Classification.CONFIDENTIAL)
    (finding,) = check(same)
    assert "高于" not in finding.message


def test_ordinary_words_are_not_markings() -> None:
    body = "某企业反映商业秘密保护不力，内部管理存在漏洞，要求加急办理、特急事项优先。" * 5
    assert [f for f in check(replace(PRACTICE, body=body)) if f.code == "marking"] == []


def test_blocking_findings_come_first_and_describe() -> None:
    draft = replace(FIRST_REPORT, author="", urgency=Urgency.ROUTINE, title="透水")
    found = check(draft)
    assert [f.blocking for f in found] == [True, False, False]
    assert describe(found).splitlines()[0] == "✗ author：必须填写执笔人"
    assert describe(found).splitlines()[1].startswith("! ")


def test_numbers_come_from_the_rules_file(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, "max = 30 ", "max = 40 ")
    long_title = "新荣区" * 11  # 33
    assert check(replace(PRACTICE, title=long_title), rules) == []
    assert [f.code for f in check(replace(PRACTICE, title=long_title))] == ["long"]
    rules = write_rules(tmp_path, 'advised = ["phone"]', "advised = []")
    assert check(replace(PRACTICE, phone=""), rules) == []
    rules = write_rules(tmp_path, 'required = ["title", "body", "author"]', 'required = ["phone"]')
    assert codes(check(replace(PRACTICE, phone="", author=""), rules)) == {
        ("phone", "required", True)
    }
    rules = write_rules(tmp_path, "count_punctuation = true", "count_punctuation = false")
    body = "，".join(["新荣区发放补贴"] * 19) + "。"  # 133 characters and 19 marks
    assert check(replace(PRACTICE, body=body)) == []
    assert [f.code for f in check(replace(PRACTICE, body=body), rules)] == ["short"]


def test_bad_rules_name_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "editorial.toml"
    path.write_text(
        'required = ["title", "colour"]\n'
        "count_punctuation = 1\n"
        "[title]\nmin = 40\nmax = 30\n"
        '[body.category."杂谈"]\nmax = 10\n'
        '[incident]\nadvised = ["weather"]\nmin_urgency = "很急"\n'
        '[[marking]]\nwhat = "x"\npattern = "("\n',
        "utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        EditorialRules.load(path)
    problems = "\n".join(caught.value.problems)
    for needle in (
        "colour",
        "count_punctuation",
        "min（40）大于 max（30）",
        "杂谈",
        "weather",
        "很急",
        "正则",
    ):
        assert needle in problems
    path.write_text("[title\n", "utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        EditorialRules.load(path)


def test_shipped_rules() -> None:
    rules = default_rules()
    assert (rules.title.max, rules.body.min, rules.body.max) == (30, 150, 400)
    assert rules.body_band(Category.INCIDENT).min == 80
    assert rules.incident_required == ("severity", "occurred_at", "place")
    assert isinstance(PRACTICE, ItemDraft)
