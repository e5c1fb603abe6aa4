"""Item files: valid ones parse; bad ones are refused with the field named and nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schema.desk import Desk, submit
from schema.error import ValidationError
from schema.itemfile import draft_to_dict, parse_item, read_item_file
from schema.store import Store
from schema.vocabulary import Classification, Severity, Urgency

GOOD = """\
title = "新荣区多措并举保障困难群众温暖过冬"
category = "经验做法"
urgency = "加急"
classification = "内部"
author = "张三"
phone = "0352-1234567"
body = "入冬以来……"
to = ["140200"]
"""

INCIDENT = """\
title = "新荣区某煤矿发生透水事故"
category = "突发事件"
urgency = "特急"
author = "张三"
body = "……"
[incident]
severity = "较大"
occurred_at = 2026-11-21T14:35:00+08:00
place = "新荣区某煤矿"
"""


def test_valid_toml_and_json_files_parse(tmp_path: Path) -> None:
    path = tmp_path / "item.toml"
    path.write_text(GOOD, "utf-8")
    draft = read_item_file(path)
    assert draft.urgency is Urgency.URGENT and draft.to == ("140200",)
    as_json = tmp_path / "item.json"
    import json

    as_json.write_text(json.dumps(draft_to_dict(draft), ensure_ascii=False), "utf-8")
    assert read_item_file(as_json) == draft


def test_incident_fields_parse_with_toml_datetimes(tmp_path: Path) -> None:
    path = tmp_path / "incident.toml"
    path.write_text(INCIDENT, "utf-8")
    draft = read_item_file(path)
    assert draft.incident is not None
    assert draft.incident.severity is Severity.SERIOUS
    assert draft.incident.occurred_at.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert draft.classification is Classification.INTERNAL  # the default marking


BAD: list[tuple[str, str, str]] = [
    (
        "wrong type",
        GOOD.replace('title = "新荣区多措并举保障困难群众温暖过冬"', "title = 42"),
        "title",
    ),
    ("unknown category", GOOD.replace("经验做法", "花边新闻"), "category"),
    ("top secret", GOOD.replace('"内部"', '"绝密"'), "classification"),
    ("unknown key", GOOD + 'colour = "红"\n', "colour"),
    ("missing body", GOOD.replace('body = "入冬以来……"\n', ""), "body"),
    ("bad recipient", GOOD.replace('["140200"]', '["大同市"]'), "to"),
    ("incident without fields", INCIDENT.split("[incident]")[0], "incident"),
    ("incident missing place", INCIDENT.replace('place = "新荣区某煤矿"\n', ""), "incident.place"),
    (
        "incident bad time",
        INCIDENT.replace("2026-11-21T14:35:00+08:00", '"昨天下午"'),
        "incident.occurred_at",
    ),
    (
        "incident on a non-emergency",
        GOOD + "[incident]\n" + INCIDENT.split("[incident]\n")[1],
        "incident",
    ),
    ("not TOML at all", "这不是一个 TOML 文件 = = =\n", ""),
]


@pytest.mark.parametrize(("case", "text", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_item_files_name_the_field_and_store_nothing(
    case: str,
    text: str,
    field: str,
    tmp_path: Path,
    county: Desk,
    tables: Callable[[Store], dict[str, Any]],
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    before = tables(county.store)
    with pytest.raises(ValidationError) as info:
        submit(county, read_item_file(path))
    assert info.value.field == field
    if field:
        assert field in str(info.value)
    assert tables(county.store) == before


def test_bad_json_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "item.json"
    path.write_text('{"title": "x",\n "category": }', "utf-8")
    with pytest.raises(ValidationError, match="JSON（第 2 行"):
        read_item_file(path)


def test_missing_title_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        parse_item({"category": "工作动态", "body": "……", "author": "张三"})
    assert info.value.field == "title"


def test_every_problem_of_a_file_is_reported_at_once(
    tmp_path: Path, county: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    """The CLI, like the console's form, names every problem of an item file, not only the
    first: a missing title, a bad urgency, an unknown key, a missing incident field."""
    from schema.itemfile import ItemProblems

    path = tmp_path / "bad.toml"
    text = INCIDENT.replace('title = "新荣区某煤矿发生透水事故"\n', "")
    text = text.replace('"特急"', '"十万火急"').replace('place = "新荣区某煤矿"\n', "")
    path.write_text('weather = "晴"\n' + text, "utf-8")
    before = tables(county.store)
    with pytest.raises(ItemProblems) as info:
        submit(county, read_item_file(path))
    fields = [field for field, _ in info.value.problems]
    assert set(fields) == {"weather", "title", "urgency", "incident.place"}, fields
    message = str(info.value)
    assert message.startswith("共 4 处问题：")
    assert all(f"字段 {field}：" in message for field in fields)
    assert info.value.field == fields[0]  # still a ValidationError naming the first
    assert tables(county.store) == before
    # one problem reads as before: one line
    path.write_text(GOOD.replace('"加急"', '"十万火急"'), "utf-8")
    with pytest.raises(ValidationError) as one:
        read_item_file(path)
    assert "\n" not in str(one.value) and str(one.value).startswith("字段 urgency：")
