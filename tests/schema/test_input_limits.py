"""Desk input limits (schema/limit.py, schema/data/input.toml): a file too large, too deep or
with too many keys is refused before it is parsed, in one line naming it; a text too long or
holding a control character is refused naming its field — from a file, a form or another
node alike — and nothing is stored."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schema import outbox
from schema import request as requests
from schema.attachment import Attachments
from schema.desk import Desk, compose_request, signoff, signoff_request, submit
from schema.error import ConfigError, ValidationError
from schema.fixture import load_items, load_requests
from schema.inbound import apply
from schema.itemfile import draft_to_dict, load_mapping, parse_item, read_item_file
from schema.limit import (
    InputLimits,
    check_document,
    read_bounded,
    scan_json,
    scan_toml,
    shipped_limits,
)
from schema.network import add_units
from schema.record import Record
from schema.store import Store
from tests.conftest import COUNTY, draft

LIMITS = shipped_limits()
ITEM: dict[str, Any] = {
    "title": "新荣区追回农民工欠薪38.6万元",
    "category": "工作动态",
    "author": "张三",
    "phone": "0352-1234567",
    "body": "新荣区根治欠薪专班一天内为15名农民工追回欠薪38.6万元。",
}
INCIDENT: dict[str, Any] = {
    **ITEM,
    "category": "突发事件",
    "incident": {
        "severity": "较大",
        "occurred_at": "2026-11-21T14:35:00+08:00",
        "place": "新荣区某煤矿",
    },
}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, "utf-8")
    return path


def refused(call: Callable[[], object]) -> ValidationError:
    """The ValidationError ``call`` raises, checked to be one line (a traceback never is)."""
    with pytest.raises(ValidationError) as info:
        call()
    assert "\n" not in str(info.value)
    return info.value


# -- the shipped limits ---------------------------------------------------------------------------


def test_the_shipped_limits_are_those_documented() -> None:
    assert LIMITS.max_bytes == 1 << 20
    assert (LIMITS.max_depth, LIMITS.max_entries) == (8, 1000)
    assert (LIMITS.chars_of("title"), LIMITS.chars_of("body")) == (200, 20000)
    assert LIMITS.chars_of("incident.place") == 200
    assert LIMITS.chars_of("request") == LIMITS.line_chars == 200  # any other one-line field
    assert LIMITS.is_multi_line("body") and not LIMITS.is_multi_line("title")


def test_an_office_file_changes_the_limits_and_a_bad_one_names_its_key(tmp_path: Path) -> None:
    shipped = (Path(__file__).parents[2] / "schema/data/input.toml").read_text("utf-8")
    strict = write(tmp_path, "input.toml", shipped.replace("title = 200", "title = 10"))
    limits = InputLimits.load(strict)
    assert limits.chars_of("title") == 10
    error = refused(lambda: parse_item(ITEM, limits=limits))
    assert error.field == "title" and "上限 10 字" in str(error)
    bad = write(tmp_path, "bad.toml", shipped.replace("max_depth = 8", "max_depth = -1"))
    with pytest.raises(ConfigError, match="max_depth 应为正整数"):
        InputLimits.load(bad)


def test_every_fixture_item_and_request_passes_as_a_file(tmp_path: Path) -> None:
    for n, sample in enumerate(load_items()):
        content = draft_to_dict(sample.draft)
        for name, text in (
            (f"{n}.toml", tomli_w.dumps(content)),
            (f"{n}.json", json.dumps(content, ensure_ascii=False)),
        ):
            assert read_item_file(write(tmp_path, name, text)) == sample.draft
    for n, raw in enumerate(load_requests()):
        path = write(tmp_path, f"r{n}.toml", tomli_w.dumps(raw))
        assert requests.read_request_file(path) == requests.parse_request(raw)


# -- a file, before it is parsed ------------------------------------------------------------------


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither parser may be called: the file is refused before it is parsed."""

    def parse(text: str) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr(tomllib, "loads", parse)
    monkeypatch.setattr(json, "loads", parse)


@pytest.mark.usefixtures("no_parsing")
def test_an_oversized_file_is_refused_unread_naming_it_and_its_size(tmp_path: Path) -> None:
    path = write(tmp_path, "item.toml", b"#" * (12 << 20))
    error = refused(lambda: read_item_file(path))
    assert str(error) == "item.toml：文件过大（12.0 MB，上限 1 MB）"


def test_a_file_just_over_the_limit_shows_bytes_not_two_equal_sizes(tmp_path: Path) -> None:
    path = write(tmp_path, "item.json", b" " * (LIMITS.max_bytes + 1))
    error = refused(lambda: read_item_file(path))
    assert str(error) == "item.json：文件过大（1048577 字节，上限 1048576 字节）"


def test_a_stream_longer_than_its_size_says_is_cut_off_at_the_limit() -> None:
    zero = Path("/dev/zero")  # stat says 0 bytes; reading never ends (always there on Linux)
    assert zero.is_char_device()
    error = refused(lambda: read_bounded(zero, LIMITS))
    assert str(error) == "zero：文件过大（超过上限 1 MB）"


@pytest.mark.usefixtures("no_parsing")
def test_three_hundred_thousand_tables_are_refused_by_their_size(tmp_path: Path) -> None:
    text = "".join(f"[t{n}]\n" for n in range(300_000))
    error = refused(lambda: read_item_file(write(tmp_path, "item.toml", text)))
    assert str(error) == f"item.toml：文件过大（{len(text) / (1 << 20):.1f} MB，上限 1 MB）"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("item.json", '{"title": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("item.json", '{"a": ' * 50_000 + "1" + "}" * 50_000),
        ("item.toml", "title = " + "[" * 100_000 + "]" * 100_000),
        ("item.toml", "title = " + "{a = " * 50_000 + "1" + "}" * 50_000),
        ("item.toml", "a" + ".a" * 200_000 + " = 1"),  # tomllib is quadratic in the dots
        ("item.toml", "[" + "a." * 200_000 + "a]\n"),
        ("item.toml", "[[" + "a." * 8 + "a]]\n"),
        ("item.toml", "[a.b.c]\nx.y.z.w.v.u = 1"),  # tables of levels 2–4, then 5–9
    ],
    ids=["json-arrays", "json-objects", "toml-arrays", "toml-inline", "dotted-key", "header",
         "array-of-tables", "header-and-dots"],
)  # fmt: skip
@pytest.mark.usefixtures("no_parsing")
def test_deep_nesting_is_refused_before_parsing(tmp_path: Path, name: str, text: str) -> None:
    error = refused(lambda: read_item_file(write(tmp_path, name, text)))
    assert str(error) == f"{name}：嵌套过深（超过 8 层）"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("item.toml", "".join(f"k{n} = 1\n" for n in range(1001))),
        ("item.toml", "".join(f"[t{n}]\n" for n in range(1001))),
        ("item.toml", "to = [" + '"140200",' * 1001 + "]"),
        ("item.json", json.dumps({f"k{n}": 1 for n in range(1001)})),
        ("item.json", json.dumps({"to": ["140200"] * 1002})),
    ],
    ids=["toml-keys", "toml-tables", "toml-list", "json-keys", "json-list"],
)
@pytest.mark.usefixtures("no_parsing")
def test_too_many_keys_or_entries_are_refused_before_parsing(
    tmp_path: Path, name: str, text: str
) -> None:
    error = refused(lambda: read_item_file(write(tmp_path, name, text)))
    assert str(error) == f"{name}：字段和列表项过多（超过 1000 个）"


@pytest.mark.parametrize("name", ["item.toml", "item.json"])
def test_a_parser_recursing_too_deep_is_refused_in_one_line_should_a_scan_miss_it(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.itemfile.scan_toml", lambda *args: None)
    monkeypatch.setattr("schema.itemfile.scan_json", lambda *args: None)
    text = "[" * 100_000 + "]" * 100_000
    text = f'{{"a": {text}}}' if name.endswith(".json") else f"a = {text}"
    error = refused(lambda: read_item_file(write(tmp_path, name, text)))
    assert str(error) == f"{name}：嵌套过深（超过 8 层）"


@pytest.mark.parametrize("name", ["item.toml", "item.json"])
def test_a_number_too_long_to_convert_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    digits = "1" * 5000  # Python converts at most 4300 digits (a ValueError, not a parse error)
    text = f'{{"points": {digits}}}' if name.endswith(".json") else f"points = {digits}"
    error = refused(lambda: read_item_file(write(tmp_path, name, text)))
    assert "数字位数过多" in str(error)


def test_garbage_is_refused_quickly_however_many_tokens_it_has(tmp_path: Path) -> None:
    error = refused(lambda: read_item_file(write(tmp_path, "item.toml", '"' * 900_000)))
    assert str(error).startswith("item.toml：结构过于繁杂")


# -- every text of a document ---------------------------------------------------------------------

ONE_LINE_CASES = [
    ("\x00", "不能包含控制字符（U+0000）"),
    ("\x07", "不能包含控制字符（U+0007）"),
    ("\t", "不能包含控制字符（U+0009）"),
    ("\x7f", "不能包含控制字符（U+007F）"),
    ("\x85", "不能包含控制字符（U+0085）"),
    ("\n", "不能换行（应为一行文字，U+000A）"),
    ("\r", "不能换行（应为一行文字，U+000D）"),
    ("\u2028", "不能换行（应为一行文字，U+2028）"),
    ("\u2029", "不能换行（应为一行文字，U+2029）"),
    ("\u202e", "不能包含双向文字控制符（U+202E）"),
    ("\u202a", "不能包含双向文字控制符（U+202A）"),
    ("\u2066", "不能包含双向文字控制符（U+2066）"),
    ("\u2069", "不能包含双向文字控制符（U+2069）"),
    ("\ud800", "含有无效字符（U+D800，不成对的代理码位）"),
]


@pytest.mark.parametrize(("char", "reason"), ONE_LINE_CASES)
@pytest.mark.parametrize("field", ["title", "author", "phone", "request", "incident.place"])
def test_a_one_line_field_holds_no_control_character(field: str, char: str, reason: str) -> None:
    data = json.loads(json.dumps(INCIDENT))
    if field.startswith("incident."):
        data["incident"]["place"] += char + "某处"
    else:
        data[field] = "新荣区" + char + "某处"
    error = refused(lambda: parse_item(data))
    assert error.field == field
    assert str(error) == f"字段 {field}：{reason}"


@pytest.mark.parametrize(
    ("char", "reason"),
    [(c, r) for c, r in ONE_LINE_CASES if c not in "\t\n\r\u2028\u2029"]
    + [("\x0b", "不能包含控制字符（U+000B）"), ("\r", "不能包含控制字符（U+000D）")],
)
def test_a_multi_line_field_holds_line_breaks_and_tabs_but_no_other_control(
    char: str, reason: str
) -> None:
    body = "第一段。\n\t第二段，\u2028第三段。"
    assert parse_item({**ITEM, "body": body}).body == body
    error = refused(lambda: parse_item({**ITEM, "body": f"第一段{char}第二段"}))
    assert (error.field, error.reason) == ("body", reason)


def test_crlf_in_a_multi_line_field_is_read_as_a_line_break_and_nowhere_else() -> None:
    assert parse_item({**ITEM, "body": "第一段。\r\n第二段。"}).body == "第一段。\n第二段。"
    error = refused(lambda: parse_item({**ITEM, "title": "新荣区\r\n追回欠薪"}))
    assert error.field == "title"


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("to", {**ITEM, "to": ["140200", "1402\x0000"]}),
        ("themes", {**ITEM, "themes": ["清洁取暖\u202e"]}),
        ("attachments.name", {**ITEM, "attachments": [{"name": "a\x00", "sha256": "", "size": 1}]}),
        ("category", {**ITEM, "category": "工作动态\x00"}),
        ("urgency", {**ITEM, "urgency": "特急\n"}),
        ("incident.cause", {**INCIDENT, "incident": {**INCIDENT["incident"], "cause": "x\x1b"}}),
    ],
)
def test_every_text_of_the_document_is_checked_lists_included(
    field: str, data: dict[str, Any]
) -> None:
    assert refused(lambda: parse_item(data)).field == field


def test_a_key_with_a_control_character_is_named_without_it() -> None:
    error = refused(lambda: parse_item({**ITEM, "ti\x00tle\n": "x"}))
    assert str(error) == "字段 ti\\u0000tle\\u000a：字段名不能包含控制字符（U+0000）"


@pytest.mark.parametrize(
    ("field", "limit"),
    [("title", 200), ("author", 100), ("phone", 50), ("request", 200), ("body", 20000)],
)
def test_each_field_has_its_length_limit(field: str, limit: int) -> None:
    assert getattr(parse_item({**ITEM, field: "字" * limit}), field) == "字" * limit
    error = refused(lambda: parse_item({**ITEM, field: "字" * (limit + 1)}))
    assert str(error) == f"字段 {field}：过长（{limit + 1} 字，上限 {limit} 字）"


def test_a_ten_megabyte_body_is_refused_by_its_length() -> None:
    error = refused(lambda: parse_item({**ITEM, "body": "字" * (10 << 20)}))
    assert str(error) == f"字段 body：过长（{10 << 20} 字，上限 20000 字）"


def test_a_document_too_deep_or_too_wide_is_refused_without_a_file() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(10_000):  # deeper than Python's recursion limit: the walk stops at 9
        inner["x"] = {}
        inner = inner["x"]
    error = refused(lambda: parse_item({**ITEM, "incident": deep}))
    assert error.reason == "嵌套过深（上限 8 层）"
    error = refused(lambda: parse_item({**ITEM, "to": ["140200"] * 1_000_000}))
    assert (error.field, error.reason) == ("to", "字段和列表项过多（上限 1000 个）")
    error = refused(lambda: parse_item(["not", "a", "table"]))  # type: ignore[arg-type]
    assert "应为键值表" in str(error)


def test_a_file_with_a_bad_text_is_refused_before_any_attachment_is_copied(
    tmp_path: Path,
) -> None:
    write(tmp_path, "照片.jpg", b"jpeg")
    folder = tmp_path / "attachments"
    path = write(
        tmp_path,
        "item.toml",
        tomli_w.dumps({**ITEM, "attachments": ["照片.jpg", "a\u202egpj.exe"]}),
    )
    error = refused(lambda: read_item_file(path, Attachments(folder)))
    assert error.field == "attachments"
    assert not folder.exists() or not any(folder.rglob("*"))


def test_what_the_store_holds_is_read_back_trusted() -> None:
    # Checked when it came in; an office lowering a limit must not make it unreadable.
    long = {**ITEM, "body": "字" * 30_000}
    assert parse_item(long, trusted=True).body == "字" * 30_000
    refused(lambda: parse_item(long))
    request = {**_request_fields(), "targets": ["140212"], "topic": "清洁取暖\t情况"}
    assert requests.parse_request(request, trusted=True).topic == "清洁取暖\t情况"
    assert refused(lambda: requests.parse_request(request)).field == "topic"


# -- request files and records from other nodes -----------------------------------------------

REQUEST = """\
topic = "冬季清洁取暖运行保障情况"
guidance = "请报送供暖季开始后清洁取暖设施运行情况。\\n重点写明问题和建议。"
targets = ["140212"]
deadline = 2026-12-01T18:00:00+08:00
"""


def test_a_request_file_meets_the_same_limits(tmp_path: Path) -> None:
    good = requests.read_request_file(write(tmp_path, "r.toml", REQUEST))
    assert "\n" in good.guidance
    nul = REQUEST.replace("运行保障情况", "运行\\u0000保障情况")
    error = refused(lambda: requests.read_request_file(write(tmp_path, "r.toml", nul)))
    assert str(error) == "字段 topic：不能包含控制字符（U+0000）"
    deep = REQUEST + "points = " + "[" * 50_000 + "]" * 50_000 + "\n"
    error = refused(lambda: requests.read_request_file(write(tmp_path, "r.toml", deep)))
    assert str(error) == "r.toml：嵌套过深（超过 8 层）"
    big = write(tmp_path, "big.json", b" " * (2 << 20))
    assert str(refused(lambda: requests.read_request_file(big))).startswith("big.json：文件过大")


def test_an_item_from_another_node_with_a_nul_in_its_title_is_refused(
    county: Desk, city: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    item = submit(county, draft())
    signoff(county, item.id)
    (queued,) = outbox.pending(county.store)
    payload = json.loads(json.dumps(queued.record.payload))
    payload["item"]["content"]["title"] = "新荣区\x00追回欠薪"
    hostile = replace(queued.record, payload=payload)
    before = tables(city.store)
    error = refused(lambda: apply(city.store, hostile, city.node.id, city.clock))
    assert str(error) == "字段 title：不能包含控制字符（U+0000）"
    assert tables(city.store) == before
    payload["item"]["content"]["body"] = "字" * (10 << 20)
    payload["item"]["content"]["title"] = "新荣区追回欠薪"
    error = refused(lambda: apply(city.store, replace(hostile, payload=payload), city.node.id))
    assert error.field == "body"
    assert tables(city.store) == before
    assert apply(city.store, queued.record, city.node.id).outcome.value == "applied"


def test_a_request_from_another_node_with_a_bidi_override_is_refused(
    city: Desk, county: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    add_units(city.store, [city.node, county.node])
    add_units(county.store, [city.node, county.node])
    made = compose_request(
        city, requests.parse_request({**_request_fields(), "targets": [COUNTY.id]})
    )
    signoff_request(city, made.id)
    (queued,) = outbox.pending(city.store)
    record: Record = queued.record
    payload = json.loads(json.dumps(record.payload))
    payload["body"]["topic"] = "清洁取暖\u202e情况"
    before = tables(county.store)
    error = refused(lambda: apply(county.store, replace(record, payload=payload), county.node.id))
    assert str(error) == "字段 topic：不能包含双向文字控制符（U+202E）"
    assert tables(county.store) == before


def _request_fields() -> dict[str, Any]:
    return {
        "topic": "冬季清洁取暖运行保障情况",
        "guidance": "请报送供暖季开始后清洁取暖设施运行情况。",
        "deadline": "2026-12-01T18:00:00+08:00",
    }


# -- the scans never refuse what the limits allow -------------------------------------------------

SMALL = replace(LIMITS, max_depth=4, max_entries=30)
KEYS = st.text(st.sampled_from("ab.[]{}=,#\"' 标"), min_size=1, max_size=4)
TEXTS = st.text(st.sampled_from("ab.[]{}=,#\"'\\\n 标\t"), max_size=8)
SCALARS = st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), TEXTS, st.booleans())
DOCUMENTS = st.dictionaries(
    KEYS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=25,
    ),
    max_size=6,
)


def _refuses(call: Callable[[], object]) -> bool:
    try:
        call()
    except ValidationError:
        return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS, multiline=st.booleans())
def test_a_scan_refuses_only_what_the_walk_after_parsing_refuses(
    document: dict[str, Any], multiline: bool
) -> None:
    as_toml = tomli_w.dumps(document, multiline_strings=multiline)
    assume(tomllib.loads(as_toml) == document)
    as_json = json.dumps(document, ensure_ascii=False, indent=1)
    walk = _refuses(lambda: check_document(document, SMALL, texts=False))
    assert not _refuses(lambda: scan_toml(as_toml, "x", SMALL)) or walk, as_toml
    assert not _refuses(lambda: scan_json(as_json, "x", SMALL)) or walk, as_json


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("a.b.c = 1", 3),
        ("[a.b.c]\nx = 1", 4),
        ("[[a.b]]\nx = 1", 4),
        ("x = {a = {b = {c = 1}}}", 4),
        ("x = {a.b.c = 1}", 4),
        ("x = [[[1]]]", 4),
        ("x = [{a = [{b = 1}]}]", 5),
        ("[a]\nb.c = [{d = 1}]", 5),
        ("x = [\n 1,\n 2, # ]]]]]]]]]]\n [3],\n]", 3),
        (
            's = """ [[[[[[ {{{{ a.b.c.d = 1 """\nt = \'\'\'[[[[[\'\'\'\n# [[[[\n"q.u" = [1]',
            2,
        ),
        ('s = """a""""\nx = [1.5, 1979-05-27T07:32:00.999+08:00]', 2),
    ],
)
def test_a_toml_scan_counts_depth_as_parsing_makes_it(text: str, depth: int) -> None:
    """Brackets in strings and comments are not counted; dots in keys and headers are."""
    at, below = replace(LIMITS, max_depth=depth), replace(LIMITS, max_depth=depth - 1)
    scan_toml(text, "x", at)
    check_document(tomllib.loads(text), at, texts=False)
    assert _refuses(lambda: scan_toml(text, "x", below))
    assert _refuses(lambda: check_document(tomllib.loads(text), below, texts=False))


def test_load_mapping_checks_texts_and_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "item.json", json.dumps({**ITEM, "title": "a\u2066b"}))
    error = refused(lambda: load_mapping(path, "信息文件"))
    assert str(error) == "字段 title：不能包含双向文字控制符（U+2066）"


def test_the_store_is_untouched_by_a_refused_file(
    tmp_path: Path, county: Desk, tables: Callable[[Store], dict[str, Any]]
) -> None:
    before = tables(county.store)
    for text in ('title = "a\\u0000b"', "title = " + "[" * 10_000 + "]" * 10_000):
        path = write(tmp_path, "item.toml", text)
        refused(lambda path=path: submit(county, read_item_file(path)))
    assert tables(county.store) == before
